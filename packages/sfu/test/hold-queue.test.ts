import { describe, expect, it } from 'vitest';
import { type HoldClock, HoldQueue } from '../src/delay/HoldQueue.ts';

/** A clock the test moves by hand; at most one timer is pending at a time, which the tests also check. */
class FakeClock implements HoldClock {
  t = 0;
  timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 0;
  armed = 0;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    this.armed++;
    const id = this.#next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  /** Move to `to`, firing due timers in order (a timer set while firing fires too if due). */
  advance(to: number): void {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const due = this.timers[0];
      if (!due || due.at > to) break;
      this.timers.shift();
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = to;
  }
}

function line(holdMs: number, options = {}) {
  const clock = new FakeClock();
  const out: { item: number; at: number }[] = [];
  const queue = new HoldQueue<number>((item) => out.push({ item, at: clock.now() }), holdMs, options, clock);
  return { clock, out, queue };
}

describe('HoldQueue (a WHEP language delay line)', () => {
  it('releases each item its hold after arrival, in arrival order, on one timer', () => {
    const { clock, out, queue } = line(300);
    for (let i = 0; i < 50; i++) {
      clock.advance(i * 10);
      queue.push(i);
      // Never more than one timer pending, however many items are held.
      expect(clock.timers.length).toBeLessThanOrEqual(1);
    }
    expect(out).toEqual(out.filter((o) => o.at >= 300));
    clock.advance(2_000);
    expect(out.map((o) => o.item)).toEqual([...Array(50).keys()]);
    for (const o of out) expect(o.at).toBe(o.item * 10 + 300);
    expect(queue.stats).toMatchObject({ held: 0, released: 50, dropped: 0 });
  });

  it('passes items straight through with no hold (no timer)', () => {
    const { clock, out, queue } = line(0);
    queue.push(1);
    queue.push(2);
    expect(out).toEqual([
      { item: 1, at: 0 },
      { item: 2, at: 0 },
    ]);
    expect(clock.armed).toBe(0);
  });

  it('follows a larger hold at the slew rate, keeping order and spacing growth smooth', () => {
    const { clock, out, queue } = line(100, { slewMsPerSecond: 50 });
    queue.setTarget(300);
    // 20 ms apart for 6 s: the hold grows by 1 ms per packet until it reaches 300 ms after 4 s.
    for (let i = 0; i < 300; i++) {
      clock.advance(i * 20);
      queue.push(i);
    }
    clock.advance(10_000);
    const holds = out.map((o) => o.at - o.item * 20);
    expect(out.map((o) => o.item)).toEqual([...Array(300).keys()]);
    expect(holds[0]).toBe(100);
    expect(holds.at(-1)).toBe(300);
    // Reaches the target after (300 − 100) / 50 = 4 s, and never steps by more than the slew allows.
    expect(holds[199]).toBeCloseTo(299, 5);
    for (let i = 1; i < holds.length; i++) expect(holds[i]! - holds[i - 1]!).toBeLessThanOrEqual(1 + 1e-9);
  });

  it('follows a smaller hold without releasing out of order or in a burst', () => {
    const { clock, out, queue } = line(400, { slewMsPerSecond: 50 });
    queue.setTarget(0);
    for (let i = 0; i < 500; i++) {
      clock.advance(i * 20);
      queue.push(i);
    }
    clock.advance(20_000);
    expect(out.map((o) => o.item)).toEqual([...Array(500).keys()]);
    const holds = out.map((o) => o.at - o.item * 20);
    expect(holds.at(-1)).toBe(0);
    // Releases stay spaced (≥ 19 ms for items 20 ms apart): the hold shrinks by 1 ms a packet, never at once.
    for (let i = 1; i < out.length; i++) expect(out[i]!.at - out[i - 1]!.at).toBeGreaterThanOrEqual(19 - 1e-9);
  });

  it('releases nothing after close and drops what it held', () => {
    const { clock, out, queue } = line(200);
    queue.push(1);
    clock.advance(100);
    queue.push(2);
    queue.close();
    clock.advance(1_000);
    queue.push(3);
    expect(out).toEqual([]);
    expect(clock.timers).toEqual([]);
  });

  it('bounds what it holds and the hold itself', () => {
    const { clock, out, queue } = line(60_000, { maxHoldMs: 5_000, maxItems: 3 });
    for (let i = 0; i < 5; i++) queue.push(i);
    expect(queue.stats).toMatchObject({ held: 3, dropped: 2, holdMs: 5_000 });
    clock.advance(5_000);
    expect(out.map((o) => o.item)).toEqual([0, 1, 2]);
  });
});
