import { describe, expect, it } from 'vitest';
import { isKeyFrameStart, rewrite, seqDiff, seqOf, tsDiff, tsOf } from '../src/stable/rtp.ts';
import { Splicer } from '../src/stable/Splicer.ts';

const RATE = 90_000;
const TICKS_PER_MS = RATE / 1000;

/** Feed `n` packets of a source, one per 10 ms, 3000 ticks per frame of 3 packets; returns outputs. */
function feed(s: Splicer, from: { seq: number; ts: number; at: number }, n: number): { seq: number; ts: number }[] {
  const out: { seq: number; ts: number }[] = [];
  for (let i = 0; i < n; i++) {
    const seq = (from.seq + i) % 0x10000;
    const ts = (from.ts + Math.floor(i / 3) * 3000) % 2 ** 32;
    const o = s.map(seq, ts, from.at + i * 10);
    if (o) out.push(o);
  }
  return out;
}

describe('Splicer', () => {
  it('passes the first source through unchanged', () => {
    const s = new Splicer(RATE);
    s.splice(1000, 500_000, 0);
    const out = feed(s, { seq: 1000, ts: 500_000, at: 0 }, 6);
    expect(out.map((o) => o.seq)).toEqual([1000, 1001, 1002, 1003, 1004, 1005]);
    expect(out.map((o) => o.ts)).toEqual([500_000, 500_000, 500_000, 503_000, 503_000, 503_000]);
  });

  it('continues seq by one and ts by the wall time elapsed when the new source is another timeline', () => {
    const s = new Splicer(RATE);
    s.splice(1000, 500_000, 0);
    feed(s, { seq: 1000, ts: 500_000, at: 0 }, 30); // last out: seq 1029 at t=290, ts 527000
    const last = s.lastOutput;
    expect(last.seq).toBe(1029);
    // 700 ms later a new session starts from random bases.
    const at = last.at + 700;
    const cost = s.splice(40_000, 7_777_777, at);
    expect(cost.rebased).toBe(true);
    expect(Math.round(cost.gapMs)).toBe(700);
    const out = feed(s, { seq: 40_000, ts: 7_777_777, at }, 4);
    expect(out[0]!.seq).toBe(1030);
    expect(out.map((o) => o.seq)).toEqual([1030, 1031, 1032, 1033]);
    expect(out[0]!.ts).toBe(last.ts + 700 * TICKS_PER_MS);
    expect(out[3]!.ts - out[0]!.ts).toBe(3000); // the source's own spacing is kept
  });

  it('keeps the timestamp offset when the new source continues the same timeline (same origin, backup copy)', () => {
    const s = new Splicer(RATE);
    s.splice(1, 90_000, 0);
    feed(s, { seq: 1, ts: 90_000, at: 0 }, 9); // frames at 90000, 93000, 96000
    // The same encoder on another session: frame 10 frames later, 330 ms later, other seq base.
    const cost = s.splice(5000, 96_000 + 10 * 3000, s.lastOutput.at + 330);
    expect(cost.rebased).toBe(false);
    const out = s.map(5000, 126_000, s.lastOutput.at + 330)!;
    expect(out.ts).toBe(126_000);
    expect(out.seq).toBe(10);
  });

  it('re-bases when the same-timeline candidate would go backwards (an agent restart resets its clock)', () => {
    const s = new Splicer(RATE);
    s.splice(1, 9_000_000, 0);
    feed(s, { seq: 1, ts: 9_000_000, at: 0 }, 3);
    const cost = s.splice(1, 0, 2000);
    expect(cost.rebased).toBe(true);
    const out = s.map(1, 0, 2000)!;
    expect(tsDiff(9_000_000, out.ts)).toBe(2000 * TICKS_PER_MS - 20 * TICKS_PER_MS);
  });

  it('drops late retransmissions from before the splice point', () => {
    const s = new Splicer(RATE);
    s.splice(100, 0, 0);
    feed(s, { seq: 100, ts: 0, at: 0 }, 5);
    s.splice(7000, 50_000, 100);
    expect(s.map(7000, 50_000, 100)).not.toBeNull();
    expect(s.map(6999, 47_000, 101)).toBeNull(); // older than the splice: would collide
    expect(s.map(7001, 50_000, 102)!.seq).toBe(106);
  });

  it('wraps seq and ts around their circles', () => {
    const s = new Splicer(RATE);
    s.splice(0xfffe, 2 ** 32 - 3000, 0);
    const out = feed(s, { seq: 0xfffe, ts: 2 ** 32 - 3000, at: 0 }, 4);
    expect(out.map((o) => o.seq)).toEqual([0xfffe, 0xffff, 0, 1]);
    expect(out[3]!.ts).toBe(0);
    expect(seqDiff(0xffff, 0)).toBe(1);
    expect(tsDiff(2 ** 32 - 1, 1)).toBe(2);
    // Splice right after the wrap: continues at 2.
    s.splice(500, 123, 50);
    expect(s.map(500, 123, 50)!.seq).toBe(2);
  });
});

