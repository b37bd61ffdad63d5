import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamDirectory } from '../src/directory.ts';
import { clusterKeys } from '../src/keys.ts';
import { createRedisClient } from '../src/redis.ts';
import { type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { uniqueCluster, waitFor } from './helpers.ts';

let redis: RedisServer;
let raw: Redis;

beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  raw.disconnect();
  await redis.stop();
});

async function withDirectory<T>(fn: (d: StreamDirectory, cluster: string) => Promise<T>): Promise<T> {
  const cluster = uniqueCluster();
  const d = new StreamDirectory({ redis: redis.url, cluster });
  try {
    return await fn(d, cluster);
  } finally {
    await d.close();
  }
}

describe('StreamDirectory: ingest', () => {
  it('set/get/remove, last writer wins, removal can be owner-only', () =>
    withDirectory(async (d) => {
      expect(await d.getIngest('match1')).toBeNull();
      await d.setIngest('match1', 'ingest-a', { role: 'primary' });
      expect(await d.getIngest('match1')).toMatchObject({ nodeId: 'ingest-a', role: 'primary' });
      await d.setIngest('match1', 'ingest-b', { role: 'backup' });
      const cur = await d.getIngest('match1');
      expect(cur).toMatchObject({ nodeId: 'ingest-b', role: 'backup' });
      expect(cur!.since).toBeGreaterThan(Date.now() - 5_000);
      expect(await d.removeIngest('match1', 'ingest-a')).toBe(false);
      expect(await d.removeIngest('match1', 'ingest-b')).toBe(true);
      expect(await d.getIngest('match1')).toBeNull();
      await d.setIngest('match1', 'x', { role: 'primary' });
      expect(await d.removeIngest('match1')).toBe(true);
    }));

  it('removeIngestCopy clears a copy only for the node holding it, and never one set meanwhile', () =>
    withDirectory(async (d, cluster) => {
      await d.setIngestCopy('match1', 'ingest-a', 'primary');
      await d.setIngestCopy('match1', 'ingest-b', 'backup');
      expect(await d.removeIngestCopy('match1', 'ingest-b', 'primary')).toBe(false);
      expect(await d.getIngestCopies('match1')).toEqual({ primary: 'ingest-a', backup: 'ingest-b' });
      expect(await d.removeIngestCopy('match1', 'ingest-a', 'primary')).toBe(true);
      expect(await d.getIngestCopies('match1')).toEqual({ primary: null, backup: 'ingest-b' });

      // A reconnecting origin lands on another node while the old one removes its entry:
      // whichever runs first, the new node's entry must survive (a get-then-delete could drop it).
      const other = new StreamDirectory({ redis: redis.url, cluster });
      try {
        for (let i = 0; i < 50; i++) {
          await d.setIngestCopy('match1', 'ingest-a', 'primary');
          await Promise.all([
            d.removeIngestCopy('match1', 'ingest-a', 'primary'),
            other.setIngestCopy('match1', 'ingest-c', 'primary'),
          ]);
          expect((await d.getIngestCopies('match1')).primary).toBe('ingest-c');
        }
      } finally {
        await other.close();
      }
    }));

  it('rejects invalid ids with bad_request', () =>
    withDirectory(async (d) => {
      await expect(d.setIngest('bad/id', 'n', { role: 'primary' })).rejects.toMatchObject({
        code: 'bad_request',
      });
      await expect(d.claimRegionCopy('s', 'EU', 'n', 1000)).rejects.toMatchObject({ code: 'bad_request' });
      await expect(d.claimRegionCopy('s', 'eu', 'n', 0)).rejects.toMatchObject({ code: 'bad_request' });
    }));
});

