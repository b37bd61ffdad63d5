import type { ScoreUpdate } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { ScoreFeed } from '../src/ScoreFeed.ts';

function update(seq: number, mediaTime = seq * 1000, stream = 'match'): ScoreUpdate {
  return {
    stream,
    seq,
    mediaTime,
    sentAt: 1_700_000_000_000 + seq,
    score: {
      players: [
        { name: 'Lee', frames: 0, points: seq },
        { name: 'Ortiz', frames: 0, points: 0 },
      ],
      raceTo: 5,
      frame: 1,
      atTable: 0,
    },
  };
}

describe('ScoreFeed', () => {
  it('starts empty', () => {
    const feed = new ScoreFeed();
    expect(feed.latest).toBeNull();
    expect(feed.lastSeq).toBe(0);
    expect(feed.log).toEqual([]);
    expect(feed.scoreForMediaTime(1e9)).toBeNull();
    expect([feed.received, feed.accepted, feed.gaps, feed.duplicates, feed.missedAtJoin]).toEqual([0, 0, 0, 0, 0]);
  });

  it('accepts consecutive updates in order and flags the snapshot', () => {
    const feed = new ScoreFeed({ now: () => 42 });
    const first = feed.push(update(7), { snapshot: true });
    expect(first).toMatchObject({
      accepted: true,
      missed: 0,
      score: { seq: 7, snapshot: true, receivedAt: 42 },
    });
    feed.push(update(8));
    feed.push(update(9));
    expect(feed.log.map((s) => [s.seq, s.snapshot])).toEqual([
      [7, true],
      [8, false],
      [9, false],
    ]);
    expect(feed.latest?.seq).toBe(9);
    expect(feed.lastSeq).toBe(9);
    expect([feed.received, feed.accepted, feed.gaps, feed.duplicates]).toEqual([3, 3, 0, 0]);
  });

  it('counts the first update as the baseline, not a gap', () => {
    const feed = new ScoreFeed();
    expect(feed.push(update(50))).toMatchObject({ accepted: true, missed: 0 });
    expect(feed.gaps).toBe(0);
  });

  it('counts every skipped seq as a gap', () => {
    const feed = new ScoreFeed();
    feed.push(update(1));
    expect(feed.push(update(4))).toMatchObject({ accepted: true, missed: 2 });
    expect(feed.push(update(5))).toMatchObject({ accepted: true, missed: 0 });
    expect(feed.push(update(7))).toMatchObject({ accepted: true, missed: 1 });
    expect(feed.gaps).toBe(3);
    expect(feed.log.map((s) => s.seq)).toEqual([1, 4, 5, 7]);
  });

  it('counts seqs lost around a (re)join as missedAtJoin, not gaps', () => {
    const feed = new ScoreFeed();
    feed.push(update(10), { snapshot: true });
    expect(feed.push(update(13))).toMatchObject({ accepted: true, missed: 2 });
    expect([feed.gaps, feed.missedAtJoin]).toEqual([0, 2]);
    feed.push(update(15)); // lost on the live channel
    expect([feed.gaps, feed.missedAtJoin]).toEqual([1, 2]);

    // Reconnect: 16 lost while away, snapshot 17, 18 lost before the channel opened.
    feed.push(update(17), { snapshot: true });
    feed.push(update(19));
    feed.push(update(21));
    expect([feed.gaps, feed.missedAtJoin]).toEqual([2, 4]);

    // A snapshot that is already known still opens a join window.
    feed.push(update(21), { snapshot: true });
    feed.push(update(23));
    expect([feed.gaps, feed.missedAtJoin, feed.duplicates]).toEqual([2, 5, 1]);
  });

  it('drops duplicates and late (out-of-order) updates', () => {
    const feed = new ScoreFeed();
    feed.push(update(1));
    feed.push(update(3));
    expect(feed.push(update(3))).toEqual({ accepted: false, reason: 'duplicate' });
    expect(feed.push(update(2))).toEqual({ accepted: false, reason: 'duplicate' });
    expect(feed.push(update(1))).toEqual({ accepted: false, reason: 'duplicate' });
    expect(feed.duplicates).toBe(3);
    expect(feed.gaps).toBe(1);
    expect(feed.received).toBe(5);
    expect(feed.accepted).toBe(2);
    expect(feed.latest?.seq).toBe(3);
  });

  it('drops the live copy of the join snapshot as a duplicate', () => {
    const feed = new ScoreFeed();
    feed.push(update(10), { snapshot: true });
    expect(feed.push(update(10)).accepted).toBe(false);
    feed.push(update(11));
    expect(feed.log.map((s) => s.seq)).toEqual([10, 11]);
    expect([feed.gaps, feed.duplicates]).toEqual([0, 1]);
  });

  it('ignores updates for another stream when bound to one', () => {
    const feed = new ScoreFeed({ stream: 'match' });
    expect(feed.push(update(1, 0, 'other'))).toEqual({ accepted: false, reason: 'wrong-stream' });
    expect(feed.push(update(1)).accepted).toBe(true);
    expect(feed.duplicates).toBe(0);
  });

  it('scoreForMediaTime returns the latest update at or before the media time', () => {
    const feed = new ScoreFeed();
    feed.push(update(1, 0));
    feed.push(update(2, 1000));
    feed.push(update(3, 1000)); // same frame: the later seq wins
    feed.push(update(4, 2500));
    expect(feed.scoreForMediaTime(-1)).toBeNull();
    expect(feed.scoreForMediaTime(0)?.seq).toBe(1);
    expect(feed.scoreForMediaTime(999.9)?.seq).toBe(1);
    expect(feed.scoreForMediaTime(1000)?.seq).toBe(3);
    expect(feed.scoreForMediaTime(2499)?.seq).toBe(3);
    expect(feed.scoreForMediaTime(2500)?.seq).toBe(4);
    expect(feed.scoreForMediaTime(1e12)?.seq).toBe(4);
  });

  it('scoreForMediaTime still answers when mediaTime went backwards', () => {
    const feed = new ScoreFeed();
    feed.push(update(1, 5000));
    feed.push(update(2, 100)); // e.g. origin clock reset
    feed.push(update(3, 200));
    expect(feed.scoreForMediaTime(150)?.seq).toBe(2);
    expect(feed.scoreForMediaTime(300)?.seq).toBe(3);
    expect(feed.scoreForMediaTime(6000)?.seq).toBe(3);
    expect(feed.scoreForMediaTime(50)).toBeNull();
  });

  it('trims the log to maxLog but keeps counting', () => {
    const feed = new ScoreFeed({ maxLog: 3 });
    for (let seq = 1; seq <= 10; seq++) feed.push(update(seq));
    expect(feed.log.map((s) => s.seq)).toEqual([8, 9, 10]);
    expect(feed.accepted).toBe(10);
    expect(feed.push(update(9)).accepted).toBe(false);
  });

  it('reset() forgets everything', () => {
    const feed = new ScoreFeed();
    feed.push(update(5));
    feed.reset();
    expect(feed.latest).toBeNull();
    expect(feed.push(update(1)).accepted).toBe(true);
  });
});
