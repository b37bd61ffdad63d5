import { RegionName, StreamId } from '@matchmesh/protocol';
import { type DirectoryScripts, defineDirectoryScripts } from './directory-scripts.ts';
import { ClusterError } from './errors.ts';
import { type ClusterKeys, clusterKeys } from './keys.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RedisConnection, type RedisSource } from './redis.ts';

export type IngestRole = 'primary' | 'backup';

export interface IngestEntry {
  nodeId: string;
  role: IngestRole;
  /** When this node became the stream's ingest (ms since epoch). */
  since: number;
}

/** A region-copy claim held by `nodeId`; pass it back to renew()/refresh()/release(). */
export interface RegionClaim {
  stream: string;
  region: string;
  nodeId: string;
  ttlMs: number;
  /**
   * Fencing token: a number that grows with every new win of this claim (by
   * anyone). A claim object whose token is not the current one is stale — it
   * belongs to an earlier lease — and can neither renew nor release the
   * current one. 0 when the caller did not win.
   */
  token: number;
}

/** What renew() found: our lease extended (or taken again), or someone else's. */
export type RenewResult = { held: true; claim: RegionClaim; retaken: boolean } | { held: false; winner: string };

export interface ClaimResult {
  /** The node that holds the region's copy after this call. */
  winner: string;
  /** True when that node is the caller. */
  won: boolean;
  /** The caller's claim (meaningful when won). */
  claim: RegionClaim;
}

export interface StreamEntry {
  stream: string;
  ingest: IngestEntry | null;
  /** Regions whose copy is currently claimed, and by whom. Sorted by region. */
  regions: { region: string; nodeId: string }[];
}

export interface StreamDirectoryOptions {
  redis: RedisSource;
  cluster: string;
  logger?: Logger;
}

/** How long a claim's fence counter outlives its last win (see directory-scripts.ts). */
const FENCE_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Where each stream enters the mesh and which relay holds each region's
 * single copy. Deliberately lean: no scores, no viewer counts — those live on
 * the nodes, which know them first-hand.
 */
export class StreamDirectory {
  readonly cluster: string;
  private readonly conn: RedisConnection;
  /** conn's client with the directory's Lua scripts registered on it. */
  private readonly scripts: DirectoryScripts;
  private readonly keys: ClusterKeys;
  private readonly logger: Logger;

  constructor(options: StreamDirectoryOptions) {
    this.cluster = options.cluster;
    this.keys = clusterKeys(options.cluster);
    this.logger = options.logger ?? silentLogger;
    this.conn = new RedisConnection(options.redis, this.logger, `mm-directory-${options.cluster}`);
    this.scripts = defineDirectoryScripts(this.conn.client);
  }

  // -------------------------------------------------------------------- ingest

  /**
   * Record that `nodeId` is where `stream` enters the mesh. Last writer wins:
   * a backup taking over simply overwrites the primary. `ttlMs` (optional)
   * makes the entry expire unless re-set, for ingests that refresh it.
   */
  async setIngest(stream: string, nodeId: string, options: { role: IngestRole; ttlMs?: number }): Promise<void> {
    checkStream(stream);
    checkNodeId(nodeId);
    if (options.role !== 'primary' && options.role !== 'backup') {
      throw new ClusterError('bad_request', `ingest role must be primary or backup, got ${String(options.role)}`);
    }
    await this.conn.run('set ingest', () =>
      this.scripts.mmDirectorySetIngest(
        this.keys.ingest(stream),
        this.keys.streams,
        nodeId,
        options.role,
        String(Date.now()),
        stream,
        String(Math.max(0, Math.floor(options.ttlMs ?? 0))),
      ),
    );
    this.logger.info({ stream, nodeId, role: options.role }, 'ingest set');
  }

  async getIngest(stream: string): Promise<IngestEntry | null> {
    checkStream(stream);
    const [nodeId, role, since] = await this.conn.run('get ingest', (c) =>
      c.hmget(this.keys.ingest(stream), 'nodeId', 'role', 'since'),
    );
    return parseIngest(nodeId ?? null, role ?? null, since ?? null);
  }

  /** Remove the stream's ingest entry; with `nodeId`, only if that node holds it. */
  async removeIngest(stream: string, nodeId?: string): Promise<boolean> {
    checkStream(stream);
    const removed = await this.conn.run('remove ingest', () =>
      this.scripts.mmDirectoryRemoveIngest(this.keys.ingest(stream), nodeId ?? ''),
    );
    return Number(removed) === 1;
  }

