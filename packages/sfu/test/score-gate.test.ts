import type { ScoreUpdate } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { RECENT_SCORES, ScoreGate } from '../src/ScoreGate.ts';

const score = {
  players: [
    { name: 'A', frames: 0, points: 0 },
    { name: 'B', frames: 0, points: 0 },
  ],
  raceTo: 5,
  frame: 1,
  atTable: 0,
} as const;
const update = (seq: number, epoch?: number, stream = 's'): ScoreUpdate => ({
  stream,
  seq,
  ...(epoch === undefined ? {} : { epoch }),
  mediaTime: seq * 100,
  sentAt: 0,
  score: { ...score, players: [...score.players] },
});

describe('ScoreGate: exactly once, keyed by (epoch, seq)', () => {
  it('forwards new seqs, drops redeliveries of the same epoch as duplicates', () => {
    const gate = new ScoreGate('s');
    expect([1, 2, 3].map((n) => gate.admit(update(n, 7)))).toEqual(['forwarded', 'forwarded', 'forwarded']);
    expect(gate.admit(update(2, 7))).toBe('duplicate');
    expect(gate.admit(update(3, 7))).toBe('duplicate');
    expect(gate.position).toEqual({ epoch: 7, seq: 3 });
    expect(gate.stats).toMatchObject({ received: 5, forwarded: 3, duplicates: 2, refused: 0 });
  });

  it('a later epoch that continues after the last seq goes on; the earlier epoch is refused from then on', () => {
    const gate = new ScoreGate('s');
    for (let n = 1; n <= 4; n++) gate.admit(update(n, 100));
    expect(gate.admit(update(5, 200))).toBe('forwarded');
    expect(gate.admit(update(5, 100))).toBe('stale-epoch');
    // Even a seq the stream has not reached yet: the old host must not write the live score.
    expect(gate.admit(update(9, 100))).toBe('stale-epoch');
    expect(gate.admit(update(6, 200))).toBe('forwarded');
    expect(gate.latest?.seq).toBe(6);
    expect(gate.since(4).map((u) => [u.epoch, u.seq])).toEqual([
      [200, 5],
      [200, 6],
    ]);
    expect(gate.stats.refused).toBe(2);
  });

  it('a later epoch reusing a taken seq is a conflict, not a duplicate', () => {
    const gate = new ScoreGate('s');
    for (let n = 1; n <= 3; n++) gate.admit(update(n, 100));
    expect(gate.admit(update(1, 200))).toBe('seq-taken');
    expect(gate.admit(update(3, 200))).toBe('seq-taken');
    expect(gate.position).toEqual({ epoch: 100, seq: 3 });
    // Beyond what the gate remembers, the current epoch's redeliveries are still duplicates.
    for (let n = 4; n <= RECENT_SCORES + 10; n++) gate.admit(update(n, 100));
    expect(gate.taken(1)).toBeUndefined();
    expect(gate.admit(update(1, 100))).toBe('duplicate');
    expect(gate.admit(update(1, 300))).toBe('seq-taken');
  });

  it('updates without an epoch are epoch 0 (publishers that predate epochs); other streams are invalid', () => {
    const gate = new ScoreGate('s');
    expect(gate.admit(update(1))).toBe('forwarded');
    expect(gate.admit(update(1, 0))).toBe('duplicate');
    expect(gate.admit(update(2, 5))).toBe('forwarded');
    expect(gate.admit(update(3))).toBe('stale-epoch');
    expect(gate.admit(update(4, 5, 'other'))).toBe('invalid');
    expect(gate.stats.invalid).toBe(1);
  });
});
