import { describe, expect, it } from 'vitest';
import { PathMerge } from '../src/stable/PathMerge.ts';
import { seqOf, tsOf } from '../src/stable/rtp.ts';

/** Packet i of the program: 3 per frame (3000 ticks), a payload unique to i. */
function packet(i: number, seq: number, ssrc = 0x1234): Buffer {
  const b = Buffer.alloc(12 + 40);
  b[0] = 0x80;
  b[1] = 96;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((900_000 + Math.floor(i / 3) * 3000) >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  b.write(`payload of packet ${i}`, 12);
  return b;
}

/** What the merge sent, as packet indexes (read back from the payload) and output seqs. */
function rig(reanchorMs = 200) {
  const out: { i: number; seq: number; ts: number; path: string }[] = [];
  const merge = new PathMerge((p, path) => {
    out.push({
      i: Number(
        p
          .subarray(12)
          .toString()
          .match(/packet (\d+)/)![1],
      ),
      seq: seqOf(p),
      ts: tsOf(p),
      path,
    });
  }, reanchorMs);
  return { merge, out };
}

describe('PathMerge', () => {
  it('sends each packet once, in the first path’s numbering, whatever numbering the other path has', () => {
    const { merge, out } = rig();
    for (let i = 0; i < 30; i++) {
      merge.push('a', packet(i, 1000 + i), i);
      merge.push('b', packet(i, 50_000 + i), i + 0.5);
    }
    expect(out.map((o) => o.i)).toEqual([...Array(30).keys()]);
    expect(out.map((o) => o.seq)).toEqual([...Array(30).keys()].map((i) => 1000 + i));
    expect(out.every((o) => o.path === 'a')).toBe(true);
    const shares = merge.shares();
    expect(shares.get('a')!.won).toBe(30);
    expect(shares.get('b')!.duplicates).toBe(30);
    expect(merge.missing).toBe(0);
  });

  it('fills what one path lost from the other, at its place', () => {
    const { merge, out } = rig();
    for (let i = 0; i < 100; i++) {
      if (i % 10 !== 5) merge.push('a', packet(i, 7000 + i), i * 10);
      // b is 40 ms behind: its copy of a lost packet arrives after a's next ones.
      if (i >= 4) merge.push('b', packet(i - 4, 300 + i - 4), i * 10 + 1);
    }
    const sent = out.map((o) => o.i);
    expect(new Set(sent).size).toBe(sent.length);
    expect([...sent].sort((x, y) => x - y)).toEqual([...Array(100).keys()]);
    // Every packet kept its place in the numbering: seq - 7000 is its index.
    for (const o of out) expect(o.seq).toBe(7000 + o.i);
    // b won exactly what a lost.
    expect(out.filter((o) => o.path === 'b').map((o) => o.i)).toEqual([5, 15, 25, 35, 45, 55, 65, 75, 85, 95]);
    expect(merge.missing).toBe(0);
  });

  it('counts what no path delivered as missing', () => {
    const { merge } = rig();
    for (let i = 0; i < 50; i++) {
      if (i !== 20) merge.push('a', packet(i, 100 + i), i);
      if (i !== 20 && i !== 30) merge.push('b', packet(i, 9000 + i), i + 0.2);
    }
    expect(merge.missing).toBe(1);
  });

  it('keeps numbering across the 16-bit wrap on either path', () => {
    const { merge, out } = rig();
    for (let i = 0; i < 40; i++) {
      if (i !== 12) merge.push('a', packet(i, 65_520 + i), i);
      merge.push('b', packet(i, 65_530 + i), i + 0.5);
    }
    expect(out.map((o) => o.i).sort((x, y) => x - y)).toEqual([...Array(40).keys()]);
    for (const o of out) expect(o.seq).toBe((65_520 + o.i) % 65_536);
    expect(out.find((o) => o.i === 12)?.path).toBe('b');
  });

  it('goes on from the other path while one is silent, and takes the first back when it returns', () => {
    const { merge, out } = rig();
    for (let i = 0; i < 300; i++) {
      const t = i * 10;
      const aCut = i >= 50 && i < 250; // 2 s without path a
      if (!aCut) merge.push('a', packet(i, 2000 + i), t);
      merge.push('b', packet(i, 40_000 + i), t + 3);
    }
    expect(out.map((o) => o.i)).toEqual([...Array(300).keys()]);
    for (const o of out) expect(o.seq).toBe(2000 + o.i);
    expect(merge.shares().get('b')!.won).toBe(200);
    expect(merge.shares().get('a')!.won).toBe(100);
  });

  it('learns a faster path that joins later from the packets it holds', () => {
    const { merge, out } = rig();
    for (let i = 0; i < 10; i++) merge.push('a', packet(i, 500 + i), i * 10);
    // b joins 50 ms ahead of a: its packets arrive before a's copies of them.
    for (let i = 10; i < 60; i++) {
      merge.push('b', packet(i + 5, 33_000 + i + 5), i * 10);
      merge.push('a', packet(i, 500 + i), i * 10 + 1);
    }
    expect(out.map((o) => o.i)).toEqual([...Array(65).keys()]);
    for (const o of out) expect(o.seq).toBe(500 + o.i);
    // Once learned, b won nearly everything (it is ahead).
    expect(merge.shares().get('b')!.won).toBeGreaterThan(40);
  });

  it('lets a path that never overlapped carry on after the others fell silent', () => {
    const { merge, out } = rig(200);
    for (let i = 0; i < 20; i++) merge.push('a', packet(i, 100 + i), i * 10);
    // a is gone; b's first packet comes 500 ms later, 30 packets on (nothing of it matches).
    for (let i = 50; i < 60; i++) merge.push('b', packet(i, 60_000 + i), 700 + i * 10);
    expect(out.map((o) => o.i)).toEqual([...[...Array(20).keys()], ...Array.from({ length: 10 }, (_, k) => 50 + k)]);
    // The output numbering continues by one: no jump viewers would take for loss.
    expect(out.map((o) => o.seq)).toEqual(Array.from({ length: 30 }, (_, k) => 100 + k));
  });

  it('never takes identical payloads at different timestamps for duplicates (silent audio)', () => {
    const out: number[] = [];
    const merge = new PathMerge((p) => out.push(seqOf(p)));
    for (let i = 0; i < 20; i++) {
      const p = Buffer.alloc(20);
      p[0] = 0x80;
      p.writeUInt16BE(10 + i, 2);
      p.writeUInt32BE(48_000 + i * 960, 4);
      p.fill(0xf8, 12);
      merge.push('a', p, i);
    }
    expect(out).toHaveLength(20);
  });

  it('learns again when a path’s numbering moves (its consumer re-synced)', () => {
    const { merge, out } = rig();
    for (let i = 0; i < 20; i++) {
      merge.push('a', packet(i, 100 + i), i * 10);
      merge.push('b', packet(i, 5000 + i), i * 10 + 1);
    }
    // b's numbering jumps back by 7 from packet 20 on.
    for (let i = 20; i < 40; i++) {
      merge.push('b', packet(i, 5000 + i - 7), i * 10);
      merge.push('a', packet(i, 100 + i), i * 10 + 1);
    }
    expect(out.map((o) => o.i)).toEqual([...Array(40).keys()]);
    for (const o of out) expect(o.seq).toBe(100 + o.i);
  });
});
