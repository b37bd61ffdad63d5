import type { ReportFigures } from '@matchmesh/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportStore } from '../src/reports.ts';
import { type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { uniqueCluster, waitFor } from './helpers.ts';

let redis: RedisServer;
let raw: Redis;
const stores: ReportStore[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  raw.disconnect();
  await redis.stop();
});

function store(cluster: string, ttlMs = 60_000): ReportStore {
  const s = new ReportStore({ redis: redis.url, cluster, ttlMs });
  stores.push(s);
  return s;
}

const figures: ReportFigures = {
  samples: [
    {
      at: 1,
      path: 'webrtc',
      nodeId: 'eu-1',
      region: 'eu',
      rttMs: 12,
      packetsLost: 0,
      lossPct: 0,
      jitterMs: 3,
      framesDecoded: 30,
      fps: 30,
      kbps: 900,
      layer: '720p',
    },
  ],
  freezes: [{ at: 1, durationMs: 800 }],
  fallbacks: [],
  placementRtts: { eu: 12, asia: null },
  browser: 'Chrome 131',
  os: 'Linux',
};

function report(at: number, text = 'the picture froze') {
  return { at, sessionId: 'sess-0001', stream: 'match', nodeId: 'eu-1', region: 'eu', path: 'webrtc', text, figures };
}

describe('ReportStore (real redis-server)', () => {
  it('stores a report, lists summaries newest first and reads the whole report back', async () => {
    const s = store(uniqueCluster());
    const now = Date.now();
    const older = await s.add(report(now - 1_000, 'first'));
    const newer = await s.add(report(now, 'second'));
    expect(older.id).not.toBe(newer.id);
    const list = await s.list();
    expect(list.map((r) => r.text)).toEqual(['second', 'first']);
    expect(list[0]).not.toHaveProperty('figures');
    expect(await s.get(older.id)).toEqual({ ...older, figures });
    expect(await s.get('zz-unknown')).toBeUndefined();
    expect(await s.list(1)).toHaveLength(1);
  });

  it('forgets a report after its TTL (the hash expires, the index entry goes with it)', async () => {
    const cluster = uniqueCluster();
    const s = store(cluster, 300);
    const r = await s.add(report(Date.now()));
    const ttl = await raw.pttl(`mm:{${cluster}}:report:${r.id}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);
    await waitFor(async () => (await s.get(r.id)) === undefined, 5_000, 50);
    expect(await s.list()).toEqual([]);
    expect(await raw.zcard(`mm:{${cluster}}:reports`)).toBe(0);
  });

  it('rate: allows `limit` hits per window per bucket, then names the wait; buckets count apart', async () => {
    const s = store(uniqueCluster());
    const session = { key: 'session:a', limit: 2, windowMs: 10_000 };
    const subject = { key: 'sub:x', limit: 3, windowMs: 10_000 };
    expect(await s.hit([session, subject])).toEqual({ allowed: true });
    expect(await s.hit([session, subject])).toEqual({ allowed: true });
    const third = await s.hit([session, subject]);
    expect(third.allowed).toBe(false);
    if (!third.allowed) {
      expect(third.retryAfterMs).toBeGreaterThan(9_000);
      expect(third.retryAfterMs).toBeLessThanOrEqual(10_000);
    }
    // Another session of the same subject: its own bucket is fresh, but the subject's is now over (4 > 3).
    expect((await s.hit([{ ...session, key: 'session:b' }, subject])).allowed).toBe(false);
  });

  it('rate: a window ends and the bucket allows again', async () => {
    const s = store(uniqueCluster());
    const bucket = { key: 'session:short', limit: 1, windowMs: 200 };
    expect((await s.hit([bucket])).allowed).toBe(true);
    expect((await s.hit([bucket])).allowed).toBe(false);
    await waitFor(async () => (await s.hit([bucket])).allowed, 5_000, 50);
  });
});
