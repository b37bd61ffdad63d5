/**
 * The mixer's lag, measured live: how long a voice takes from being handed to
 * GStreamer (VoiceHold) to coming out in the mixed track (the mix's packets,
 * tapped beside the PlainTransport) — its jitter buffer, audiomixer, opusenc
 * and the scheduling of all three, which grows under CPU load.
 *
 * No decoding: Opus frame sizes follow the voice's activity (silence frames
 * are a few bytes, speech tens to hundreds; the mix's encoder does the same at
 * a higher floor). Both are sampled as step functions on one clock, and the
 * lag is the shift of the mix's series that correlates best with the voice's
 * (Pearson, over a sliding window): a pure-silence voice gives no estimate.
 */

export interface LagEstimate {
  lagMs: number;
  /** Pearson correlation at that lag (−1…1): how clearly the voice shows in the mix. */
  correlation: number;
}

export interface LagOptions {
  /** The voice's span correlated (ms). */
  windowMs: number;
  /** Largest lag looked for (ms). */
  maxLagMs: number;
  /** Sampling step of both series (ms): the estimate's resolution before interpolation. */
  stepMs: number;
  /** Below this correlation the peak is noise (no estimate). */
  minCorrelation: number;
}

export const DEFAULT_LAG_OPTIONS: LagOptions = { windowMs: 6000, maxLagMs: 600, stepMs: 5, minCorrelation: 0.4 };

/** A packet older than this is no longer the series' value (a DTX gap, a stall): 0 from then on. */
const STALE_MS = 60;
/** Below half an Opus frame, an estimate is the starved node's artefact, not the mixer (ms). */
export const MIN_LAG_MS = 10;

/** Packets of one side, in arrival order. */
class Series {
  readonly at: number[] = [];
  readonly size: number[] = [];

  add(at: number, size: number): void {
    this.at.push(at);
    this.size.push(size);
  }

  prune(before: number): void {
    let n = 0;
    while (n < this.at.length && this.at[n]! < before) n++;
    if (n > 0) {
      this.at.splice(0, n);
      this.size.splice(0, n);
    }
  }

  /** The step function sampled at from, from + step, … (count samples). */
  sample(from: number, step: number, count: number): Float64Array {
    const out = new Float64Array(count);
    let i = 0;
    for (let k = 0; k < count; k++) {
      const t = from + k * step;
      while (i < this.at.length && this.at[i]! <= t) i++;
      const last = i - 1;
      out[k] = last >= 0 && t - this.at[last]! <= STALE_MS ? this.size[last]! : 0;
    }
    return out;
  }
}

export class LagEstimator {
  readonly #o: LagOptions;
  readonly #input = new Series();
  readonly #output = new Series();

  constructor(options: Partial<LagOptions> = {}) {
    this.#o = { ...DEFAULT_LAG_OPTIONS, ...options };
  }

  /** A voice packet handed to the mixer (ms on the caller's clock; Opus payload bytes). */
  input(at: number, bytes: number): void {
    this.#input.add(at, bytes);
  }

  /** A mixed packet out of the mixer. */
  output(at: number, bytes: number): void {
    this.#output.add(at, bytes);
  }

  /** The lag over the window ending at `now`, once the voice has shown activity in it. */
  estimate(now: number): LagEstimate | undefined {
    const { windowMs, maxLagMs, stepMs, minCorrelation } = this.#o;
    const from = now - maxLagMs - windowMs;
    this.#input.prune(from - STALE_MS);
    this.#output.prune(from - STALE_MS);
    const n = Math.floor(windowMs / stepMs);
    const lags = Math.floor(maxLagMs / stepMs) + 1;
    const x = this.#input.sample(from, stepMs, n);
    const y = this.#output.sample(from, stepMs, n + lags - 1);
    const xs = standardise(x);
    if (!xs) return undefined;
    const r = new Float64Array(lags);
    let best = -1;
    for (let j = 0; j < lags; j++) {
      r[j] = correlate(xs, y, j, n);
      if (best < 0 || r[j]! > r[best]!) best = j;
    }
    const peak = r[best]!;
    if (!(peak >= minCorrelation)) return undefined;
    // A peak at either end of the range is no peak: nothing comes out of the mixer as it goes in (one Opus
    // frame at least), and 0 is what a starved node reads when it stamps both sides in one wake-up (seen in
    // the alignment e2e at load 10–15).
    if (best === 0 || best === lags - 1) return undefined;
    // Parabolic interpolation between the peak's neighbours: below the sampling step.
    let shift = 0;
    const a = r[best - 1]!;
    const c = r[best + 1]!;
    const denom = a - 2 * peak + c;
    if (denom < 0) shift = (0.5 * (a - c)) / denom;
    const lagMs = (best + shift) * stepMs;
    // Near 0 is the same artefact one step from the end (a CI run's booth read 4 ms under load): the
    // mixer's least, every slot filled, is 20–26 ms (its Opus frame), so half a frame is no lag.
    if (lagMs < MIN_LAG_MS) return undefined;
    return { lagMs, correlation: peak };
  }
}

/** x − mean, scaled to unit norm; undefined when it does not vary (silence only). */
function standardise(x: Float64Array): Float64Array | undefined {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let ss = 0;
  for (const v of x) ss += (v - mean) ** 2;
  // Less than a byte of spread per sample: no activity to find in the mix.
  if (ss / x.length < 1) return undefined;
  const norm = Math.sqrt(ss);
  return x.map((v) => (v - mean) / norm);
}

/** Pearson correlation of the standardised xs with y[offset … offset + n). */
function correlate(xs: Float64Array, y: Float64Array, offset: number, n: number): number {
  let mean = 0;
  for (let k = 0; k < n; k++) mean += y[offset + k]!;
  mean /= n;
  let dot = 0;
  let ss = 0;
  for (let k = 0; k < n; k++) {
    const d = y[offset + k]! - mean;
    dot += xs[k]! * d;
    ss += d * d;
  }
  return ss > 0 ? dot / Math.sqrt(ss) : 0;
}
