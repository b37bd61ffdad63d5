import { BOOTSTRAP_KID, signToken, verifyToken } from '@matchmesh/protocol';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clusterKeys } from '../src/keys.ts';
import { SigningKeyRing } from '../src/signing-key-ring.ts';
import { SigningKeyStore } from '../src/signing-keys.ts';
import { type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { captureLogger, uniqueCluster } from './helpers.ts';

const bootstrapSecret = 'bootstrap-token-secret-0123';
const clusterSecret = 'cluster-secret-0123456789ab';

let redis: RedisServer;
let raw: Redis;
const open: { close(): unknown }[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  raw.disconnect();
  await redis.stop();
});
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

function store(cluster: string, secret = clusterSecret, url = redis.url): SigningKeyStore {
  const s = new SigningKeyStore({ redis: url, cluster, clusterSecret: secret });
  open.push(s);
  return s;
}

function ring(s: SigningKeyStore, logger = captureLogger().logger): SigningKeyRing {
  const r = new SigningKeyRing({ store: s, bootstrapSecret, refreshMs: 60_000, logger });
  open.push(r);
  return r;
}

const viewer = { role: 'viewer', stream: 'final' } as const;

describe('SigningKeyStore', () => {
  it('starts with the bootstrap key signing, rotates to a random key kept encrypted, and lists the states', async () => {
    const cluster = uniqueCluster('keys');
    const s = store(cluster);
    expect((await s.list()).map((k) => [k.kid, k.state])).toEqual([[BOOTSTRAP_KID, 'signing']]);

    const k1 = await s.rotate();
    expect(k1).toMatchObject({ kid: 'k1', state: 'signing' });
    expect(k1.secret.length).toBeGreaterThanOrEqual(43); // 256 bits, base64url
    const k2 = await s.rotate();
    expect(k2.kid).toBe('k2');
    expect(k2.secret).not.toBe(k1.secret);

    const listed = await s.list();
    expect(listed.map((k) => [k.kid, k.state])).toEqual([
      [BOOTSTRAP_KID, 'verify'],
      ['k1', 'verify'],
      ['k2', 'signing'],
    ]);
    expect(listed.find((k) => k.kid === 'k1')?.secret).toBe(k1.secret);
    expect(listed.find((k) => k.kid === BOOTSTRAP_KID)?.secret).toBeUndefined();
    // At rest: neither secret appears in Redis.
    const stored = JSON.stringify(await raw.hgetall(clusterKeys(cluster).signingKeys));
    expect(stored).not.toContain(k1.secret);
    expect(stored).not.toContain(k2.secret);
  });

  it('retires a verify key (its secret dropped), never the signing key, and says when a kid is unknown', async () => {
    const s = store(uniqueCluster('keys'));
    expect(await s.retire(BOOTSTRAP_KID)).toEqual({ ok: false, reason: 'signing' });
    await s.rotate();
    expect(await s.retire('k1')).toEqual({ ok: false, reason: 'signing' });
    expect(await s.retire('k7')).toEqual({ ok: false, reason: 'unknown' });
    const retired = await s.retire(BOOTSTRAP_KID);
    expect(retired).toMatchObject({ ok: true, key: { kid: BOOTSTRAP_KID, state: 'retired' } });
    await s.rotate();
    expect(await s.retire('k1')).toMatchObject({ ok: true, key: { kid: 'k1', state: 'retired' } });
    const listed = await s.list();
    expect(listed.map((k) => [k.kid, k.state])).toEqual([
      [BOOTSTRAP_KID, 'retired'],
      ['k1', 'retired'],
      ['k2', 'signing'],
    ]);
    expect(listed.find((k) => k.kid === 'k1')?.secret).toBeUndefined();
  });

  it('a store with another cluster secret cannot read the rotated secrets', async () => {
    const cluster = uniqueCluster('keys');
    await store(cluster).rotate();
    const { logger, lines } = captureLogger();
    const stranger = new SigningKeyStore({
      redis: redis.url,
      cluster,
      clusterSecret: 'another-cluster-secret-xyz',
      logger,
    });
    open.push(stranger);
    const k1 = (await stranger.list()).find((k) => k.kid === 'k1');
    expect(k1).toMatchObject({ state: 'signing' });
    expect(k1?.secret).toBeUndefined();
    expect(lines.some((l) => l.level === 'error' && String(l.msg).includes('does not decrypt'))).toBe(true);
  });
});

describe('SigningKeyRing', () => {
  it("signs with the current key; another node's ring accepts old and new tokens after a reload and refuses a retired key's", async () => {
    const cluster = uniqueCluster('ring');
    const a = ring(store(cluster));
    const b = ring(store(cluster));
    await a.start();
    await b.start();
    const old = await signToken(a, viewer);
    expect(a.signing().kid).toBe(BOOTSTRAP_KID);

    await store(cluster).rotate();
    expect(await a.refresh()).toBe(true);
    expect(await b.refresh()).toBe(true);
    expect(a.signing().kid).toBe('k1');
    const young = await signToken(a, viewer);
    for (const r of [a, b]) {
      expect(await verifyToken(r, old)).toMatchObject(viewer);
      expect(await verifyToken(r, young)).toMatchObject(viewer);
    }
    // Tokens minted before the ring existed (a plain secret, no kid) are the bootstrap key's.
    expect(await verifyToken(b, await signToken(bootstrapSecret, viewer))).toMatchObject(viewer);

    expect((await store(cluster).retire(BOOTSTRAP_KID)).ok).toBe(true);
    await b.refresh();
    await expect(verifyToken(b, old)).rejects.toThrow('token signing key "k0" is unknown or retired');
    expect(await verifyToken(b, young)).toMatchObject(viewer);
    expect(b.list().map((k) => [k.kid, k.state])).toEqual([
      [BOOTSTRAP_KID, 'retired'],
      ['k1', 'signing'],
    ]);
  });

  it('keeps its last known ring through a Redis outage', async () => {
    const own = await startRedisServer();
    try {
      const cluster = uniqueCluster('outage');
      const s = store(cluster, clusterSecret, own.url);
      const { logger, warnings } = captureLogger();
      const r = ring(s, logger);
      await r.start();
      const k1 = await s.rotate();
      await r.refresh();
      await own.stop();
      expect(await r.refresh()).toBe(false);
      expect(warnings().some((w) => String(w.msg).includes('keeping the last known ring'))).toBe(true);
      expect(r.signing()).toEqual({ kid: 'k1', secret: k1.secret });
      expect(r.verifying(BOOTSTRAP_KID)).toBe(bootstrapSecret);
    } finally {
      await own.stop();
    }
  });

  it('starts on the bootstrap key alone when Redis is down', async () => {
    const own = await startRedisServer();
    const url = own.url;
    await own.stop();
    const r = ring(store(uniqueCluster('down'), clusterSecret, url));
    await r.start();
    expect(r.signing()).toEqual({ kid: BOOTSTRAP_KID, secret: bootstrapSecret });
    expect(r.verifying('k1')).toBeUndefined();
  });
});