  // ------------------------------------------------------------ ingest copies

  /**
   * Redundant ingest: `nodeId` receives the stream as its `role` feed. Unlike
   * setIngest (the one *active* ingest, which a relay overwrites when it
   * switches), both feeds are listed here so a relay can pull both copies.
   */
  async setIngestCopy(stream: string, nodeId: string, role: IngestRole): Promise<void> {
    checkStream(stream);
    checkNodeId(nodeId);
    await this.conn.run('set ingest copy', (c) => c.hset(this.keys.ingestCopies(stream), role, nodeId));
  }

  /**
   * Remove the `role` copy if `nodeId` still holds it (one script: a get then
   * a delete could remove a copy another node set in between). True if removed.
   */
  async removeIngestCopy(stream: string, nodeId: string, role: IngestRole): Promise<boolean> {
    checkStream(stream);
    const removed = await this.conn.run('remove ingest copy', () =>
      this.scripts.mmDirectoryRemoveIngestCopy(this.keys.ingestCopies(stream), role, nodeId),
    );
    return Number(removed) === 1;
  }

  async getIngestCopies(stream: string): Promise<{ primary: string | null; backup: string | null }> {
    checkStream(stream);
    const [primary, backup] = await this.conn.run('get ingest copies', (c) =>
      c.hmget(this.keys.ingestCopies(stream), 'primary', 'backup'),
    );
    return { primary: primary ?? null, backup: backup ?? null };
  }

  // ------------------------------------------------------------- region claims

  /**
   * Try to become the node that receives `region`'s one copy of `stream`.
   * Atomic: among any number of concurrent callers exactly one wins; the
   * others learn the winner and pipe from it. The winner must refresh() the
   * claim well within `ttlMs` (e.g. every ttl/3) or lose it.
   *
   * Idempotent for the holder: calling again while holding the claim returns
   * won = true and extends it. A node must therefore single-flight its own
   * concurrent joins for a stream (one pipe per node), which it needs anyway.
   */
  async claimRegionCopy(stream: string, region: string, nodeId: string, ttlMs: number): Promise<ClaimResult> {
    checkStream(stream);
    checkRegion(region);
    checkNodeId(nodeId);
    checkTtl(ttlMs);
    const [winner, token] = await this.conn.run('claim region copy', () =>
      this.scripts.mmDirectoryClaim(
        this.keys.claim(stream, region),
        this.keys.streams,
        this.keys.regions(stream),
        this.keys.claimFence(stream, region),
        nodeId,
        String(Math.floor(ttlMs)),
        stream,
        region,
        String(FENCE_TTL_MS),
      ),
    );
    const holder = String(winner);
    const won = holder === nodeId;
    if (won) this.logger.debug({ stream, region, nodeId, token }, 'region copy claimed');
    return { winner: holder, won, claim: { stream, region, nodeId, ttlMs, token: won ? Number(token) : 0 } };
  }

  /**
   * Renew a held lease (call it every ttl/3 or so: two renewals may fail
   * before it lapses). Fenced by the claim's token. A lease that lapsed with
   * nobody else taking it is taken again under a new token (`retaken`); one
   * that someone else holds now is reported with its holder, and the caller
   * must step down (stop pulling from the ingest, pull from the winner).
   */
  async renew(claim: RegionClaim): Promise<RenewResult> {
    checkTtl(claim.ttlMs);
    const [status, holder, token] = await this.conn.run('renew claim', () =>
      this.scripts.mmDirectoryRenew(
        this.keys.claim(claim.stream, claim.region),
        this.keys.streams,
        this.keys.regions(claim.stream),
        this.keys.claimFence(claim.stream, claim.region),
        claim.nodeId,
        String(Math.floor(claim.ttlMs)),
        String(claim.token),
        String(FENCE_TTL_MS),
        claim.stream,
        claim.region,
      ),
    );
    if (Number(status) === 0) {
      this.logger.warn(
        {
          stream: claim.stream,
          region: claim.region,
          nodeId: claim.nodeId,
          token: claim.token,
          holder: String(holder),
        },
        'region claim held by another lease',
      );
      return { held: false, winner: String(holder) };
    }
    const retaken = Number(status) === 2;
    if (retaken) {
      this.logger.warn(
        { stream: claim.stream, region: claim.region, nodeId: claim.nodeId, token: Number(token) },
        'region claim had lapsed; taken again',
      );
    }
    return { held: true, retaken, claim: { ...claim, token: Number(token) } };
  }