describe('StreamDirectory: region copy claims', () => {
  it('200 concurrent claims from 200 separate connections → exactly one winner', async () => {
    const cluster = uniqueCluster();
    const clients = Array.from({ length: 200 }, () => createRedisClient(redis.url));
    try {
      // All connections up first, so the claims really race inside Redis.
      await Promise.all(clients.map((c) => (c.status === 'ready' ? null : new Promise((r) => c.once('ready', r)))));
      const dirs = clients.map((c) => new StreamDirectory({ redis: c, cluster }));
      const results = await Promise.all(dirs.map((d, i) => d.claimRegionCopy('final', 'asia', `relay-${i}`, 10_000)));
      const winners = results.filter((r) => r.won);
      expect(winners).toHaveLength(1);
      const winner = winners[0]!.winner;
      expect(results.every((r) => r.winner === winner)).toBe(true);
      expect(await raw.get(clusterKeys(cluster).claim('final', 'asia'))).toBe(winner);
      await Promise.all(dirs.map((d) => d.close()));
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  it('the holder re-claiming is idempotent; regions are independent', () =>
    withDirectory(async (d) => {
      expect((await d.claimRegionCopy('s1', 'eu', 'a', 5_000)).won).toBe(true);
      expect((await d.claimRegionCopy('s1', 'eu', 'a', 5_000)).won).toBe(true);
      expect(await d.claimRegionCopy('s1', 'eu', 'b', 5_000)).toMatchObject({ won: false, winner: 'a' });
      expect((await d.claimRegionCopy('s1', 'asia', 'b', 5_000)).won).toBe(true);
      expect(await d.getRegionHolder('s1', 'asia')).toBe('b');
      expect(await d.getRegionHolder('s1', 'us')).toBeNull();
    }));

  it('refresh and release only by the owner', () =>
    withDirectory(async (d, cluster) => {
      const { claim } = await d.claimRegionCopy('s', 'eu', 'owner', 300);
      const impostor = { ...claim, nodeId: 'impostor' };
      expect(await d.refresh(impostor)).toBe(false);
      expect(await d.release(impostor)).toBe(false);
      expect(await d.getRegionHolder('s', 'eu')).toBe('owner');

      expect(await d.refresh({ ...claim, ttlMs: 60_000 })).toBe(true);
      expect(await raw.pttl(clusterKeys(cluster).claim('s', 'eu'))).toBeGreaterThan(50_000);

      expect(await d.release(claim)).toBe(true);
      expect(await d.getRegionHolder('s', 'eu')).toBeNull();
      expect(await d.release(claim)).toBe(false);
      expect(await d.refresh(claim)).toBe(false);
    }));

  it('renew is fenced by the token: it extends our lease, re-takes a lapsed one, and reports a newer holder', () =>
    withDirectory(async (d) => {
      const { claim } = await d.claimRegionCopy('s', 'eu', 'a', 5_000);
      expect(claim.token).toBeGreaterThan(0);
      expect(await d.renew(claim)).toEqual({ held: true, retaken: false, claim });
      // Lapsed (forgotten as dead while it was only busy) and nobody took it: taken again, new token.
      await d.forgetNode('a');
      const again = await d.renew(claim);
      expect(again).toMatchObject({ held: true, retaken: true });
      const fresh = (again as { claim: typeof claim }).claim;
      expect(fresh.token).toBeGreaterThan(claim.token);
      // The stale lease can neither renew nor release the fresh one.
      expect(await d.release(claim)).toBe(false);
      expect(await d.renew(claim)).toEqual({ held: false, winner: 'a' });
      // Someone else holds it now: reported, not taken.
      await d.forgetNode('a');
      const b = await d.claimRegionCopy('s', 'eu', 'b', 5_000);
      expect(b.claim.token).toBeGreaterThan(fresh.token);
      expect(await d.renew(fresh)).toEqual({ held: false, winner: 'b' });
      expect(await d.getRegionHolder('s', 'eu')).toBe('b');
      expect(await d.release(b.claim)).toBe(true);
    }));

  it('an unrefreshed claim expires and can be won by another node', () =>
    withDirectory(async (d) => {
      await d.claimRegionCopy('s', 'eu', 'a', 100);
      const r = await waitFor(async () => {
        const res = await d.claimRegionCopy('s', 'eu', 'b', 5_000);
        return res.won ? res : null;
      }, 2_000);
      expect(r.winner).toBe('b');
    }));

  it('forgetNode drops every claim and ingest of that node only', () =>
    withDirectory(async (d) => {
      await d.setIngest('s1', 'dead', { role: 'primary' });
      await d.setIngest('s2', 'alive', { role: 'primary' });
      await d.claimRegionCopy('s1', 'eu', 'dead', 60_000);
      await d.claimRegionCopy('s2', 'eu', 'dead', 60_000);
      await d.claimRegionCopy('s2', 'asia', 'alive', 60_000);
      expect(await d.forgetNode('dead')).toEqual({ claims: 2, ingests: 1 });
      expect(await d.getIngest('s1')).toBeNull();
      expect(await d.getRegionHolder('s2', 'eu')).toBeNull();
      expect(await d.getRegionHolder('s2', 'asia')).toBe('alive');
      expect((await d.getIngest('s2'))?.nodeId).toBe('alive');
      expect(await d.forgetNode('dead')).toEqual({ claims: 0, ingests: 0 });
      // The survivors can claim at once.
      expect((await d.claimRegionCopy('s2', 'eu', 'alive', 60_000)).won).toBe(true);
    }));

  it('listStreams shows ingest and holders, and prunes what expired', () =>
    withDirectory(async (d, cluster) => {
      await d.setIngest('b-match', 'ing-1', { role: 'primary' });
      await d.claimRegionCopy('b-match', 'eu', 'eu-1', 60_000);
      await d.claimRegionCopy('b-match', 'asia', 'asia-1', 60_000);
      await d.claimRegionCopy('a-match', 'eu', 'eu-2', 100); // claim only, about to expire
      const list = await d.listStreams();
      expect(list.map((s) => s.stream)).toEqual(['a-match', 'b-match']);
      expect(list[1]).toEqual({
        stream: 'b-match',
        ingest: expect.objectContaining({ nodeId: 'ing-1', role: 'primary' }),
        regions: [
          { region: 'asia', nodeId: 'asia-1' },
          { region: 'eu', nodeId: 'eu-1' },
        ],
      });
      expect(list[0]).toMatchObject({ ingest: null, regions: [{ region: 'eu', nodeId: 'eu-2' }] });

      await waitFor(async () => (await d.listStreams()).length === 1, 2_000);
      expect(await raw.smembers(clusterKeys(cluster).streams)).toEqual(['b-match']);
    }));
});

describe('StreamDirectory: scripts', () => {
  async function evalshaCalls(): Promise<number> {
    const stats = await raw.info('commandstats');
    return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  }

  it('run by EVALSHA once loaded, and still run after the script cache is flushed (NOSCRIPT falls back to EVAL)', () =>
    withDirectory(async (d) => {
      const { claim } = await d.claimRegionCopy('s', 'eu', 'a', 5_000);
      // The first renew on this connection sends the script itself (EVAL); the next one its hash.
      expect(await d.renew(claim)).toEqual({ held: true, retaken: false, claim });
      const before = await evalshaCalls();
      expect(await d.renew(claim)).toEqual({ held: true, retaken: false, claim });
      expect(await evalshaCalls()).toBe(before + 1);
      // A Redis that forgot the script (SCRIPT FLUSH, a failover to a replica without it).
      await raw.script('FLUSH');
      expect(await d.renew(claim)).toEqual({ held: true, retaken: false, claim });
      expect(await d.release(claim)).toBe(true);
    }));
});
