import { randomBytes } from 'node:crypto';
import { type ReportSummary, type StoredReport, StoredReport as StoredReportSchema } from '@matchmesh/protocol';
import { keyPrefix } from './keys.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RedisConnection, type RedisSource } from './redis.ts';

export interface ReportStoreOptions {
  redis: RedisSource;
  cluster: string;
  /** How long a report is kept (MM_REPORT_TTL_HOURS). */
  ttlMs: number;
  logger?: Logger;
}

/** A fixed-window counter's verdict: allowed, or wait `retryAfterMs`. */
export type RateVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

/** One rate bucket: at most `limit` reports per `windowMs` under `key`. */
export interface RateBucket {
  key: string;
  limit: number;
  windowMs: number;
}

/**
 * INCR the window's counter, start its expiry on the first hit, answer the
 * count and the time left: one round trip, atomic, so nodes of the cluster
 * share one count per bucket.
 */
const RATE_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
`;

/**
 * Viewers' problem reports, kept in Redis for a while (a match night and its
 * follow-up), readable from any node:
 *
 * - `report:<id>`: HASH { summary, figures } (JSON), PEXPIRE = the TTL;
 * - `reports`: ZSET id → time, the index newest-first listing reads; entries
 *   whose hash has expired are dropped as they are met;
 * - `report-rate:<bucket>`: fixed-window counters of the submit rate limit.
 */
export class ReportStore {
  readonly #conn: RedisConnection;
  readonly #prefix: string;
  readonly #ttlMs: number;

  constructor(options: ReportStoreOptions) {
    this.#prefix = keyPrefix(options.cluster);
    this.#ttlMs = options.ttlMs;
    this.#conn = new RedisConnection(options.redis, options.logger ?? silentLogger, `mm-reports-${options.cluster}`);
  }

  /** Store a report under a new id (time-ordered: ids sort like their times). */
  async add(report: Omit<StoredReport, 'id'>): Promise<StoredReport> {
    const id = `${report.at.toString(36)}-${randomBytes(5).toString('hex')}`;
    const { figures, ...rest } = report;
    const summary: ReportSummary = { id, ...rest };
    const key = this.#report(id);
    await this.#conn.run('report add', (c) =>
      c
        .multi()
        .hset(key, 'summary', JSON.stringify(summary), 'figures', JSON.stringify(figures))
        .pexpire(key, this.#ttlMs)
        .zadd(this.#index, report.at, id)
        // The index forgets what the hashes have already forgotten.
        .zremrangebyscore(this.#index, '-inf', Date.now() - this.#ttlMs)
        .exec(),
    );
    return { ...summary, figures };
  }

  /** The newest `limit` reports (summaries only), newest first. */
  async list(limit = 100): Promise<ReportSummary[]> {
    const ids = await this.#conn.run('report list', (c) => c.zrevrange(this.#index, 0, limit - 1));
    if (ids.length === 0) return [];
    const summaries = await this.#conn.run('report list', async (c) => {
      const pipeline = c.pipeline();
      for (const id of ids) pipeline.hget(this.#report(id), 'summary');
      return (await pipeline.exec()) ?? [];
    });
    const out: ReportSummary[] = [];
    const gone: string[] = [];
    summaries.forEach(([err, json], i) => {
      if (!err && typeof json === 'string') out.push(JSON.parse(json) as ReportSummary);
      else gone.push(ids[i]!);
    });
    if (gone.length > 0) await this.#conn.run('report prune', (c) => c.zrem(this.#index, ...gone));
    return out;
  }

  /** A whole report, or undefined when unknown or expired. */
  async get(id: string): Promise<StoredReport | undefined> {
    const [summary, figures] = await this.#conn.run('report get', (c) =>
      c.hmget(this.#report(id), 'summary', 'figures'),
    );
    if (!summary || !figures) return undefined;
    // Validated on the way out too: a hand-edited or older entry fails here, not in a page.
    return StoredReportSchema.parse({ ...JSON.parse(summary), figures: JSON.parse(figures) });
  }

  /**
   * Count one submission in every bucket; refused when any bucket is over
   * its limit, with the longest wait among those over.
   */
  async hit(buckets: RateBucket[]): Promise<RateVerdict> {
    const results = await this.#conn.run('report rate', async (c) => {
      const pipeline = c.pipeline();
      for (const b of buckets) pipeline.eval(RATE_SCRIPT, 1, `${this.#prefix}report-rate:${b.key}`, b.windowMs);
      return (await pipeline.exec()) ?? [];
    });
    let retryAfterMs = 0;
    results.forEach(([err, reply], i) => {
      if (err) throw err;
      const [count, ttl] = reply as [number, number];
      if (count > buckets[i]!.limit) retryAfterMs = Math.max(retryAfterMs, ttl);
    });
    return retryAfterMs > 0 ? { allowed: false, retryAfterMs } : { allowed: true };
  }

  async close(): Promise<void> {
    await this.#conn.close();
  }

  #report(id: string): string {
    return `${this.#prefix}report:${id}`;
  }

  get #index(): string {
    return `${this.#prefix}reports`;
  }
}