function rtp(payload: number[], opts: { seq?: number; ts?: number; ssrc?: number; pt?: number; ext?: boolean } = {}) {
  const ext = opts.ext ? [0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00] : [];
  const b = Buffer.from([
    0x80 | (opts.ext ? 0x10 : 0),
    opts.pt ?? 96,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...ext,
    ...payload,
  ]);
  b.writeUInt16BE(opts.seq ?? 1, 2);
  b.writeUInt32BE(opts.ts ?? 1, 4);
  b.writeUInt32BE(opts.ssrc ?? 1, 8);
  return b;
}

describe('RTP helpers', () => {
  it('rewrites seq, ts, ssrc and payload type in place and keeps the marker bit', () => {
    const p = rtp([1, 2, 3], { seq: 5, ts: 6, ssrc: 7, pt: 0x80 | 100 });
    rewrite(p, 70_000, 2 ** 32 + 5, 0xabcdef01, 102);
    expect(seqOf(p)).toBe(70_000 & 0xffff);
    expect(tsOf(p)).toBe(5);
    expect(p.readUInt32BE(8)).toBe(0xabcdef01);
    expect(p[1]).toBe(0x80 | 102);
    expect([...p.subarray(12)]).toEqual([1, 2, 3]);
  });

  it('finds H.264 key frames: IDR, SPS, FU-A start of an IDR, STAP-A with an SPS (behind a header extension)', () => {
    expect(isKeyFrameStart(rtp([0x65, 0x88]), 'video/H264')).toBe(true); // IDR
    expect(isKeyFrameStart(rtp([0x67, 0x42]), 'video/H264')).toBe(true); // SPS
    expect(isKeyFrameStart(rtp([0x41, 0x9a]), 'video/H264')).toBe(false); // non-IDR slice
    expect(isKeyFrameStart(rtp([0x7c, 0x85, 0x88], { ext: true }), 'video/H264')).toBe(true); // FU-A start, IDR
    expect(isKeyFrameStart(rtp([0x7c, 0x05, 0x88]), 'video/H264')).toBe(false); // FU-A middle
    expect(isKeyFrameStart(rtp([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce]), 'video/H264')).toBe(true);
    expect(isKeyFrameStart(rtp([0x78, 0x00, 0x02, 0x41, 0x9a]), 'video/H264')).toBe(false);
  });

  it('finds VP8 key frames', () => {
    expect(isKeyFrameStart(rtp([0x10, 0x00]), 'video/VP8')).toBe(true); // S=1, PID 0, P=0
    expect(isKeyFrameStart(rtp([0x10, 0x01]), 'video/VP8')).toBe(false); // inter frame
    expect(isKeyFrameStart(rtp([0x00, 0x00]), 'video/VP8')).toBe(false); // not a partition start
    expect(isKeyFrameStart(rtp([0x90, 0x80, 0x81, 0x23, 0x00]), 'video/VP8')).toBe(true); // X, 15-bit picture id
    expect(isKeyFrameStart(rtp([0x00]), 'audio/opus')).toBe(false);
  });
});
