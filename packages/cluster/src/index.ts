/**
 * @matchmesh/cluster — cluster coordination over Redis: node membership
 * (NodeRegistry), where streams enter and which relay holds each region's copy
 * (StreamDirectory), node-to-node requests (NodeBus) and pure placement
 * functions. Knows nothing of mediasoup: it moves ids and records, not media.
 */
export {
  type BusHandler,
  type DropReason,
  type HandlerContext,
  NodeBus,
  type NodeBusEvents,
  type NodeBusOptions,
  type RequestOptions,
} from './bus.ts';
export {
  BYTES_PER_GB,
  COST_CARRIERS,
  type CostCarrier,
  type CostDeltas,
  CostLedger,
  type CostLedgerOptions,
  type CostPrices,
  type CostTotals,
  emptyBytes,
  priceCost,
} from './cost.ts';
export {
  type ClaimResult,
  type IngestEntry,
  type IngestRole,
  type RegionClaim,
  type RenewResult,
  StreamDirectory,
  type StreamDirectoryOptions,
  type StreamEntry,
} from './directory.ts';
export { ClusterError, type ClusterErrorCode } from './errors.ts';
export { EventLog, type EventLogOptions, type OpsEventListener } from './events.ts';
export { clusterKeys, keyPrefix } from './keys.ts';
export { PeerLiveness, type PeerLivenessOptions } from './liveness.ts';
export { type Logger, silentLogger } from './logger.ts';
export { OnceTokenStore, type OnceTokenStoreOptions } from './once-tokens.ts';
export {
  acceptsViewers,
  alternativeRelay,
  candidateRelays,
  compareByLoad,
  freeViewerSlots,
  type GuessRegionInput,
  guessRegion,
  loadRatio,
  type RegionCandidates,
  relayAlternative,
  WORKER_CPU_SATURATED,
  workerHasRoom,
  workerLoadRatio,
} from './placement.ts';
export { type RebalanceMove, type RebalanceOptions, rebalancePlan } from './rebalance.ts';
export { createRedisClient, FAIL_FAST_OPTIONS, type RedisSource, sentinelOptions } from './redis.ts';
export {
  type NodeLoad,
  NodeRegistry,
  type NodeRegistryEvents,
  type NodeRegistryOptions,
  type RegisterOptions,
} from './registry.ts';
export { type RateBucket, type RateVerdict, ReportStore, type ReportStoreOptions } from './reports.ts';
export { scaleAdvice } from './scale.ts';
export { SigningKeyRing, type SigningKeyRingOptions } from './signing-key-ring.ts';
export {
  type RetireResult,
  SigningKeyStore,
  type SigningKeyStoreOptions,
  type StoredSigningKey,
} from './signing-keys.ts';
export { type EmbeddedRedisOptions, type RedisServer, startEmbeddedRedis } from './testing/redis-server.ts';
