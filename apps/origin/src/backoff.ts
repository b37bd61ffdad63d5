/**
 * Jittered exponential backoff. The first retry comes fast (a blip should
 * cost a broadcast a fraction of a second, not seconds); the jitter keeps a
 * fleet of origins that lost the same ingest from reconnecting in lockstep.
 *
 * Delay for attempt k (0-based) is uniformly random in [d/2, d] with
 * d = min(cap, base * 2^k) ("equal jitter": never less than half the
 * nominal delay, so the exponential growth still bites).
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 200,
    private readonly capMs = 5000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const nominal = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(nominal / 2 + (this.random() * nominal) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** setTimeout that an AbortSignal can cut short (resolves, never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
