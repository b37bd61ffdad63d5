import { once } from 'node:events';
import type { NodeRecord } from '@matchmesh/protocol';
import type { Logger } from '../src/logger.ts';

/** A valid NodeRecord with overrides. */
export function nodeRecord(overrides: Partial<NodeRecord> = {}): NodeRecord {
  const now = Date.now();
  return {
    id: 'node-1',
    region: 'eu',
    roles: ['relay'],
    url: 'http://127.0.0.1:8080',
    mediaAddress: '127.0.0.1',
    capacity: { viewers: 100 },
    load: {
      viewers: 0,
      leaving: 0,
      streams: 0,
      bitrateOut: 0,
      workerCpu: 0,
      egressBytes: 0,
      egressCostUsd: 0,
      streamViewers: {},
      workers: [],
    },
    draining: false,
    startedAt: now,
    heartbeatAt: now,
    ...overrides,
  };
}

/** Poll `check` until it returns a truthy value or the deadline passes (for TTL expiry, which has no event). */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  timeoutMs = 5_000,
  everyMs = 10,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

/** Await an event with a timeout so a missing event fails the test instead of hanging it. */
export async function nextEvent<T extends unknown[]>(
  emitter: NodeJS.EventEmitter,
  event: string,
  timeoutMs = 10_000,
): Promise<T> {
  return (await once(emitter, event, { signal: AbortSignal.timeout(timeoutMs) })) as T;
}

/** A logger that records what it was told (pino call shapes). */
export function captureLogger() {
  const lines: { level: string; obj: unknown; msg: string | undefined }[] = [];
  const at =
    (level: string) =>
    (obj: unknown, msg?: string): void => {
      lines.push({ level, obj, msg: typeof obj === 'string' ? obj : msg });
    };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 'warn') };
}

let seq = 0;
/** A cluster name unique to this test, so tests sharing a Redis never interfere. */
export function uniqueCluster(prefix = 't'): string {
  seq += 1;
  return `${prefix}${process.pid}-${seq}`;
}
