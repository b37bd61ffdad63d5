import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { BOOTSTRAP_KID, type SigningKeyInfo } from '@matchmesh/protocol';
import { z } from 'zod';
import { errorMessage } from './errors.ts';
import { type ClusterKeys, clusterKeys } from './keys.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RedisConnection, type RedisSource } from './redis.ts';

/**
 * The cluster's token signing keys, kept in Redis. The bootstrap key `k0` is
 * every node's MM_TOKEN_SECRET and is never written to Redis (only when it was
 * first seen, and whether it is retired). A rotation adds a random 256-bit key
 * `k<n>` and makes it the signing key; the previous one keeps verifying until
 * ops retire it. Secrets are stored encrypted (AES-256-GCM, key derived from
 * the cluster secret, the kid as associated data): a Redis dump or a replica
 * alone does not let anyone mint tokens.
 */

export interface SigningKeyStoreOptions {
  redis: RedisSource;
  cluster: string;
  /** MM_CLUSTER_SECRET: the store's encryption key derives from it, so every node must share it. */
  clusterSecret: string;
  logger?: Logger;
}

/** A key as the store holds it; `secret` absent for the bootstrap key, for retired keys, and when it fails to decrypt. */
export interface StoredSigningKey extends SigningKeyInfo {
  secret?: string;
}

export type RetireResult = { ok: true; key: SigningKeyInfo } | { ok: false; reason: 'unknown' | 'signing' };

const StoredRecord = z.object({ createdAt: z.number(), secret: z.string().optional() });

/** Retire a key unless it signs or is unknown; its secret is dropped (a retired key never verifies again). */
const RETIRE_LUA = `
local signing = redis.call('GET', KEYS[1]) or ARGV[2]
if ARGV[1] == signing then return 'signing' end
local record = redis.call('HGET', KEYS[2], ARGV[1])
if not record and ARGV[1] ~= ARGV[2] then return 'unknown' end
redis.call('SADD', KEYS[3], ARGV[1])
if ARGV[1] ~= ARGV[2] then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
return 'ok'
`;

export class SigningKeyStore {
  private readonly conn: RedisConnection;
  private readonly keys: ClusterKeys;
  private readonly cipherKey: Buffer;
  private readonly logger: Logger;

  constructor(options: SigningKeyStoreOptions) {
    this.logger = options.logger ?? silentLogger;
    this.conn = new RedisConnection(options.redis, this.logger, 'matchmesh-keys');
    this.keys = clusterKeys(options.cluster);
    this.cipherKey = Buffer.from(
      hkdfSync('sha256', options.clusterSecret, 'matchmesh signing keys', options.cluster, 32),
    );
  }

  /** Note when the bootstrap key was first seen (its createdAt), once per cluster. */
  async recordBootstrap(now = Date.now()): Promise<void> {
    await this.conn.run('HSETNX signing-keys', (c) =>
      c.hsetnx(this.keys.signingKeys, BOOTSTRAP_KID, JSON.stringify({ createdAt: now })),
    );
  }

  /** Every key with its state, oldest first; secrets decrypted (never the bootstrap key's, which is not stored). */
  async list(): Promise<StoredSigningKey[]> {
    const [records, signingKid, retired] = await this.conn.run('read signing keys', async (c) => {
      const res = await c
        .multi()
        .hgetall(this.keys.signingKeys)
        .get(this.keys.signingKid)
        .smembers(this.keys.retiredKids)
        .exec();
      if (!res) throw new Error('transaction aborted');
      for (const [err] of res) if (err) throw err;
      return [res[0]![1] as Record<string, string>, res[1]![1] as string | null, res[2]![1] as string[]];
    });
    const signing = signingKid ?? BOOTSTRAP_KID;
    const keys: StoredSigningKey[] = [];
    if (!(BOOTSTRAP_KID in records)) records[BOOTSTRAP_KID] = JSON.stringify({ createdAt: 0 });
    for (const [kid, json] of Object.entries(records)) {
      const record = parseRecord(json);
      if (!record) {
        this.logger.error({ kid }, 'signing key record is malformed; the key is left out');
        continue;
      }
      const state = retired.includes(kid) ? 'retired' : kid === signing ? 'signing' : 'verify';
      const key: StoredSigningKey = { kid, createdAt: record.createdAt, state };
      if (record.secret && state !== 'retired') {
        try {
          key.secret = this.decrypt(kid, record.secret);
        } catch (err) {
          this.logger.error(
            { kid, err: errorMessage(err) },
            'signing key does not decrypt (is MM_CLUSTER_SECRET the same on every node?); its tokens are refused here',
          );
        }
      }
      keys.push(key);
    }
    return keys.sort((a, b) => a.createdAt - b.createdAt || kidNumber(a.kid) - kidNumber(b.kid));
  }

  /** A new random key becomes the signing key; the previous one keeps verifying. Answers it with its secret. */
  async rotate(now = Date.now()): Promise<StoredSigningKey & { secret: string }> {
    await this.recordBootstrap(now);
    const n = await this.conn.run('INCR signing-key-seq', (c) => c.incr(this.keys.signingKeySeq));
    const kid = `k${n}`;
    const secret = randomBytes(32).toString('base64url');
    const record = JSON.stringify({ createdAt: now, secret: this.encrypt(kid, secret) });
    await this.conn.run('rotate signing key', async (c) => {
      const res = await c.multi().hset(this.keys.signingKeys, kid, record).set(this.keys.signingKid, kid).exec();
      for (const [err] of res ?? []) if (err) throw err;
    });
    this.logger.info({ kid }, 'token signing key rotated');
    return { kid, createdAt: now, state: 'signing', secret };
  }

  /** Retire `kid`: refused everywhere from the nodes' next reload. The signing key cannot be retired. */
  async retire(kid: string): Promise<RetireResult> {
    const now = Date.now();
    const outcome = await this.conn.run('retire signing key', async (c) => {
      // The retired record keeps its createdAt and loses its secret.
      const existing = parseRecord((await c.hget(this.keys.signingKeys, kid)) ?? '');
      const stripped = JSON.stringify({ createdAt: existing?.createdAt ?? now });
      return (await c.eval(
        RETIRE_LUA,
        3,
        this.keys.signingKid,
        this.keys.signingKeys,
        this.keys.retiredKids,
        kid,
        BOOTSTRAP_KID,
        stripped,
      )) as string;
    });
    if (outcome === 'unknown' || outcome === 'signing') return { ok: false, reason: outcome };
    this.logger.info({ kid }, 'token signing key retired');
    const key = (await this.list()).find((k) => k.kid === kid);
    return { ok: true, key: { kid, createdAt: key?.createdAt ?? now, state: 'retired' } };
  }

  async close(): Promise<void> {
    await this.conn.close();
  }

  private encrypt(kid: string, secret: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.cipherKey, iv);
    cipher.setAAD(Buffer.from(kid));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  private decrypt(kid: string, sealed: string): string {
    const raw = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.cipherKey, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(kid));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}

function parseRecord(json: string): z.infer<typeof StoredRecord> | undefined {
  try {
    const parsed = StoredRecord.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** `k12` → 12, for a stable order among keys created in the same millisecond. */
function kidNumber(kid: string): number {
  const n = Number(kid.slice(1));
  return Number.isFinite(n) ? n : 0;
}
