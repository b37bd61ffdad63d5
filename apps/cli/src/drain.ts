import type { DrainRemaining, DrainStatus } from '@matchmesh/protocol';
import { type AdminClient, ApiError } from './api.ts';

export interface DrainCommand {
  nodeId: string;
  draining: boolean;
  /** Drain even the last serving relay of its region (the node answers 409 otherwise). */
  force: boolean;
  /** After the drain call, poll the node's drain status until it is empty (or `waitMs` passes). */
  wait: boolean;
  waitMs: number;
  pollMs: number;
  json: boolean;
}

/** Exit code of `drain --wait` when the node was still holding something at the deadline. */
export const EXIT_DRAIN_TIMEOUT = 1;

/** Returned instead of thrown: the CLI prints it and exits 1 (the drain itself went through). */
export class DrainTimeout extends Error {
  override readonly name = 'DrainTimeout';
  constructor(readonly status: DrainStatus | undefined) {
    super(
      `drain: ${status?.id ?? 'node'} still holds ${status ? describeRemaining(status.remaining) : 'unknown'} at the deadline`,
    );
  }
}

export function describeRemaining(r: DrainRemaining): string {
  const parts = [
    [r.webrtcViewers, 'WebRTC viewer'],
    [r.whepViewers, 'WHEP viewer'],
    [r.hlsPlayers, 'HLS player'],
    [r.downstreamRelays, 'downstream relay'],
    [r.publishers, 'publisher'],
  ] as const;
  const left = parts.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}${n === 1 ? '' : 's'}`);
  return left.length > 0 ? left.join(', ') : 'nothing';
}

/**
 * `matchmesh drain <node> [--force] [--wait] [--timeout 5m]`: drain (or undo),
 * then with --wait poll `GET /api/v1/nodes/:id/drain` until the node reports
 * `empty` — what a k8s preStop hook runs before the process is stopped.
 * Transient failures while polling (the node busy, Redis away: 5xx, no answer)
 * are retried until the deadline; 404 (the node is not registered) ends it.
 */
export async function runDrain(
  api: AdminClient,
  command: DrainCommand,
  stdout: (text: string) => void,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<void> {
  const res = await api.drain(command.nodeId, command.draining, command.force);
  if (!command.wait || !command.draining) {
    stdout(
      command.json
        ? `${JSON.stringify(res.raw, null, 2)}\n`
        : `node ${res.value.id} ${res.value.draining ? 'is draining: no new viewers, current ones are told to move' : 'is no longer draining'}\n`,
    );
    return;
  }
  if (!command.json) stdout(`node ${res.value.id} is draining; waiting until it holds nothing\n`);
  const deadline = Date.now() + command.waitMs;
  let last: DrainStatus | undefined;
  let lastLine = '';
  for (;;) {
    try {
      last = (await api.drainStatus(command.nodeId)).value;
      if (last.empty) {
        stdout(command.json ? `${JSON.stringify(last, null, 2)}\n` : `node ${last.id} is empty: it may stop\n`);
        return;
      }
      const line = `  still here: ${describeRemaining(last.remaining)}`;
      if (!command.json && line !== lastLine) stdout(`${line}\n`);
      lastLine = line;
    } catch (err) {
      // Not found is final; anything else (no answer, 5xx) may pass: keep polling until the deadline.
      if (err instanceof ApiError && err.status === 404) throw err;
      if (!(err instanceof ApiError)) throw err;
    }
    if (Date.now() + command.pollMs > deadline) {
      if (command.json && last) stdout(`${JSON.stringify(last, null, 2)}\n`);
      throw new DrainTimeout(last);
    }
    await sleep(command.pollMs);
  }
}
