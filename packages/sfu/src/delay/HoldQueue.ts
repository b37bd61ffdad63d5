/**
 * A FIFO that releases each item a hold after it arrived, on ONE timer (armed for the head only, never a
 * timer per item): the delay line of a WHEP language's program (DelayedProgram). Pure: the clock and the
 * timer are injected, so unit tests drive it without a worker or real time.
 *
 * When the wanted hold moves, the hold applied to arriving items follows it smoothly, at most
 * `slewMsPerSecond` per second of wall time (a time stretch, not a jump): a jump up would freeze the
 * player for the step, a jump down would hand it a burst of the step's worth of packets at once. At
 * 200 ms per second (20 %) a usual move (D is republished when it moves ≥ 15 ms) is followed within a
 * tenth of a second and a commentator's big one (hundreds of ms) within one or two seconds, while the
 * player's jitter buffers stretch or compress through it (NetEq's time stretching; video frames come a
 * fifth further apart or closer while it lasts). Release order is arrival order: a hold shrinking slower
 * than time passes cannot put an item before an earlier one, and the release time
 * is clamped to the previous item's anyway.
 */

export interface HoldClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const realClock: HoldClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface HoldOptions {
  /** How fast the applied hold follows a new target (ms of hold per second of wall time). */
  slewMsPerSecond: number;
  /** The longest hold (a commentator's view delay is at most 4 s, the voice path a few hundred ms). */
  maxHoldMs: number;
  /** Items held at most; past it an arriving item is dropped (counted), the line never grows unbounded. */
  maxItems: number;
}

export const DEFAULT_HOLD_OPTIONS: HoldOptions = { slewMsPerSecond: 200, maxHoldMs: 5_000, maxItems: 20_000 };

/** An item releases within this of its due time (the timer's own granularity). */
const DUE_SLACK_MS = 0.5;

export interface HoldStats {
  /** The hold applied to the item that arrived last (ms). */
  holdMs: number;
  targetMs: number;
  held: number;
  released: number;
  dropped: number;
}

export class HoldQueue<T> {
  readonly #release: (item: T) => void;
  readonly #options: HoldOptions;
  readonly #clock: HoldClock;
  /** Items in arrival order with their release time; `#head` indexes the first unreleased (no shift per item). */
  #items: { item: T; at: number }[] = [];
  #head = 0;
  #targetMs: number;
  #holdMs: number;
  /** When #holdMs was last moved toward the target. */
  #slewedAt: number;
  #lastReleaseAt = Number.NEGATIVE_INFINITY;
  #timer: unknown;
  #timerAt = Number.POSITIVE_INFINITY;
  #released = 0;
  #dropped = 0;
  #closed = false;

  /** `holdMs`: the hold from the first item on (no slew: nothing was sent yet). */
  constructor(
    release: (item: T) => void,
    holdMs: number,
    options: Partial<HoldOptions> = {},
    clock: HoldClock = realClock,
  ) {
    this.#release = release;
    this.#options = { ...DEFAULT_HOLD_OPTIONS, ...options };
    this.#clock = clock;
    this.#targetMs = this.#clamp(holdMs);
    this.#holdMs = this.#targetMs;
    this.#slewedAt = clock.now();
  }

  get stats(): HoldStats {
    return {
      holdMs: this.#holdMs,
      targetMs: this.#targetMs,
      held: this.#items.length - this.#head,
      released: this.#released,
      dropped: this.#dropped,
    };
  }

  /** A new wanted hold: the applied one moves toward it at the slew rate from now on. */
  setTarget(holdMs: number): void {
    this.#slew(this.#clock.now());
    this.#targetMs = this.#clamp(holdMs);
  }

  push(item: T): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    this.#slew(now);
    const at = Math.max(now + this.#holdMs, this.#lastReleaseAt);
    this.#lastReleaseAt = at;
    const empty = this.#head === this.#items.length;
    // Nothing held and nothing to hold: straight through (no hold costs no timer).
    if (empty && at <= now + DUE_SLACK_MS) {
      this.#released++;
      this.#release(item);
      return;
    }
    if (this.#items.length - this.#head >= this.#options.maxItems) {
      this.#dropped++;
      return;
    }
    this.#items.push({ item, at });
    if (empty) this.#arm(at, now);
  }

  /** Drop what is held and stop the timer: nothing is released after close. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimer(this.#timer);
    this.#items = [];
    this.#head = 0;
  }

  #clamp(ms: number): number {
    return Number.isFinite(ms) ? Math.min(Math.max(0, ms), this.#options.maxHoldMs) : 0;
  }

  #slew(now: number): void {
    const step = (this.#options.slewMsPerSecond * (now - this.#slewedAt)) / 1000;
    this.#slewedAt = now;
    const gap = this.#targetMs - this.#holdMs;
    this.#holdMs = Math.abs(gap) <= step ? this.#targetMs : this.#holdMs + Math.sign(gap) * step;
  }

  #arm(at: number, now: number): void {
    this.#timerAt = at;
    this.#timer = this.#clock.setTimer(() => this.#fire(), Math.max(0, at - now));
  }

  #fire(): void {
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.#closed) return;
    const now = this.#clock.now();
    while (this.#head < this.#items.length && this.#items[this.#head]!.at <= now + DUE_SLACK_MS) {
      const { item } = this.#items[this.#head]!;
      this.#head++;
      this.#released++;
      this.#release(item);
      if (this.#closed) return;
    }
    // Compact now and then instead of shifting per item.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (this.#head < this.#items.length) this.#arm(this.#items[this.#head]!.at, now);
  }

  /** When the timer fires next (tests). */
  get nextReleaseAt(): number {
    return this.#timerAt;
  }
}
