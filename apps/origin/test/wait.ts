import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';

/**
 * Resolve when `predicate()` holds, re-checking on every `event` (no polling,
 * no sleeps). Rejects with `what` after `timeoutMs`.
 */
export function until(
  emitter: EventEmitter,
  event: string,
  predicate: () => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  if (predicate()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!predicate()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      emitter.off(event, check);
    };
    emitter.on(event, check);
  });
}

/** The next emission of `event`, with a timeout. */
export function next<T extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    };
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`));
    }, timeoutMs);
    emitter.once(event, on);
  });
}

/** True while a process with this pid exists (and is not a zombie we could still signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A reaped-later zombie still answers kill(0); look at its state.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}
