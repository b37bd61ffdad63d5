/**
 * Exponential backoff, shared by the player (packages/client) and the origin
 * agent (apps/origin), so both grow their delays the same way and honour the
 * same two knobs: the first delay and the cap.
 *
 * The nominal delay for attempt k (0-based) is d = min(maxDelayMs,
 * initialDelayMs * 2^k). With `jitter: 'equal'` the delay is uniformly random
 * in [d/2, d] ("equal jitter": never less than half the nominal delay, so the
 * growth still bites, while a fleet that lost the same peer does not retry in
 * lockstep); without jitter it is d itself (the player: one viewer, and its
 * reasons show the delay).
 */
export type BackoffOptions = {
  initialDelayMs: number;
  maxDelayMs: number;
  jitter?: 'none' | 'equal';
  /** [0, 1) source for the jitter (tests pin it). */
  random?: () => number;
};

/** The nominal (unjittered) delay of attempt `attempt` (0-based). */
export function backoffDelay(options: Pick<BackoffOptions, 'initialDelayMs' | 'maxDelayMs'>, attempt: number): number {
  // The exponent is bounded so a long outage cannot overflow to Infinity before the cap applies.
  return Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(Math.max(0, attempt), 30));
}

/** A counter of attempts over backoffDelay: next() gives the next delay, reset() starts over. */
export class Backoff {
  readonly options: Readonly<BackoffOptions>;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    this.options = { ...options };
  }

  /** The delay before the next attempt; counts the attempt. */
  next(): number {
    const delay = this.delay(this.#attempt);
    this.#attempt++;
    return delay;
  }

  /** The delay of attempt `attempt` (0-based), jittered as configured; does not count. */
  delay(attempt: number): number {
    const nominal = backoffDelay(this.options, attempt);
    if (this.options.jitter !== 'equal') return nominal;
    const random = this.options.random ?? Math.random;
    return Math.round(nominal / 2 + (random() * nominal) / 2);
  }

  reset(): void {
    this.#attempt = 0;
  }

  /** Attempts counted since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }
}
