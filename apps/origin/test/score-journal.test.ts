import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ScoreUpdate } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { ScoreNumbering } from '../src/score-epoch.ts';
import { ScoreJournal } from '../src/score-journal.ts';

const update = (seq: number): ScoreUpdate => ({
  stream: 'match',
  seq,
  mediaTime: seq * 10,
  sentAt: 1_700_000_000_000 + seq,
  score: {
    players: [
      { name: 'A', frames: 0, points: seq % 100 },
      { name: 'B', frames: 0, points: 0 },
    ],
    raceTo: 5,
    frame: 1,
    atTable: 0,
  },
});

const file = () => path.join(mkdtempSync(path.join(tmpdir(), 'mm-journal-')), 'sub', 'scores.jsonl');

describe('ScoreJournal', () => {
  it('gives a restarted agent its last seq and every update after the last delivered mark', () => {
    const f = file();
    const j = new ScoreJournal(f);
    expect(j.load()).toEqual({ numbering: undefined, lastSeq: 0, pending: [], skipped: 0 });
    for (let s = 1; s <= 10; s++) j.append(update(s));
    j.delivered(6);
    const again = new ScoreJournal(f).load();
    expect(again.lastSeq).toBe(10);
    expect(again.pending.map((u) => u.seq)).toEqual([7, 8, 9, 10]);
  });

  it('skips a torn last line (a crash in the middle of a write)', () => {
    const f = file();
    const j = new ScoreJournal(f);
    j.load();
    j.append(update(1));
    j.append(update(2));
    appendFileSync(f, '{"u":{"stream":"match","se');
    const again = new ScoreJournal(f).load();
    expect(again.skipped).toBe(1);
    expect(again.pending.map((u) => u.seq)).toEqual([1, 2]);
  });

  it('stays bounded: compacts to the undelivered tail, at most `capacity` updates', () => {
    const f = file();
    const j = new ScoreJournal(f, 50);
    j.load();
    for (let s = 1; s <= 400; s++) {
      j.append(update(s));
      if (s % 10 === 0) j.delivered(s - 5);
    }
    const lines = readFileSync(f, 'utf8').trim().split('\n').length;
    expect(lines).toBeLessThanOrEqual(101);
    const again = new ScoreJournal(f, 50).load();
    expect(again.lastSeq).toBe(400);
    expect(again.pending.map((u) => u.seq)).toEqual([396, 397, 398, 399, 400]);
  });

  it('keeps the epoch and its offset across restarts and compaction; a journal from before epochs is epoch 0', () => {
    const f = file();
    const j = new ScoreJournal(f, 5);
    j.load();
    j.recordNumbering({ epoch: 1234, offset: null });
    j.recordNumbering({ epoch: 1234, offset: 57 });
    for (let s = 1; s <= 40; s++) j.append(update(s)); // compacts several times
    expect(new ScoreJournal(f, 5).load().numbering).toEqual({ epoch: 1234, offset: 57 });

    const legacy = file();
    const old = new ScoreJournal(legacy);
    old.load();
    old.append(update(1));
    expect(new ScoreJournal(legacy).load().numbering).toEqual({ epoch: 0, offset: 0 });
  });
});

describe('ScoreNumbering', () => {
  it("a fresh agent continues after the stream's last seq, with an epoch later than the stream's", () => {
    const n = ScoreNumbering.fresh(1_000);
    expect(n.settled).toBe(false);
    expect(() => n.toWire(update(1))).toThrow(/not settled/);
    // The ingest's clock-skewed history: its epoch is later than ours.
    expect(n.settle({ epoch: 5_000, seq: 57 })).toBe(true);
    expect(n.state).toEqual({ epoch: 5_001, offset: 57 });
    expect(n.toWire(update(1))).toMatchObject({ epoch: 5_001, seq: 58 });
    // Another ingest answering later changes nothing: the sequence is already on the wire.
    expect(n.settle({ epoch: 9_000, seq: 90 })).toBe(false);
    expect(n.toWire(update(2))).toMatchObject({ epoch: 5_001, seq: 59 });
  });

  it("an ingest without scores for the stream: offset 0, the agent's own epoch", () => {
    const n = ScoreNumbering.fresh(1_000);
    n.settle(undefined);
    expect(n.toWire(update(1))).toMatchObject({ epoch: 1_000, seq: 1 });
  });

  it('a resumed numbering is settled from the start', () => {
    const n = ScoreNumbering.resumed({ epoch: 42, offset: 10 });
    expect(n.settled).toBe(true);
    expect(n.settle({ epoch: 50, seq: 99 })).toBe(false);
    expect(n.toWire(update(3))).toMatchObject({ epoch: 42, seq: 13 });
  });
});
