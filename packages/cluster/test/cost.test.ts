import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CostLedger, priceCost } from '../src/cost.ts';
import { ClusterError } from '../src/errors.ts';
import { clusterKeys } from '../src/keys.ts';
import { type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { uniqueCluster } from './helpers.ts';

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

describe('CostLedger', () => {
  it('adds deltas of several nodes per region and carrier, under the cluster’s key', async () => {
    const cluster = uniqueCluster('cost');
    const eu = new CostLedger({ redis: redis.url, cluster });
    const asia = new CostLedger({ redis: raw, cluster });
    const before = Date.now();
    await eu.add(new Map([['eu', { webrtc: 1000, pipes: 500 }]]));
    await asia.add(new Map([['asia', { webrtc: 200, hls: 300 }]]));
    await eu.add(new Map([['eu', { webrtc: 24, hls: 0, pipes: -5 }]]));

    const totals = await asia.read();
    expect(Object.fromEntries(totals.regions)).toEqual({
      eu: { webrtc: 1024, hls: 0, pipes: 500 },
      asia: { webrtc: 200, hls: 300, pipes: 0 },
    });
    expect(totals.since).toBeGreaterThanOrEqual(before);
    expect(totals.since).toBeLessThanOrEqual(Date.now());
    expect(await raw.hget(clusterKeys(cluster).cost, 'eu:webrtc')).toBe('1024');
    // Another cluster on the same Redis sees nothing.
    const other = new CostLedger({ redis: raw, cluster: uniqueCluster('cost') });
    expect((await other.read()).regions.size).toBe(0);
    await Promise.all([eu.close(), asia.close(), other.close()]);
    // A borrowed client stays open.
    expect(raw.status).toBe('ready');
  });

  it('keeps the counters when a writer goes away and a new one (a restarted node) adds on', async () => {
    const cluster = uniqueCluster('cost');
    const first = new CostLedger({ redis: redis.url, cluster });
    await first.add(new Map([['eu', { webrtc: 5_000 }]]));
    const since = (await first.read()).since;
    await first.close();
    const restarted = new CostLedger({ redis: redis.url, cluster });
    await restarted.add(new Map([['eu', { webrtc: 7 }]]));
    const totals = await restarted.read();
    expect(totals.regions.get('eu')?.webrtc).toBe(5_007);
    expect(totals.since).toBe(since);
    await restarted.close();
  });

  it('reset starts a new night: zero counters, a new since', async () => {
    const cluster = uniqueCluster('cost');
    const ledger = new CostLedger({ redis: raw, cluster });
    await ledger.add(new Map([['eu', { hls: 9 }]]));
    const since = await ledger.reset();
    let totals = await ledger.read();
    expect(totals.regions.size).toBe(0);
    expect(totals.since).toBe(since);
    await ledger.add(new Map([['eu', { hls: 1 }]]));
    totals = await ledger.read();
    expect(totals.regions.get('eu')).toEqual({ webrtc: 0, hls: 1, pipes: 0 });
    expect(totals.since).toBe(since);
  });

  it('refuses a malformed region and fails with unavailable (deltas kept by the caller) when Redis is gone', async () => {
    const ledger = new CostLedger({ redis: raw, cluster: uniqueCluster('cost') });
    await expect(ledger.add(new Map([['EU:x', { webrtc: 1 }]]))).rejects.toThrow(ClusterError);
    // A client that tried once and gave up: what a node's connection is during an outage.
    const gone = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, retryStrategy: () => null });
    gone.on('error', () => undefined);
    await new Promise((resolve) => gone.once('end', resolve));
    const offline = new CostLedger({ redis: gone, cluster: uniqueCluster('cost') });
    await expect(offline.add(new Map([['eu', { webrtc: 1 }]]))).rejects.toMatchObject({ code: 'unavailable' });
    gone.disconnect();
  });
});

describe('priceCost', () => {
  it('prices every counted byte at its region’s price and viewers’ bytes at the CDN’s', () => {
    const cost = priceCost(
      {
        since: 1,
        regions: new Map([
          ['eu', { webrtc: 2e9, hls: 1e9, pipes: 1e9 }],
          ['asia', { webrtc: 1e9, hls: 0, pipes: 0 }],
        ]),
      },
      { usdPerGb: (r) => (r === 'eu' ? 0.02 : 0.09), cdnUsdPerGb: 0.085 },
    );
    expect(cost.regions.map((r) => r.region)).toEqual(['asia', 'eu']);
    const eu = cost.regions.find((r) => r.region === 'eu')!;
    expect(eu.usd).toBeCloseTo(4 * 0.02, 10);
    // Region copies are the mesh's own cost: a CDN would not carry them.
    expect(eu.cdnUsd).toBeCloseTo(3 * 0.085, 10);
    expect(cost.total.bytes).toEqual({ webrtc: 3e9, hls: 1e9, pipes: 1e9 });
    expect(cost.total.usd).toBeCloseTo(0.08 + 0.09, 10);
    expect(cost.total.cdnUsd).toBeCloseTo(4 * 0.085, 10);
    expect(cost).toMatchObject({ currency: 'USD', cdnUsdPerGb: 0.085, since: 1 });
  });
});
