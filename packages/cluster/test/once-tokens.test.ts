import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnceTokenStore } from '../src/once-tokens.ts';
import { type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { uniqueCluster } from './helpers.ts';

let redis: RedisServer;
let raw: Redis;
const stores: OnceTokenStore[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  raw.disconnect();
  await redis.stop();
});

function store(cluster: string, url = redis.url): OnceTokenStore {
  const s = new OnceTokenStore({ redis: url, cluster });
  stores.push(s);
  return s;
}

const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;

describe('OnceTokenStore (real redis-server)', () => {
  it('lets a jti through once, cluster-wide, and forgets it when the token expires', async () => {
    const cluster = uniqueCluster();
    const a = store(cluster);
    const b = store(cluster);
    expect(await a.consume('jti-first-0001', inSeconds(120), 'eu-1')).toBe(true);
    // Another node of the same cluster sees the use.
    expect(await b.consume('jti-first-0001', inSeconds(120), 'asia-1')).toBe(false);
    expect(await a.consume('jti-other-0002', inSeconds(120), 'eu-1')).toBe(true);
    const key = `mm:{${cluster}}:once:jti-first-0001`;
    expect(await raw.get(key)).toBe('eu-1');
    const ttl = await raw.ttl(key);
    expect(ttl).toBeGreaterThan(110);
    expect(ttl).toBeLessThanOrEqual(120);
    // Another cluster on the same Redis is separate.
    expect(await store(uniqueCluster()).consume('jti-first-0001', inSeconds(120), 'x')).toBe(true);
  });

  it('records a token at its last second for at least a second (no instant expiry, no replay)', async () => {
    const s = store(uniqueCluster());
    expect(await s.consume('jti-late-0003', inSeconds(-5), 'eu-1')).toBe(true);
    expect(await s.consume('jti-late-0003', inSeconds(-5), 'eu-1')).toBe(false);
  });

  it('fails with unavailable (never true) when Redis cannot answer', async () => {
    const down = await startRedisServer();
    const s = store(uniqueCluster(), down.url);
    expect(await s.consume('jti-down-0004', inSeconds(60), 'eu-1')).toBe(true);
    await down.stop();
    await expect(s.consume('jti-down-0005', inSeconds(60), 'eu-1')).rejects.toMatchObject({
      name: 'ClusterError',
      code: 'unavailable',
    });
  });
});
