import { ClusterError } from './errors.ts';

/**
 * Every key and channel of a cluster lives under `mm:{<cluster>}:`. Two
 * clusters sharing one Redis (staging next to prod, parallel test runs) never
 * see each other's nodes, streams or bus messages.
 *
 * The braces are literal: they are a Redis Cluster hash tag, so all keys of
 * one matchmesh cluster hash to the same slot and our multi-key Lua scripts
 * stay valid if Redis is ever run as a Redis Cluster. (On a single Redis they
 * are just characters.) Inspect with e.g. `redis-cli --scan --pattern 'mm:{prod}:*'`.
 */
const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function assertClusterName(name: string): void {
  if (!CLUSTER_NAME.test(name)) {
    throw new ClusterError('bad_request', `cluster name must match ${CLUSTER_NAME}, got ${JSON.stringify(name)}`);
  }
}

export function keyPrefix(cluster: string): string {
  assertClusterName(cluster);
  return `mm:{${cluster}}:`;
}

/** Key layout, in one place so the Lua scripts and the TypeScript agree. */
export function clusterKeys(cluster: string) {
  const p = keyPrefix(cluster);
  return {
    prefix: p,
    /** STRING, JSON NodeRecord, PX = 3 heartbeat periods. */
    node: (id: string) => `${p}node:${id}`,
    /** SET of node ids; entries whose node key expired are pruned by list(). */
    nodeIndex: `${p}nodes`,
    /** STRING "1" while an operator (or the node) has the node draining. */
    draining: (id: string) => `${p}draining:${id}`,
    /** HASH `<region>:<carrier>` -> bytes (HINCRBY), `since` -> ms: the night's cost ledger (CostLedger). */
    cost: `${p}cost`,
    /** SET of stream ids that have an ingest or a region claim. */
    streams: `${p}streams`,
    /** HASH nodeId, role, since. */
    ingest: (stream: string) => `${p}ingest:${stream}`,
    /** HASH role ('primary' | 'backup') -> node id: every ingest feeding the stream (redundant ingest). */
    ingestCopies: (stream: string) => `${p}ingest-copies:${stream}`,
    /** SET of regions that have (or had) a claim for the stream. */
    regions: (stream: string) => `${p}regions:${stream}`,
    /** STRING holder node id, PX = claim ttl. */
    claim: (stream: string, region: string) => `${p}claim:${stream}:${region}`,
    /** STRING counter: fencing token of the claim's latest win (INCR per win, PX one day). */
    claimFence: (stream: string, region: string) => `${p}claim-fence:${stream}:${region}`,
    /** HASH kid -> JSON { createdAt, secret? } of token signing keys (secrets encrypted with the cluster secret). */
    signingKeys: `${p}signing-keys`,
    /** STRING kid of the key new tokens are signed with (absent: the bootstrap key k0). */
    signingKid: `${p}signing-kid`,
    /** SET of retired kids: their tokens are refused everywhere. */
    retiredKids: `${p}retired-kids`,
    /** STRING counter: the number of the next rotated key (k1, k2, …). */
    signingKeySeq: `${p}signing-key-seq`,
    /** STREAM of ops events (the events feed), trimmed to about EventLog's maxLen entries. */
    events: `${p}events`,
    /** STRING "1", PX: an event written once cluster-wide (a node's departure) was already written. */
    eventOnce: (key: string) => `${p}event-once:${key}`,
    /** Pub/sub channel a node listens on for bus messages addressed to it. */
    bus: (nodeId: string) => `${p}bus:${nodeId}`,
  };
}

export type ClusterKeys = ReturnType<typeof clusterKeys>;
