import { createRedisClient, EventLog, NodeBus, NodeRegistry, StreamDirectory } from '@matchmesh/cluster';
import type { DrainRemaining, NodeRecordInput } from '@matchmesh/protocol';
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
  /** The cluster's events feed (ops console): any node appends, ops read and follow it. */
  readonly events: EventLog;
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
    this.events = new EventLog(common);
    this.registry.on('redis-down', (err) =>
      log.warn({ err: String(err) }, 'redis unreachable: new joins refused, media untouched'),
    );
    this.registry.on('redis-up', () => log.info('redis reachable again'));
  }

  /** Listen on the bus and register this node (reachable at `url`, media at `mediaAddress`). */
  async start(url: string, mediaAddress: string, load: () => NodeLoad, drain?: () => DrainRemaining): Promise<void> {
    await this.bus.start();
    const now = Date.now();
    // The first registration only: a re-registration after Redis lost its data is not a new node.
    this.registry.once('registered', (record) => {
      void this.events.append({
        kind: 'node-joined',
        nodeId: record.id,
        region: record.region,
        detail: `joined as ${record.roles.join('+')} at ${record.url}`,
      });
    });
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
      { load, ...(drain ? { drain } : {}) },
    );
    this.#started = true;
  }

  /** Registered and Redis answering: the node may take new work. */
  get healthy(): boolean {
    return this.#started && this.registry.healthy;
  }

  async close(): Promise<void> {
    const own = this.registry.record;
    // Said before the record goes, and under the key peers use when they see it gone: written once.
    if (own && this.#started) {
      await this.events.appendOnce(departureKey(own), DEPARTURE_KEY_TTL_MS, {
        kind: 'node-left',
        nodeId: own.id,
        region: own.region,
        detail: 'left: closed gracefully',
      });
    }
    await this.bus.close();
    await this.registry.close();
    await this.directory.close();
    await this.events.close();
    this.redis.disconnect();
  }
}

/** How long a departure stays "already told" in the events feed (longer than any peer takes to notice it). */
export const DEPARTURE_KEY_TTL_MS = 10 * 60_000;

/** One node process's departure: the same key whoever writes it (itself on close, or a peer seeing it lapse). */
export function departureKey(node: { id: string; startedAt: number }): string {
  return `left:${node.id}:${node.startedAt}`;
}
