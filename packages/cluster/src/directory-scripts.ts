import type { Redis } from 'ioredis';

/*
 * The Lua scripts behind StreamDirectory (directory.ts), and their
 * registration on the ioredis client.
 *
 * Every multi-step operation is one Lua script: Redis runs a script to
 * completion before any other command, which is the whole concurrency story
 * here — no WATCH/retry loops, no locks held across round trips.
 * Scripts return numbers and strings only (never Lua booleans, whose reply
 * type differs between RESP2 and RESP3).
 *
 * The claim scripts (claim, renew, release) share one key layout:
 * KEYS[1] the claim (holder node id, PX = lease ttl), KEYS[2] the streams
 * index, KEYS[3] the stream's regions index, KEYS[4] the claim's fence
 * counter (release passes only the claim, the regions index and the fence).
 */

/**
 * Take a claim nobody holds, for `node`, and return its new fencing token.
 * Composed into CLAIM_LUA and RENEW_LUA (each calls it only after reading
 * KEYS[1] empty, in the same script), so a first win and a re-take of a lapsed
 * lease are the same steps.
 *
 * KEYS[4] is the claim's fence counter: INCR on every new win, so the token a
 * winner gets is larger than any earlier holder's. It outlives the claim
 * (`fence_ttl`, a day, renewed on each win) so tokens keep growing across
 * holders. The stream and region go into the indexes listStreams/forgetNode walk.
 */
const TAKE_FREE_CLAIM_LUA = `
local function take_free_claim(node, ttl, stream, region, fence_ttl)
  local token = redis.call('INCR', KEYS[4])
  redis.call('PEXPIRE', KEYS[4], fence_ttl)
  redis.call('SET', KEYS[1], node, 'PX', ttl)
  redis.call('SADD', KEYS[2], stream)
  redis.call('SADD', KEYS[3], region)
  return token
end
`;

/**
 * Atomically: SET-if-absent plus bookkeeping. Under a join storm every relay
 * of a region calls this at once; Redis serialises the calls, the first finds
 * the key empty and wins (new token), all later ones read the winner and the
 * current token. The owner calling again is a refresh (idempotent, same
 * token), not a second win for someone else.
 * ARGV: node, ttl ms, stream, region, fence ttl ms. Returns { holder, token }.
 */
const CLAIM_LUA = `${TAKE_FREE_CLAIM_LUA}
local cur = redis.call('GET', KEYS[1])
if not cur then
  return { ARGV[1], take_free_claim(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]) }
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return { cur, tonumber(redis.call('GET', KEYS[4]) or '0') }
`;

/**
 * Atomically, compare-and-expire: only the holder may extend its claim (not
 * fenced; renew() is the fenced form).
 * KEYS: claim. ARGV: node, ttl ms. Returns 1 extended, 0 not ours.
 */
const REFRESH_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/**
 * Atomically renew a lease, fenced: extended only if we hold it *with this
 * token*; taken again (new token) if nobody holds it — it lapsed while we
 * were stalled, or Redis lost it, or a peer forgot us — since we still have
 * the copy; and reported as lost, with the holder, if anyone else (or a newer
 * lease of ours) holds it. No other client can take the claim between the
 * check and the write.
 * ARGV: node, ttl ms, token, fence ttl ms, stream, region.
 * Returns { status, holder, token }: 1 renewed, 2 re-taken, 0 lost.
 */
const RENEW_LUA = `${TAKE_FREE_CLAIM_LUA}
local cur = redis.call('GET', KEYS[1])
local fence = tonumber(redis.call('GET', KEYS[4]) or '0')
if cur == ARGV[1] and fence == tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return { 1, cur, fence }
end
if not cur then
  return { 2, ARGV[1], take_free_claim(ARGV[1], ARGV[2], ARGV[5], ARGV[6], ARGV[4]) }
end
return { 0, cur, fence }
`;

/**
 * Atomically, compare-and-delete, fenced: only the holder of the current
 * lease (node and token) may give it up; a stale claim object is a no-op.
 * KEYS: claim, regions index, fence. ARGV: node, region, token. Returns 1 released, 0 not.
 */
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] and tonumber(redis.call('GET', KEYS[3]) or '0') == tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
`;

/**
 * Atomically replace the ingest entry (no reader sees a mix of the old and
 * new holder's fields) and index the stream.
 * KEYS: ingest, streams index. ARGV: node, role, since, stream, ttl ms (0 = no expiry).
 */
const SET_INGEST_LUA = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'nodeId', ARGV[1], 'role', ARGV[2], 'since', ARGV[3])
if tonumber(ARGV[5]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
redis.call('SADD', KEYS[2], ARGV[4])
return 1
`;

/**
 * Atomically remove the ingest entry, optionally only if a given node holds
 * it (a new ingest written in between is never removed by the old one).
 * KEYS: ingest. ARGV: node or '' for any. Returns 1 removed, 0 not.
 */
