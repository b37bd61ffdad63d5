import { describe, expect, it } from 'vitest';
import { LagEstimator } from '../src/commentary/mixerLag.ts';

/** A deterministic pseudo-random source (tests must not flake on Math.random). */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

/**
 * Speech-like activity: talk spurts of 100–700 ms between pauses of 100–900 ms, as Opus frame sizes every
 * 20 ms (speech 60–160 bytes, silence 3) — `talking(t)` says whether the voice speaks at t (ms).
 */
function voice(seed: number, ms: number): (t: number) => boolean {
  const rnd = lcg(seed);
  const spurts: [number, number][] = [];
  for (let t = 200 * rnd(); t < ms; ) {
    const len = 100 + 600 * rnd();
    spurts.push([t, t + len]);
    t += len + 100 + 800 * rnd();
  }
  return (t) => spurts.some(([a, b]) => t >= a && t < b);
}

/**
 * Feeds a voice (one packet per 20 ms, with up to `jitterMs` of arrival jitter) and the mix, which carries
 * that voice `lagMs` later plus `others` (other commentators) and a floor of 55 bytes (the mix encoder's
 * silence); returns the estimate at the end.
 */
function simulate(o: { lagMs: number; seconds: number; jitterMs: number; others?: ((t: number) => boolean)[] }) {
  const e = new LagEstimator();
  const ms = o.seconds * 1000;
  const talks = voice(1, ms);
  const rnd = lcg(7);
  for (let t = 0; t < ms; t += 20) {
    const size = talks(t) ? 60 + Math.floor(100 * rnd()) : 3;
    e.input(t + o.jitterMs * rnd(), size);
    const src = t - o.lagMs;
    const loud = (src >= 0 && talks(src) ? 1 : 0) + (o.others ?? []).filter((other) => other(t)).length;
    e.output(t + o.jitterMs * rnd(), 55 + loud * (40 + Math.floor(60 * rnd())));
  }
  return e.estimate(ms);
}

describe('LagEstimator (the mixer lag from Opus frame sizes)', () => {
  // Both sides are 20 ms frames: a lag between two frame boundaries is known to half a frame.
  it.each([25, 70, 180, 420])('finds a %i ms lag within half a frame', (lagMs) => {
    const r = simulate({ lagMs, seconds: 8, jitterMs: 2 });
    expect(r).toBeDefined();
    expect(Math.abs(r!.lagMs - lagMs)).toBeLessThanOrEqual(10);
    expect(r!.correlation).toBeGreaterThan(0.6);
  });

  it('finds it with another commentator talking in the same mix and 8 ms of arrival jitter', () => {
    const r = simulate({ lagMs: 90, seconds: 8, jitterMs: 8, others: [voice(99, 8000)] });
    expect(r).toBeDefined();
    expect(Math.abs(r!.lagMs - 90)).toBeLessThanOrEqual(10);
  });

  it('gives nothing for a peak at the end of the range (a mix as early as its voice: a starved node)', () => {
    const r = simulate({ lagMs: 0, seconds: 8, jitterMs: 0 });
    expect(r).toBeUndefined();
  });

  it('gives nothing for a lag under half an Opus frame (the same artefact one step from the end)', () => {
    const r = simulate({ lagMs: 5, seconds: 8, jitterMs: 0 });
    expect(r).toBeUndefined();
  });

  it('gives nothing for a silent voice, nor for a mix that does not carry it', () => {
    const silent = new LagEstimator();
    for (let t = 0; t < 8000; t += 20) {
      silent.input(t, 3);
      silent.output(t, 55 + (t % 400 < 200 ? 80 : 0));
    }
    expect(silent.estimate(8000)).toBeUndefined();
    // The mix carries another voice only.
    const unrelated = new LagEstimator();
    const a = voice(11, 8000);
    const b = voice(12, 8000);
    for (let t = 0; t < 8000; t += 20) {
      unrelated.input(t, a(t) ? 120 : 3);
      unrelated.output(t, b(t) ? 140 : 55);
    }
    const r = unrelated.estimate(8000);
    expect(r === undefined || r.correlation < 0.4).toBe(true);
  });
});
