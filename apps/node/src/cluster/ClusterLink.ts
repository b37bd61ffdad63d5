import { createRedisClient, NodeBus, NodeRegistry, StreamDirectory } from '@matchmesh/cluster';
import type { NodeRecordInput } from '@matchmesh/protocol';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';

/** What the node reports each heartbeat (`workers`: WorkerPool.workerLoads(); left out, placement uses the totals). */
export type NodeLoad = NodeRecordInput['load'];

/**
 * The node's link to the cluster (packages/cluster over Redis). Media never
 * waits on it: when Redis is down, what flows keeps flowing, and only new
 * joins are refused (`healthy` is false) until the registry re-registers.
 *
 * Built before the HTTP server (everything that needs it gets it at
 * construction); started once the server listens, since the node's record
 * carries its URL.
 */
export class ClusterLink {
  /** The shared connection (ioredis, typed through packages/cluster so apps/node never imports it). */
  readonly redis: ReturnType<typeof createRedisClient>;
  readonly registry: NodeRegistry;
  readonly directory: StreamDirectory;
  readonly bus: NodeBus;
  readonly #node: NodeConfig['node'];
  readonly #config: NodeConfig['cluster'];
  #started = false;

  constructor(node: NodeConfig['node'], config: NodeConfig['cluster'], logger: Logger) {
    const log = logger.child({ area: 'cluster' });
    if (!config.redisUrl) throw new Error('REDIS_URL is required (npm start provides an embedded redis-server)');
    this.#node = node;
    this.#config = config;
    this.redis = createRedisClient(config.redisUrl);
    const common = { redis: this.redis, cluster: config.name, logger: log };
    this.registry = new NodeRegistry({ ...common, heartbeatIntervalMs: config.heartbeatMs });
    this.directory = new StreamDirectory(common);
    this.bus = new NodeBus({ ...common, nodeId: node.id, secret: config.secret });
    this.registry.on('redis-down', (err) =>
      log.warn({ err: String(err) }, 'redis unreachable: new joins refused, media untouched'),
    );
    this.registry.on('redis-up', () => log.info('redis reachable again'));
  }

  /** Listen on the bus and register this node (reachable at `url`, media at `mediaAddress`). */
  async start(url: string, mediaAddress: string, load: () => NodeLoad): Promise<void> {
    await this.bus.start();
    const now = Date.now();
    await this.registry.register(
      {
        id: this.#node.id,
        region: this.#node.region,
        roles: this.#node.roles,
        url,
        mediaAddress,
        capacity: { viewers: this.#config.capacityViewers, viewersPerWorker: this.#config.capacityViewersPerWorker },
        load: load(),
        draining: false,
        startedAt: now,
        heartbeatAt: now,
      },
      { load },
    );
    this.#started = true;
  }

  /** Registered and Redis answering: the node may take new work. */
  get healthy(): boolean {
    return this.#started && this.registry.healthy;
  }

  async close(): Promise<void> {
    await this.bus.close();
    await this.registry.close();
    await this.directory.close();
    this.redis.disconnect();
  }
}
