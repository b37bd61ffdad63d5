import { Backoff, backoffDelay } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';

// The one backoff of the player (no jitter) and the origin agent (equal jitter).
describe('backoffDelay', () => {
  it('doubles from the first delay up to the cap', () => {
    const options = { initialDelayMs: 500, maxDelayMs: 10_000 };
    expect([0, 1, 2, 3, 4, 5, 6].map((k) => backoffDelay(options, k))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000, 10_000,
    ]);
  });

  it('stays at the cap for very large attempts (no overflow to Infinity)', () => {
    expect(backoffDelay({ initialDelayMs: 1000, maxDelayMs: 8000 }, 10_000)).toBe(8000);
  });

  it('treats a negative attempt as the first', () => {
    expect(backoffDelay({ initialDelayMs: 30, maxDelayMs: 100 }, -1)).toBe(30);
  });
});

describe('Backoff', () => {
  it('without jitter gives the nominal delays and counts attempts', () => {
    const backoff = new Backoff({ initialDelayMs: 20, maxDelayMs: 50 });
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([20, 40, 50, 50]);
    expect(backoff.attempts).toBe(4);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(20);
  });

  it('with equal jitter stays within [d/2, d] of the nominal delay', () => {
    const low = new Backoff({ initialDelayMs: 200, maxDelayMs: 5000, jitter: 'equal', random: () => 0 });
    const high = new Backoff({ initialDelayMs: 200, maxDelayMs: 5000, jitter: 'equal', random: () => 0.999_999 });
    expect([low.next(), low.next(), low.next()]).toEqual([100, 200, 400]);
    expect([high.next(), high.next(), high.next()]).toEqual([200, 400, 800]);
    expect(low.delay(10)).toBe(2500);
    expect(high.delay(10)).toBe(5000);
  });

  it('delay() looks ahead without counting', () => {
    const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000 });
    expect(backoff.delay(3)).toBe(800);
    expect(backoff.attempts).toBe(0);
  });
});