const REMOVE_INGEST_LUA = `
local holder = redis.call('HGET', KEYS[1], 'nodeId')
if not holder then return 0 end
if ARGV[1] ~= '' and holder ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

/**
 * Atomically, compare-and-delete one field of the ingest copies: only the
 * node that holds the role may clear it (a get then a delete could remove a
 * copy another node set in between).
 * KEYS: ingest copies. ARGV: role, node. Returns 1 removed, 0 not.
 */
const REMOVE_INGEST_COPY_LUA = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
`;

/**
 * Walk streams → regions → claims in one consistent snapshot, dropping index
 * entries whose keys expired. The index is small (live streams × regions), so
 * walking it on every admin listing is cheaper than keeping a second index
 * exact. ARGV: key prefix.
 * Returns rows { stream, ingest node, role, since, { region, holder, ... } } ('' = none).
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

/**
 * Atomically drop every claim and ingest entry held by one node, in one pass:
 * exactly the entries it holds at that instant, never one another node has
 * just taken. ARGV: key prefix, node. Returns { claims, ingests } dropped.
 */
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
 * The scripts as ioredis custom commands, KEYS first then ARGV, typed with
 * the reply shapes of the Lua above. The names carry an `mmDirectory` prefix
 * because the client may be borrowed (shared with the registry).
 */
export interface DirectoryScripts {
  mmDirectoryClaim(
    claim: string,
    streams: string,
    regions: string,
    fence: string,
    nodeId: string,
    ttlMs: string,
    stream: string,
    region: string,
    fenceTtlMs: string,
  ): Promise<[holder: string, token: number]>;
  mmDirectoryRefresh(claim: string, nodeId: string, ttlMs: string): Promise<number>;
  mmDirectoryRenew(
    claim: string,
    streams: string,
    regions: string,
    fence: string,
    nodeId: string,
    ttlMs: string,
    token: string,
    fenceTtlMs: string,
    stream: string,
    region: string,
  ): Promise<[status: number, holder: string, token: number]>;
  mmDirectoryRelease(
    claim: string,
    regions: string,
    fence: string,
    nodeId: string,
    region: string,
    token: string,
  ): Promise<number>;
  mmDirectorySetIngest(
    ingest: string,
    streams: string,
    nodeId: string,
    role: string,
    since: string,
    stream: string,
    ttlMs: string,
  ): Promise<number>;
  mmDirectoryRemoveIngest(ingest: string, nodeId: string): Promise<number>;
  mmDirectoryRemoveIngestCopy(ingestCopies: string, role: string, nodeId: string): Promise<number>;
  mmDirectoryList(prefix: string): Promise<unknown[]>;
  mmDirectoryForget(prefix: string, nodeId: string): Promise<[claims: number, ingests: number]>;
}

const DEFINITIONS: Record<keyof DirectoryScripts, { numberOfKeys: number; lua: string }> = {
  mmDirectoryClaim: { numberOfKeys: 4, lua: CLAIM_LUA },
  mmDirectoryRefresh: { numberOfKeys: 1, lua: REFRESH_LUA },
  mmDirectoryRenew: { numberOfKeys: 4, lua: RENEW_LUA },
  mmDirectoryRelease: { numberOfKeys: 3, lua: RELEASE_LUA },
  mmDirectorySetIngest: { numberOfKeys: 2, lua: SET_INGEST_LUA },
  mmDirectoryRemoveIngest: { numberOfKeys: 1, lua: REMOVE_INGEST_LUA },
  mmDirectoryRemoveIngestCopy: { numberOfKeys: 1, lua: REMOVE_INGEST_COPY_LUA },
  // The walks build their keys from the prefix inside the script, so they declare none.
  mmDirectoryList: { numberOfKeys: 0, lua: LIST_LUA },
  mmDirectoryForget: { numberOfKeys: 0, lua: FORGET_LUA },
};

/**
 * Register the scripts on `client` (defineCommand: EVALSHA, falling back to
 * EVAL once per connection when Redis does not have the script cached, e.g.
 * after a restart) and return the client typed with them. Defining is local
 * to the client object (nothing is sent to Redis), and defining again, for a
 * second directory on a shared client, is harmless.
 */
export function defineDirectoryScripts(client: Redis): DirectoryScripts {
  for (const [name, definition] of Object.entries(DEFINITIONS)) {
    client.defineCommand(name, definition);
  }
  if (!hasDirectoryScripts(client)) throw new Error('ioredis did not define the directory scripts');
  return client;
}

/** defineCommand adds the methods at run time; this checks they are there (and types them without a cast). */
function hasDirectoryScripts(client: Redis): client is Redis & DirectoryScripts {
  return Object.keys(DEFINITIONS).every((name) => typeof Reflect.get(client, name) === 'function');
}
