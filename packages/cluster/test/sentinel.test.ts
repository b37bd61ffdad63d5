import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, sentinelOptions } from '../src/redis.ts';
import { NodeRegistry } from '../src/registry.ts';
import { type SentinelGroup, startSentinelGroup } from '../src/testing/index.ts';
import { nodeRecord, uniqueCluster } from './helpers.ts';

describe('sentinelOptions', () => {
  it('reads the sentinels, the master name, credentials and db from a redis-sentinel:// URL', () => {
    expect(sentinelOptions('redis://127.0.0.1:6379')).toBeUndefined();
    const o = sentinelOptions(
      'redis-sentinel://:s3cret@10.0.0.1:26379,sentinel-b:26380/matchmesh?db=2&sentinelPassword=x',
    );
    expect(o).toMatchObject({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-b', port: 26380 },
      ],
      name: 'matchmesh',
      password: 's3cret',
      sentinelPassword: 'x',
      db: 2,
      failoverDetector: true,
    });
    expect(o).not.toHaveProperty('username');
  });

  it('names what is wrong with a malformed one', () => {
    expect(() => sentinelOptions('redis-sentinel://10.0.0.1:26379')).toThrow(/master name/);
    expect(() => sentinelOptions('redis-sentinel://10.0.0.1/mm')).toThrow(/"10.0.0.1" is not host:port/);
    expect(() => sentinelOptions('redis-sentinel://a:99999/mm')).toThrow(/not host:port/);
  });
});

describe('a registry on Redis behind three sentinels', () => {
  let group: SentinelGroup;
  beforeAll(async () => {
    group = await startSentinelGroup();
  }, 30_000);
  afterAll(async () => {
    await group?.stop();
  });

  it('finds the promoted replica after the primary is killed: what was written is still there, writes resume', async () => {
    const cluster = uniqueCluster('sentinel');
    const registry = new NodeRegistry({ redis: group.url, cluster, heartbeatIntervalMs: 200 });
    const probe = createRedisClient(group.url);
    probe.on('error', () => {}); // reconnect failures while the primary is gone are expected here
    try {
      await once(probe, 'ready');
      await registry.register(nodeRecord({ id: 'n1' }));
      const oldPort = await group.primaryPort();
      // Replication is asynchronous: wait until the replica acknowledged the registration before the crash.
      expect(await probe.wait(1, 5_000)).toBe(1);

      await group.killPrimary();
      const promotedAt = await group.waitForPromotion(oldPort);
      // The first write that lands after the promotion, retried the way the node's own callers retry.
      let writable: number | undefined;
      while (writable === undefined) {
        try {
          await probe.set(`${cluster}:probe`, '1');
          writable = Date.now() - promotedAt;
        } catch {
          // Failed fast while the client looks for the new primary: go again once it has found it.
          if (probe.status !== 'ready') await once(probe, 'ready');
        }
      }
      console.log(`sentinel: writes resume ${writable} ms after the promotion`);
      expect(writable).toBeLessThanOrEqual(5_000);
      // The registry's own connection finds the new primary on its own schedule (the probe's being ready says
      // nothing of it): read as a node's callers do, again while it answers 'unavailable'.
      const listed = async () => (await registry.list().catch(() => null))?.map((n) => n.id) ?? null;
      await expect.poll(listed, { timeout: 5_000, interval: 100 }).toEqual(['n1']);
      expect(await group.primaryPort()).not.toBe(oldPort);
    } finally {
      probe.disconnect();
      await registry.close();
    }
  }, 40_000);
});
