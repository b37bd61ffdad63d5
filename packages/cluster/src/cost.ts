import type { CostResponse, RegionBytes, RegionCost } from '@matchmesh/protocol';
import type { Redis } from 'ioredis';
import { ClusterError } from './errors.ts';
import { type ClusterKeys, clusterKeys } from './keys.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RedisConnection, type RedisSource } from './redis.ts';

/** What carried a byte to its receiver (RegionBytes' fields). */
export const COST_CARRIERS = ['webrtc', 'hls', 'pipes'] as const;
export type CostCarrier = (typeof COST_CARRIERS)[number];

/** Bytes to add, per region and carrier: one node's deltas since its last flush. */
export type CostDeltas = ReadonlyMap<string, Partial<Record<CostCarrier, number>>>;

/** The cluster's counters as the ledger holds them. */
export interface CostTotals {
  /** When the counters started (first bytes ever added, or the last reset); ms since the epoch. */
  since: number;
  regions: Map<string, RegionBytes>;
}

export interface CostLedgerOptions {
  redis: RedisSource;
  cluster: string;
  logger?: Logger;
}

const REGION = /^[a-z0-9][a-z0-9-]*$/;

export function emptyBytes(): RegionBytes {
  return { webrtc: 0, hls: 0, pipes: 0 };
}

/**
 * The night's bytes per region and carrier, kept in Redis so they outlive any
 * node: each node adds its own deltas (HINCRBY, on its heartbeat cadence) and
 * any node reads the cluster's figure. A node restarting loses at most the
 * bytes of one flush period that it had not yet added; it never takes back
 * what it added. Prices are not stored: whoever reads applies its own
 * (MM_REGION_USD_PER_GB, the same on every node).
 */
export class CostLedger {
  readonly #conn: RedisConnection;
  readonly #keys: ClusterKeys;

  constructor(options: CostLedgerOptions) {
    this.#keys = clusterKeys(options.cluster);
    this.#conn = new RedisConnection(options.redis, options.logger ?? silentLogger, `mm-cost-${options.cluster}`);
  }

  /**
   * Add one node's deltas atomically (one MULTI): all or nothing, so a caller
   * that gets an error keeps its deltas and adds them next time. Zero and
   * negative deltas are skipped (counters only grow).
   */
  async add(deltas: CostDeltas): Promise<void> {
    const fields: [string, number][] = [];
    for (const [region, bytes] of deltas) {
      if (!REGION.test(region)) throw new ClusterError('bad_request', `invalid region ${JSON.stringify(region)}`);
      for (const carrier of COST_CARRIERS) {
        const n = Math.floor(bytes[carrier] ?? 0);
        if (n > 0) fields.push([`${region}:${carrier}`, n]);
      }
    }
    if (fields.length === 0) return;
    const key = this.#keys.cost;
    await this.#conn.run('add cost', async (c) => {
      const tx = c.multi().hsetnx(key, 'since', String(Date.now()));
      for (const [field, n] of fields) tx.hincrby(key, field, n);
      throwOnFailure(await tx.exec());
    });
  }

  /** The cluster's counters (since: now when nothing was ever added). */
  async read(): Promise<CostTotals> {
    const hash = await this.#conn.run('read cost', (c) => c.hgetall(this.#keys.cost));
    const regions = new Map<string, RegionBytes>();
    let since = Date.now();
    for (const [field, value] of Object.entries(hash)) {
      if (field === 'since') {
        since = Number(value) || since;
        continue;
      }
      const at = field.lastIndexOf(':');
      const region = field.slice(0, at);
      const carrier = field.slice(at + 1) as CostCarrier;
      if (!COST_CARRIERS.includes(carrier)) continue;
      const bytes = regions.get(region) ?? emptyBytes();
      bytes[carrier] = Number(value) || 0;
      regions.set(region, bytes);
    }
    return { since, regions };
  }

  /** Start a new night: counters back to zero, `since` now. Deltas nodes add afterwards count towards it. */
  async reset(): Promise<number> {
    const since = Date.now();
    await this.#conn.run('reset cost', async (c: Redis) => {
      throwOnFailure(await c.multi().del(this.#keys.cost).hset(this.#keys.cost, 'since', String(since)).exec());
    });
    return since;
  }

  async close(): Promise<void> {
    await this.#conn.close();
  }
}

function throwOnFailure(results: [Error | null, unknown][] | null): void {
  if (!results) throw new Error('transaction aborted');
  const failed = results.find(([err]) => err);
  if (failed?.[0]) throw failed[0];
}

/** Prices: a GB leaving each region, and the comparison CDN's GB. */
export interface CostPrices {
  usdPerGb(region: string): number;
  cdnUsdPerGb: number;
}

/** Bytes per GB in every price: providers quote decimal gigabytes. */
export const BYTES_PER_GB = 1e9;

/**
 * The night's running cost from the ledger's counters: every counted byte at
 * its region's price, and the bytes to viewers (WebRTC and HLS — a CDN would
 * carry those, not the region copies) at the CDN's price for comparison.
 */
export function priceCost(totals: CostTotals, prices: CostPrices): CostResponse {
  const regions: RegionCost[] = [...totals.regions.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([region, bytes]) => {
      const usdPerGb = prices.usdPerGb(region);
      return {
        region,
        bytes: { ...bytes },
        usdPerGb,
        usd: ((bytes.webrtc + bytes.hls + bytes.pipes) / BYTES_PER_GB) * usdPerGb,
        cdnUsd: ((bytes.webrtc + bytes.hls) / BYTES_PER_GB) * prices.cdnUsdPerGb,
      };
    });
  const total = { bytes: emptyBytes(), usd: 0, cdnUsd: 0 };
  for (const r of regions) {
    for (const c of COST_CARRIERS) total.bytes[c] += r.bytes[c];
    total.usd += r.usd;
    total.cdnUsd += r.cdnUsd;
  }
  return { currency: 'USD', cdnUsdPerGb: prices.cdnUsdPerGb, since: totals.since, regions, total };
}
