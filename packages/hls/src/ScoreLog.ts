import type { HlsTimelineAnchor, ScoreUpdate } from '@matchmesh/protocol';

/**
 * Score updates and timeline anchors of an HLS stream's rewind window. A
 * rewinding viewer needs the update that was in effect at the oldest frame
 * still in the window, so pruning keeps the last update at or before it.
 */
export class ScoreLog {
  readonly #updates: ScoreUpdate[] = [];
  /** Waiters for an update newer than a seq (blocking scores.json). */
  readonly #waiters = new Set<{ since: number; done: () => void }>();
  readonly #anchors: HlsTimelineAnchor[] = [];
  readonly #maxUpdates: number;

  constructor(maxUpdates = 50_000) {
    this.#maxUpdates = maxUpdates;
  }

  add(update: ScoreUpdate): void {
    const last = this.#updates.at(-1);
    if (last && update.seq <= last.seq) return;
    this.#updates.push(update);
    if (this.#updates.length > this.#maxUpdates) this.#updates.shift();
    for (const waiter of [...this.#waiters]) if (update.seq > waiter.since) waiter.done();
  }

  /** Resolves once an update with seq > `since` exists, after `timeoutMs`, or when `abort` fires. */
  waitForNewer(since: number, timeoutMs: number, abort?: AbortSignal): Promise<void> {
    if (this.latestSeq > since || abort?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        abort?.removeEventListener('abort', done);
        resolve();
      };
      const waiter = { since, done };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(waiter);
      abort?.addEventListener('abort', done);
    });
  }

  /** Releases every waiting request (the stream's packaging stopped). */
  releaseWaiters(): void {
    for (const waiter of [...this.#waiters]) waiter.done();
  }

  addAnchor(anchor: HlsTimelineAnchor): void {
    this.#anchors.push(anchor);
  }

  get latestSeq(): number {
    return this.#updates.at(-1)?.seq ?? 0;
  }

  get anchors(): readonly HlsTimelineAnchor[] {
    return this.#anchors;
  }

  /**
   * Forget what is older than the window: anchors before the one covering
   * `oldestMsn`, updates before the one in effect at `oldestMediaTime`.
   */
  prune(oldestMsn: number, oldestMediaTime: number): void {
    while (this.#anchors.length > 1 && this.#anchors[1]!.msn <= oldestMsn) this.#anchors.shift();
    while (this.#updates.length > 1 && this.#updates[1]!.mediaTime <= oldestMediaTime) this.#updates.shift();
  }

  /** Updates with seq > since; the first (in effect at the window start) is always included. */
  since(since = 0): ScoreUpdate[] {
    return this.#updates.filter((u, i) => i === 0 || u.seq > since);
  }
}