  /** Who holds `region`'s copy of `stream`, or null. */
  async getRegionHolder(stream: string, region: string): Promise<string | null> {
    checkStream(stream);
    checkRegion(region);
    return this.conn.run('get region holder', (c) => c.get(this.keys.claim(stream, region)));
  }

  /** Extend a claim. False means it is no longer ours (expired and taken, or forgotten). */
  async refresh(claim: RegionClaim): Promise<boolean> {
    checkTtl(claim.ttlMs);
    const ok = await this.conn.run('refresh claim', () =>
      this.scripts.mmDirectoryRefresh(
        this.keys.claim(claim.stream, claim.region),
        claim.nodeId,
        String(Math.floor(claim.ttlMs)),
      ),
    );
    if (Number(ok) !== 1) {
      this.logger.warn({ stream: claim.stream, region: claim.region, nodeId: claim.nodeId }, 'region claim lost');
      return false;
    }
    return true;
  }

  /** Give a claim up; a no-op (false) unless `claim` is the current lease (holder and token). */
  async release(claim: RegionClaim): Promise<boolean> {
    const ok = await this.conn.run('release claim', () =>
      this.scripts.mmDirectoryRelease(
        this.keys.claim(claim.stream, claim.region),
        this.keys.regions(claim.stream),
        this.keys.claimFence(claim.stream, claim.region),
        claim.nodeId,
        claim.region,
        String(claim.token),
      ),
    );
    return Number(ok) === 1;
  }

  /**
   * A node died: drop every claim and ingest entry it held so the survivors
   * can re-claim at once instead of waiting for TTLs. Call it when the
   * registry no longer lists the node.
   */
  async forgetNode(nodeId: string): Promise<{ claims: number; ingests: number }> {
    checkNodeId(nodeId);
    const res = await this.conn.run('forget node', () => this.scripts.mmDirectoryForget(this.keys.prefix, nodeId));
    const out = { claims: Number(res[0]), ingests: Number(res[1]) };
    if (out.claims + out.ingests > 0) this.logger.info({ nodeId, ...out }, 'forgot dead node');
    return out;
  }

  // ------------------------------------------------------------------- listing

  /** Every stream with an ingest or a live region claim, sorted by stream id. */
  async listStreams(): Promise<StreamEntry[]> {
    const raw = await this.conn.run('list streams', () => this.scripts.mmDirectoryList(this.keys.prefix));
    const out: StreamEntry[] = [];
    for (const row of raw) {
      if (!Array.isArray(row) || row.length < 5) continue;
      const [stream, nodeId, role, since, held] = row as [unknown, unknown, unknown, unknown, unknown];
      const regions: { region: string; nodeId: string }[] = [];
      if (Array.isArray(held)) {
        for (let i = 0; i + 1 < held.length; i += 2) {
          regions.push({ region: String(held[i]), nodeId: String(held[i + 1]) });
        }
      }
      regions.sort((a, b) => a.region.localeCompare(b.region));
      out.push({
        stream: String(stream),
        ingest: parseIngest(str(nodeId), str(role), str(since)),
        regions,
      });
    }
    out.sort((a, b) => a.stream.localeCompare(b.stream));
    return out;
  }

  /** Close the connection if we opened it. Never throws. */
  async close(): Promise<void> {
    await this.conn.close();
  }
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function parseIngest(nodeId: string | null, role: string | null, since: string | null): IngestEntry | null {
  if (!nodeId) return null;
  return {
    nodeId,
    role: role === 'backup' ? 'backup' : 'primary',
    since: Number(since) || 0,
  };
}

function checkStream(stream: string): void {
  const r = StreamId.safeParse(stream);
  if (!r.success) throw new ClusterError('bad_request', `invalid stream id ${JSON.stringify(stream)}`);
}

function checkRegion(region: string): void {
  const r = RegionName.safeParse(region);
  if (!r.success) throw new ClusterError('bad_request', `invalid region ${JSON.stringify(region)}`);
}

function checkNodeId(nodeId: string): void {
  if (typeof nodeId !== 'string' || nodeId.length < 1 || nodeId.length > 64) {
    throw new ClusterError('bad_request', `invalid node id ${JSON.stringify(nodeId)}`);
  }
}

function checkTtl(ttlMs: number): void {
  if (!(ttlMs >= 1)) throw new ClusterError('bad_request', `ttlMs must be >= 1, got ${ttlMs}`);
}
