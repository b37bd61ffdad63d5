import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ScoreUpdate } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
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
    expect(j.load()).toEqual({ lastSeq: 0, pending: [], skipped: 0 });
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
});
