import { RegionName, StreamId } from '@matchmesh/protocol';
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

/*
 * Every multi-step operation is one Lua script: Redis runs a script to
 * completion before any other command, which is the whole concurrency story
 * here — no WATCH/retry loops, no locks held across round trips.
 * Scripts return numbers and strings only (never Lua booleans, whose reply
 * type differs between RESP2 and RESP3).
 */

/**
 * SET-if-absent plus bookkeeping. Under a join storm every relay of a region
 * calls this at once; Redis serialises the calls, the first finds the key
 * empty and wins, all later ones read the winner. The owner calling again is
 * a refresh (idempotent), not a second win for someone else.
 */
/*
 * KEYS[4] is the claim's fence counter: INCR on every new win, so the token a
 * winner gets is larger than any earlier holder's. It outlives the claim (a
 * day, renewed on each win) so tokens keep growing across holders.
 */
const CLAIM_LUA = `
local cur = redis.call('GET', KEYS[1])
if not cur then
  local token = redis.call('INCR', KEYS[4])
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[4])
  return { ARGV[1], token }
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return { cur, tonumber(redis.call('GET', KEYS[4]) or '0') }
`;

/** Compare-and-expire: only the holder may extend its claim. */
const REFRESH_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/**
 * Renew a lease, fenced: extended only if we hold it *with this token*; taken
 * again (new token) if nobody holds it — it lapsed while we were stalled, or
 * Redis lost it, or a peer forgot us — since we still have the copy; and
 * reported as lost, with the holder, if anyone else (or a newer lease of
 * ours) holds it. Returns { status, holder, token }: 1 renewed, 2 re-taken, 0 lost.
 */
const RENEW_LUA = `
local cur = redis.call('GET', KEYS[1])
local fence = tonumber(redis.call('GET', KEYS[4]) or '0')
if cur == ARGV[1] and fence == tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return { 1, cur, fence }
end
if not cur then
  local token = redis.call('INCR', KEYS[4])
  redis.call('PEXPIRE', KEYS[4], ARGV[4])
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[5])
  redis.call('SADD', KEYS[3], ARGV[6])
  return { 2, ARGV[1], token }
end
return { 0, cur, fence }
`;

/** Compare-and-delete, fenced: only the holder of the current lease may give it up. */
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] and tonumber(redis.call('GET', KEYS[3]) or '0') == tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
`;

/** How long a claim's fence counter outlives its last win. */
const FENCE_TTL_MS = 24 * 60 * 60 * 1000;

const SET_INGEST_LUA = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'nodeId', ARGV[1], 'role', ARGV[2], 'since', ARGV[3])
if tonumber(ARGV[5]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
redis.call('SADD', KEYS[2], ARGV[4])
return 1
`;

/** Remove the ingest entry, optionally only if a given node holds it. */
const REMOVE_INGEST_LUA = `
local holder = redis.call('HGET', KEYS[1], 'nodeId')
if not holder then return 0 end
if ARGV[1] ~= '' and holder ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

/** Compare-and-delete one field of the ingest copies: only the node that holds the role may clear it. */
const REMOVE_INGEST_COPY_LUA = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
`;

/**
 * Walk streams → regions → claims, dropping index entries whose keys
 * expired. The index is small (live streams × regions), so walking it on
 * every admin listing is cheaper than keeping a second index exact.
 */
const LIST_LUA = `
local p = ARGV[1]
local out = {}
for _, s in ipairs(redis.call('SMEMBERS', p .. 'streams')) do
  local ing = redis.call('HMGET', p .. 'ingest:' .. s, 'nodeId', 'role', 'since')
  local rkey = p .. 'regions:' .. s
  local held = {}
  for _, r in ipairs(redis.call('SMEMBERS', rkey)) do
    local h = redis.call('GET', p .. 'claim:' .. s .. ':' .. r)
    if h then
      held[#held + 1] = r
      held[#held + 1] = h
    else
      redis.call('SREM', rkey, r)
    end
  end
  if (not ing[1]) and #held == 0 then
    redis.call('SREM', p .. 'streams', s)
  else
    out[#out + 1] = { s, ing[1] or '', ing[2] or '', ing[3] or '', held }
  end
end
return out
`;

/** Drop every claim and ingest entry held by one node, in one atomic pass. */
const FORGET_LUA = `
local p = ARGV[1]
local node = ARGV[2]
local claims, ingests = 0, 0
for _, s in ipairs(redis.call('SMEMBERS', p .. 'streams')) do
  local ikey = p .. 'ingest:' .. s
  if redis.call('HGET', ikey, 'nodeId') == node then
    redis.call('DEL', ikey)
    ingests = ingests + 1
  end
  local rkey = p .. 'regions:' .. s
  for _, r in ipairs(redis.call('SMEMBERS', rkey)) do
    local ckey = p .. 'claim:' .. s .. ':' .. r
    if redis.call('GET', ckey) == node then
      redis.call('DEL', ckey)
      redis.call('SREM', rkey, r)
      claims = claims + 1
    end
  end
end
return { claims, ingests }
`;

/**
 * Where each stream enters the mesh and which relay holds each region's
 * single copy. Deliberately lean: no scores, no viewer counts — those live on
 * the nodes, which know them first-hand.
 */
export class StreamDirectory {
  readonly cluster: string;
  private readonly conn: RedisConnection;
  private readonly keys: ClusterKeys;
  private readonly logger: Logger;

  constructor(options: StreamDirectoryOptions) {
    this.cluster = options.cluster;
    this.keys = clusterKeys(options.cluster);
    this.logger = options.logger ?? silentLogger;
    this.conn = new RedisConnection(options.redis, this.logger, `mm-directory-${options.cluster}`);
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
    await this.conn.run('set ingest', (c) =>
      c.eval(
        SET_INGEST_LUA,
        2,
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
    const removed = await this.conn.run('remove ingest', (c) =>
      c.eval(REMOVE_INGEST_LUA, 1, this.keys.ingest(stream), nodeId ?? ''),
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
    const removed = await this.conn.run('remove ingest copy', (c) =>
      c.eval(REMOVE_INGEST_COPY_LUA, 1, this.keys.ingestCopies(stream), role, nodeId),
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
    const [winner, token] = (await this.conn.run('claim region copy', (c) =>
      c.eval(
        CLAIM_LUA,
        4,
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
    )) as [string, number];
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
    const [status, holder, token] = (await this.conn.run('renew claim', (c) =>
      c.eval(
        RENEW_LUA,
        4,
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
    )) as [number, string, number];
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
    const ok = await this.conn.run('refresh claim', (c) =>
      c.eval(
        REFRESH_LUA,
        1,
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
    const ok = await this.conn.run('release claim', (c) =>
      c.eval(
        RELEASE_LUA,
        3,
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
    const res = (await this.conn.run('forget node', (c) => c.eval(FORGET_LUA, 0, this.keys.prefix, nodeId))) as [
      number,
      number,
    ];
    const out = { claims: Number(res[0]), ingests: Number(res[1]) };
    if (out.claims + out.ingests > 0) this.logger.info({ nodeId, ...out }, 'forgot dead node');
    return out;
  }

  // ------------------------------------------------------------------- listing

  /** Every stream with an ingest or a live region claim, sorted by stream id. */
  async listStreams(): Promise<StreamEntry[]> {
    const raw = (await this.conn.run('list streams', (c) => c.eval(LIST_LUA, 0, this.keys.prefix))) as unknown[];
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
