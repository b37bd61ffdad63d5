/**
 * `@matchmesh/cluster/testing`: a real redis-server for tests and embedded use.
 */

export { type SentinelGroup, type SentinelGroupOptions, startSentinelGroup } from './redis-sentinel.ts';
export {
  type EmbeddedRedisOptions,
  freePort,
  type RedisServer,
  type StartRedisOptions,
  startEmbeddedRedis,
  startRedisServer,
} from './redis-server.ts';
