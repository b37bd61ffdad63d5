import { createRedisClient, NodeBus, NodeRegistry, StreamDirectory } from '@matchmesh/cluster';
import type { NodeRecord } from '@matchmesh/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';

export type NodeLoad = NodeRecord['load'];

/**
 * The node's link to the cluster (packages/cluster over Redis). Media never
 * waits on it: when Redis is down, what flows keeps flowing, and only new
 * joins are refused (`healthy` is false) until the registry re-registers.
 */
export class ClusterLink {
  readonly redis: Redis;
  readonly registry: NodeRegistry;
  readonly directory: StreamDirectory;
  readonly bus: NodeBus;

  private constructor(redis: Redis, registry: NodeRegistry, directory: StreamDirectory, bus: NodeBus) {
    this.redis = redis;
    this.registry = registry;
    this.directory = directory;
    this.bus = bus;
  }

  static async start(config: Config, url: string, load: () => NodeLoad, logger: Logger): Promise<ClusterLink> {
    const log = logger.child({ room: 'cluster' });
    if (!config.REDIS_URL) throw new Error('REDIS_URL is required (npm start provides an embedded redis-server)');
    const redis = createRedisClient(config.REDIS_URL);
    const common = { redis, cluster: config.MM_CLUSTER, logger: log };
    const registry = new NodeRegistry({ ...common, heartbeatIntervalMs: config.MM_HEARTBEAT_MS });
    const directory = new StreamDirectory(common);
    const bus = new NodeBus({ ...common, nodeId: config.MM_NODE_ID, secret: config.clusterSecret });
    await bus.start();
    const now = Date.now();
    await registry.register(
      {
        id: config.MM_NODE_ID,
        region: config.MM_REGION,
        roles: config.MM_ROLES,
        url,
        mediaAddress: config.MM_ANNOUNCED_ADDRESS ?? config.MM_LISTEN_IP,
        capacity: { viewers: config.MM_CAPACITY_VIEWERS },
        load: load(),
        draining: false,
        startedAt: now,
        heartbeatAt: now,
      },
      { load },
    );
    registry.on('redis-down', (err) =>
      log.warn({ err: String(err) }, 'redis unreachable: new joins refused, media untouched'),
    );
    registry.on('redis-up', () => log.info('redis reachable again'));
    return new ClusterLink(redis, registry, directory, bus);
  }

  get healthy(): boolean {
    return this.registry.healthy;
  }

  async close(): Promise<void> {
    await this.bus.close();
    await this.registry.close();
    await this.directory.close();
    this.redis.disconnect();
  }
}
