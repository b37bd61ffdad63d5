import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { autoPlayoutDelayMs, PLAYOUT_MAX_MS, PlayoutAdvisor } from '../src/playout.ts';

describe('autoPlayoutDelayMs', () => {
  it('holds two round trips of the upstream pipe, none near the upstream, at most 1 s', () => {
    expect(autoPlayoutDelayMs(undefined)).toBe(0);
    expect(autoPlayoutDelayMs(3)).toBe(0);
    expect(autoPlayoutDelayMs(49.9)).toBe(0);
    expect(autoPlayoutDelayMs(50)).toBe(100);
    expect(autoPlayoutDelayMs(203.06)).toBe(410);
    expect(autoPlayoutDelayMs(900)).toBe(PLAYOUT_MAX_MS);
    expect(autoPlayoutDelayMs(Number.NaN)).toBe(0);
  });
});

describe('PlayoutAdvisor', () => {
  /** An advisor over a settable round trip per stream, counting the reads. */
  function setup(intervalMs = 20) {
    const rtt = new Map<string, number | undefined>();
    const reads: string[] = [];
    const advisor = new PlayoutAdvisor({
      intervalMs,
      upstreamRttMs: async (stream) => {
        reads.push(stream);
        return rtt.get(stream);
      },
    });
    return { advisor, rtt, reads };
  }

  it('starts at 0 before the pipe has a round trip, then tells the watchers the measured delay', async () => {
    const { advisor, rtt } = setup();
    const stop = advisor.watch('final');
    expect(advisor.delayFor('final')).toBe(0);
    rtt.set('final', 200);
    const [stream, delay] = await once(advisor, 'change');
    expect([stream, delay]).toEqual(['final', 400]);
    expect(advisor.delayFor('final')).toBe(400);
    stop();
    advisor.close();
  });

  it('keeps the delay through a moment without a measurement and ignores changes under 50 ms', async () => {
    const { advisor, rtt, reads } = setup(60_000); // no timer reads: each refresh is this test's
    rtt.set('final', 200);
    const stop = advisor.watch('final'); // the first reading
    await advisor.refresh('final');
    expect(advisor.delayFor('final')).toBe(400);
    const changes: number[] = [];
    advisor.on('change', (_s, d) => changes.push(d));
    rtt.set('final', undefined); // the pipe being replaced
    await advisor.refresh('final');
    rtt.set('final', 215); // 430: within 50 ms of 400
    await advisor.refresh('final');
    expect(advisor.delayFor('final')).toBe(400);
    rtt.set('final', 10); // the copy now comes from next door: a fall counts at once
    await advisor.refresh('final');
    expect(advisor.delayFor('final')).toBe(0);
    expect(changes).toEqual([0]);
    expect(reads.length).toBeGreaterThanOrEqual(5);
    stop();
    advisor.close();
  });

  it('follows the lowest of the last readings: one inflated reading asks nobody to hold more', async () => {
    const { advisor, rtt } = setup(60_000);
    const stop = advisor.watch('final'); // no pipe yet: no reading
    rtt.set('final', 300); // a busy moment: the very first reading alone is not trusted with a delay
    await advisor.refresh('final');
    expect(advisor.delayFor('final')).toBe(0);
    rtt.set('final', 200); // the path's own round trip
    await advisor.refresh('final');
    expect(advisor.delayFor('final')).toBe(400);
    rtt.set('final', 320); // a spike
    await advisor.refresh('final');
    expect(advisor.delayFor('final')).toBe(400);
    // A rise that lasts a whole window is real: 320 ms everywhere in the last three readings.
    await advisor.refresh('final');
    await advisor.refresh('final');
    expect(advisor.delayFor('final')).toBe(640);
    stop();
    advisor.close();
  });

  it('reads a stream only while someone watches it, once for all its watchers', async () => {
    const { advisor, rtt, reads } = setup(10);
    rtt.set('final', 100);
    const a = advisor.watch('final');
    const b = advisor.watch('final');
    await once(advisor, 'change');
    a();
    a(); // a second call of the same stop changes nothing
    const before = reads.length;
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (reads.length >= before + 2) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
    b();
    const after = reads.length;
    expect(advisor.delayFor('final')).toBe(0); // forgotten with its last watcher
    await advisor.refresh('final'); // an explicit read of an unwatched stream keeps nothing
    expect(advisor.delayFor('final')).toBe(0);
    expect(reads.length).toBe(after + 1);
    advisor.close();
  });
});
