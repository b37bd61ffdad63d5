/** Redis scripts of the node registry (NodeRegistry), one round trip each. */

/**
 * One round trip per heartbeat: write the record with its TTL, make sure the
 * index knows the id, and report (a) whether the record was already there —
 * if not, Redis lost it and this heartbeat is a re-registration — and (b) the
 * draining flag, which operators set from elsewhere.
 *
 * ARGV[4] is only set on the first heartbeat after register(): a freshly
 * started process decides its own draining state, it does not inherit the
 * flag of a previous process with the same id.
 */
export const HEARTBEAT_LUA = `
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if ARGV[4] == 'set' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[5])
elseif ARGV[4] == 'clear' then
  redis.call('DEL', KEYS[3])
end
return { existed, redis.call('EXISTS', KEYS[3]) }
`;

/**
 * All live records plus their draining flag, pruning index entries whose
 * record expired. Atomic, so a node re-registering concurrently is never
 * pruned by mistake.
 */
export const LIST_LUA = `
local ids = redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('GET', ARGV[1] .. 'node:' .. id)
  if v then
    out[#out + 1] = id
    out[#out + 1] = v
    out[#out + 1] = redis.call('EXISTS', ARGV[1] .. 'draining:' .. id)
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
`;

/**
 * The drain flag outlives a crash (an operator drained the node for a reason)
 * but not forever: a node id that never comes back must not leave garbage.
 */
export const DRAIN_FLAG_TTL_MS = 24 * 60 * 60 * 1000;
