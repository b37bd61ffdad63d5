import { describe, expect, it } from 'vitest';
import { PathShaper, parsePathShape } from '../src/path-shaper.ts';

/** The user-space path the long-haul and constrained-link tests put between a node and a viewer. */

/** A seeded generator, so the loss tests count exactly, run after run. */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

function packet(i: number, size = 1000): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(i, 0);
  return b;
}

describe('path shaper', () => {
  it('a bottleneck spreads a burst at its rate, in order, and drops what overflows its buffer', async () => {
    const got: { i: number; at: number }[] = [];
    const shaper = new PathShaper((p) => got.push({ i: p.readUInt32BE(0), at: performance.now() }));
    // 8 Mbit/s: a 1000-byte packet per ms; a 60 ms buffer.
    shaper.setShape({ rateKbps: 8000, queueMs: 60 });
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) shaper.push(packet(i));
    // The link drains while the loop pushes: one more packet fits per ms the loop took.
    const pushMs = performance.now() - t0;
    await expect.poll(() => got.length).toBe(shaper.stats.passed);
    expect(shaper.stats.passed).toBeGreaterThanOrEqual(60);
    expect(shaper.stats.passed).toBeLessThanOrEqual(62 + Math.ceil(pushMs));
    expect(shaper.stats.overflow).toBe(100 - shaper.stats.passed);
    expect(got.map((g) => g.i)).toEqual(Array.from({ length: got.length }, (_, i) => i));
    // The last one left when the link had sent them all: ~1 ms each.
    expect(got.at(-1)!.at - t0).toBeGreaterThanOrEqual(got.length - 2);
  });

  it('adds the delay to every packet', async () => {
    const sent = new Map<number, number>();
    const delays: number[] = [];
    const shaper = new PathShaper((p) => delays.push(performance.now() - sent.get(p.readUInt32BE(0))!));
    shaper.setShape({ delayMs: 40, jitterMs: 10 });
    for (let i = 0; i < 20; i++) {
      sent.set(i, performance.now());
      shaper.push(packet(i, 100));
    }
    await expect.poll(() => delays.length).toBe(20);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(39);
  });

  it('loses the configured share at random, and in bursts with the Gilbert–Elliott model', () => {
    const random = new PathShaper(() => undefined, lcg(7));
    random.setShape({ lossPct: 5 });
    for (let i = 0; i < 20_000; i++) random.push(packet(i, 10));
    expect(random.stats.lost / 20_000).toBeGreaterThan(0.04);
    expect(random.stats.lost / 20_000).toBeLessThan(0.06);

    const lostAt: boolean[] = [];
    let last = -1;
    const bursty = new PathShaper((p) => {
      const i = p.readUInt32BE(0);
      for (let j = last + 1; j < i; j++) lostAt[j] = true;
      lostAt[i] = false;
      last = i;
    }, lcg(11));
    // Enter the bad state 1 % of packets, leave it 20 %: mean burst 5 packets, ~4.8 % lost.
    bursty.setShape({ burst: { enterPct: 1, exitPct: 20 } });
    for (let i = 0; i < 20_000; i++) bursty.push(packet(i, 10));
    const share = bursty.stats.lost / 20_000;
    expect(share).toBeGreaterThan(0.03);
    expect(share).toBeLessThan(0.07);
    let runs = 0;
    for (let i = 0; i < lostAt.length; i++) if (lostAt[i] && !lostAt[i - 1]) runs++;
    expect(runs).toBeGreaterThan(100);
    const meanRun = bursty.stats.lost / runs;
    console.log(`bursty loss: ${(share * 100).toFixed(2)} % in ${runs} bursts, mean ${meanRun.toFixed(1)} packets`);
    expect(meanRun).toBeGreaterThan(3);
  });
});

describe('path shape validation', () => {
  it('says what is wrong with a bad shape, where it was set, before anything is shaped', () => {
    expect(parsePathShape({ delayMs: 100, burst: { enterPct: 0.5, exitPct: 25 } })).toEqual({
      delayMs: 100,
      burst: { enterPct: 0.5, exitPct: 25 },
    });
    expect(() => parsePathShape({ lossPct: 120 }, '--longhaul-patterns')).toThrow(
      /^--longhaul-patterns: .*lossPct is a percentage: 0 to 100/s,
    );
    expect(() => parsePathShape({ delayMs: -5 })).toThrow(/delayMs cannot be negative/);
    expect(() => parsePathShape({ burst: { enterPct: 1, exitPct: 0 } })).toThrow(/never left is a cut/);
    expect(() => parsePathShape({ queueMs: 60 })).toThrow(/queueMs is the bottleneck's buffer: it needs rateKbps/);
    expect(() => parsePathShape({ delay: 100 })).toThrow(/delay/); // an unknown key (a typo) is refused
    expect(() => parsePathShape({ lossPct: '2' })).toThrow(/lossPct is a percentage \(a number\)/);
    const shaper = new PathShaper(() => undefined);
    shaper.setShape({ delayMs: 10 });
    expect(() => shaper.setShape({ lossPct: -1 })).toThrow(/lossPct/);
    expect(shaper.shape).toEqual({ delayMs: 10 }); // the bad shape changed nothing
  });
});
