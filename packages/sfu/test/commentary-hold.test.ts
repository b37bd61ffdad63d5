import { describe, expect, it } from 'vitest';
import { FORCE_AFTER_MS, HoldRewriter } from '../src/commentary/holdRewriter.ts';

/** An RTP packet of `payload` bytes (Opus: 3 = a silence frame, 120 = speech). */
function rtp(seq: number, ts: number, payload: number): Buffer {
  const p = Buffer.alloc(12 + payload);
  p[0] = 0x80;
  p[1] = 111;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(ts >>> 0, 4);
  return p;
}

interface Out {
  seq: number;
  ts: number;
  /** When the packet is forwarded (arrival + hold). */
  at: number;
  /** Opus payload bytes (3: a silence frame). */
  bytes: number;
}

/** Feeds 20 ms packets (arrival k·20 ms) with the given payload sizes; returns what is forwarded. */
function run(h: HoldRewriter, sizes: number[], first = 0, seq0 = 65530, ts0 = 2 ** 32 - 1920): Out[] {
  const out: Out[] = [];
  sizes.forEach((size, i) => {
    const k = first + i;
    const p = rtp(seq0 + k, ts0 + k * 960, size);
    for (const f of h.accept(p, k * 20))
      out.push({
        seq: f.packet.readUInt16BE(2),
        ts: f.packet.readUInt32BE(4),
        at: k * 20 + f.holdMs,
        bytes: f.packet.length - 12,
      });
  });
  return out;
}

/** What GStreamer's jitter buffer checks: sequence numbers without holes, and RTP time − forward time constant. */
function expectSteady(out: Out[]): void {
  for (let i = 1; i < out.length; i++) {
    expect((out[i]!.seq - out[i - 1]!.seq) & 0xffff).toBe(1);
    const rtpMs = (((out[i]!.ts - out[0]!.ts) | 0) / 48) as number;
    expect(rtpMs - (out[i]!.at - out[0]!.at)).toBe(0);
  }
}

describe('HoldRewriter (a voice held before the mix)', () => {
  it('holds from the first packet, without rewriting anything while the hold stands', () => {
    const h = new HoldRewriter();
    h.setTarget(100, 0);
    const out = run(h, [3, 120, 120, 3]);
    expect(out.map((o) => o.at)).toEqual([100, 120, 140, 160]);
    expect(out[0]!.seq).toBe(65530);
    expect(out[0]!.ts).toBe(2 ** 32 - 1920);
    expectSteady(out);
  });

  it('grows at the next quiet packet by inserting silence frames: gapless, nothing dropped', () => {
    const h = new HoldRewriter();
    const before = run(h, [3, 3]);
    h.setTarget(160, 40);
    // Speech first: the change waits for silence.
    const after = run(h, [120, 120, 3, 3], 2);
    expect(h.holdMs).toBe(160);
    // 8 silence frames where the held packets would have gone, then the voice 160 ms later.
    expect(after.map((o) => o.at)).toEqual([40, 60, ...Array.from({ length: 8 }, (_, k) => 80 + 20 * k), 240, 260]);
    expect(after.slice(2, 10).every((o) => o.bytes === 3)).toBe(true);
    expectSteady([...before, ...after]);
  });

  it('shrinks by dropping quiet frames, one 20 ms frame each, speech untouched, the stream continuous', () => {
    const h = new HoldRewriter();
    h.setTarget(60, 0);
    const before = run(h, [3, 120]);
    h.setTarget(0, 40);
    const after = run(h, [120, 3, 3, 3, 3, 120], 2);
    expect(h.holdMs).toBe(0);
    // Three quiet frames dropped (60 ms), then forwarded as they come.
    expect(after.map((o) => o.at)).toEqual([40 + 60, 120, 140]);
    expectSteady([...before, ...after]);
  });

  it('takes a DTX gap for free when shrinking', () => {
    const h = new HoldRewriter();
    h.setTarget(100, 0);
    const before = run(h, [120, 120]);
    h.setTarget(0, 40);
    // 400 ms of DTX (no packets), then speech again: the hold is gone without dropping anything.
    const after = run(h, [120, 120], 22);
    expect(after.map((o) => o.at)).toEqual([440, 460]);
    expect(h.holdMs).toBe(0);
    expect([...before, ...after].map((o) => (o.seq - 65530) & 0xffff)).toEqual([0, 1, 22, 23]);
  });

  it('applies a change within half a frame (whole frames only) and forces it after FORCE_AFTER_MS of speech', () => {
    const h = new HoldRewriter();
    run(h, [3]);
    h.setTarget(9, 0);
    run(h, [3], 1);
    expect(h.holdMs).toBe(0);
    h.setTarget(40, 20);
    const frames = Math.ceil(FORCE_AFTER_MS / 20) + 2;
    const out = run(h, Array(frames).fill(120), 2);
    expect(h.holdMs).toBe(40);
    expectSteady(out.slice(out.length - 2));
  });
});
