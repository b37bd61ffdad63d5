import { EventEmitter } from 'node:events';
import { type DrainRemaining, NodeRecord, type NodeRecordInput } from '@matchmesh/protocol';
import { ClusterError, errorMessage } from './errors.ts';
import { type ClusterKeys, clusterKeys } from './keys.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RedisConnection, type RedisSource } from './redis.ts';
import { freshNodeRecord, parseNodeRecord } from './registry-records.ts';
import { DRAIN_FLAG_TTL_MS, HEARTBEAT_LUA, LIST_LUA } from './registry-scripts.ts';

/** The load a node reports: defaulted fields (per-worker load...) may be left out; the registry parses it. */
export type NodeLoad = NodeRecordInput['load'];

export interface NodeRegistryOptions {
  /** Redis URL (the registry opens and closes its own connection) or a shared client. */
  redis: RedisSource;
  /** Namespace: nodes of another cluster name are invisible. */
  cluster: string;
  /** Heartbeat period; the record's TTL is 3 × this. Default 2000 ms. */
  heartbeatIntervalMs?: number;
  logger?: Logger;
}

export interface RegisterOptions {
  /** Called on every heartbeat; its result replaces record.load. Must be cheap and synchronous. */
  load?: () => NodeLoad;
  /**
   * Called on every heartbeat while the node is draining: what it still holds
   * (`NodeRecord.drain`, read by `GET /api/v1/nodes/:id/drain`). Must be cheap and synchronous.
   */
  drain?: () => DrainRemaining;
}

export interface NodeRegistryEvents {
  /** Redis became unreachable (or never was reachable). Emitted once per outage. */
  'redis-down': [error: Error];
  /** Redis is reachable again (also emitted once at start-up when it first is). */
  'redis-up': [];
  /**
   * Our record was written to a Redis that did not have it: the first
   * registration, and every re-registration after Redis lost its data.
   */
  registered: [record: NodeRecord];
  /** Our own draining flag changed (an operator drained us, or setDraining on ourselves). */
  draining: [draining: boolean];
}

const DEFAULT_INTERVAL_MS = 2_000;

type Health = 'unknown' | 'up' | 'down';

/**
 * Node membership: who is alive, where, with how much load.
 *
 * Liveness is a TTL, not a protocol: each node rewrites its record every
 * period with a TTL of three periods, so a node that dies (or is cut off)
 * disappears from every list() within three periods without anybody having
 * to notice it. The same heartbeat re-creates the record after Redis lost it,
 * which is why there is no separate "re-register" code path.
 *
 * Redis outages never throw into the caller: the heartbeat loop swallows and
 * logs failures, flips `healthy` and emits 'redis-down'/'redis-up'. Queries
 * (list, get, setDraining) reject fast with ClusterError('unavailable') —
 * callers answer 503 for new work while `healthy` is false. Media already
 * flowing does not depend on any of this.
 */
export class NodeRegistry extends EventEmitter<NodeRegistryEvents> {
  readonly cluster: string;
  readonly heartbeatIntervalMs: number;
  /** Record TTL: a node silent for this long is gone. */
  readonly ttlMs: number;

  private readonly conn: RedisConnection;
  private readonly keys: ClusterKeys;
  private readonly logger: Logger;

  private own: NodeRecord | null = null;
  private loadFn: (() => NodeLoad) | null = null;
  private drainFn: (() => DrainRemaining) | null = null;
  /** First heartbeat after register() applies record.draining to the shared flag. */
  private applyDrainFlag = false;
  private announce = false;
  private health: Health = 'unknown';
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> | null = null;
  private rerun = false;
  private closed = false;

  constructor(options: NodeRegistryOptions) {
    super();
    this.cluster = options.cluster;
    this.keys = clusterKeys(options.cluster);
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_INTERVAL_MS;
    if (!(this.heartbeatIntervalMs >= 10)) {
      throw new ClusterError('bad_request', `heartbeatIntervalMs must be >= 10, got ${this.heartbeatIntervalMs}`);
    }
    this.ttlMs = 3 * this.heartbeatIntervalMs;
    this.logger = options.logger ?? silentLogger;
    this.conn = new RedisConnection(options.redis, this.logger, `mm-registry-${options.cluster}`);
    // Notice an outage the moment the socket drops, not at the next tick.
    this.conn.client.on('close', this.onClose);
    // ...and recover (re-register) as soon as it is back.
    this.conn.client.on('ready', this.onReady);
    this.kick();
  }

  /** Whether Redis answered the last heartbeat. False until it first does. */
  get healthy(): boolean {
    return this.health === 'up';
  }

  /** Our record as last sent (null before register()). */
  get record(): NodeRecord | null {
    return this.own;
  }

  /**
   * Start advertising this node. Resolves after the first heartbeat attempt,
   * whether or not Redis was reachable (check `healthy`, or wait for
   * 'registered'); it only rejects for an invalid record, which is a bug.
   */
  async register(record: NodeRecordInput, options: RegisterOptions = {}): Promise<void> {
    if (this.closed) throw new ClusterError('unavailable', 'registry is closed');
    const parsed = NodeRecord.safeParse(record);
    if (!parsed.success) {
      throw new ClusterError('bad_request', `invalid node record: ${parsed.error.message}`);
    }
    this.own = parsed.data;
    this.loadFn = options.load ?? null;
    this.drainFn = options.drain ?? null;
    this.applyDrainFlag = true;
    this.announce = true;
    // A PING tick may be in flight (started by the constructor); wait for it
    // so that what we await below is a real heartbeat carrying the record.
    while (this.inflight) await this.inflight;
    await this.tickNow();
  }

  /** Live nodes of this cluster. Malformed records are skipped with a warning. */
  async list(): Promise<NodeRecord[]> {
    const raw = (await this.conn.run('list nodes', (c) =>
      c.eval(LIST_LUA, 1, this.keys.nodeIndex, this.keys.prefix),
    )) as unknown[];
    const nodes: NodeRecord[] = [];
    for (let i = 0; i + 2 < raw.length; i += 3) {
      const node = parseNodeRecord(String(raw[i]), raw[i + 1], Number(raw[i + 2]) === 1, this.logger);
      if (node) nodes.push(node);
    }
    nodes.sort((a, b) => a.id.localeCompare(b.id));
    return nodes;
  }

  async get(id: string): Promise<NodeRecord | null> {
    const [value, drain] = await this.conn.run('get node', async (c) => {
      const res = await c.multi().get(this.keys.node(id)).exists(this.keys.draining(id)).exec();
      if (!res) throw new Error('transaction aborted');
      for (const [err] of res) if (err) throw err;
      return [res[0]?.[1], res[1]?.[1]] as const;
    });
    if (value === null || value === undefined) return null;
    return parseNodeRecord(id, value, Number(drain) === 1, this.logger);
  }

  /**
   * Mark any node (ourselves included) as draining: placement stops sending
   * it new viewers and the node itself learns it at its next heartbeat
   * ('draining' event) so it can tell its viewers to move.
   */
  async setDraining(id: string, draining: boolean): Promise<void> {
    await this.conn.run('set draining', async (c) => {
      if (draining) await c.set(this.keys.draining(id), '1', 'PX', DRAIN_FLAG_TTL_MS);
      else await c.del(this.keys.draining(id));
    });
    if (this.own && id === this.own.id) this.updateOwnDraining(draining);
  }

  /**
   * Heartbeat now instead of at the next period (a drain was just asked: the
   * node learns it, and reports what it holds, at once). Never throws.
   */
  heartbeatNow(): Promise<void> {
    return this.tickNow();
  }

  /**
   * Stop heartbeating and (by default) remove our record so peers stop
   * routing to us at once instead of after the TTL. `unregister: false`
   * leaves the record to expire, exactly like a crash would. Never throws.
   */
  async close(options: { unregister?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // A heartbeat still in flight would re-create the record after our DEL.
    await this.inflight;
    const own = this.own;
    if (own && options.unregister !== false && this.conn.ready) {
      try {
        await this.conn.client
          .multi()
          .del(this.keys.node(own.id))
          .srem(this.keys.nodeIndex, own.id)
          .del(this.keys.draining(own.id))
          .exec();
        this.logger.info({ nodeId: own.id }, 'node unregistered');
      } catch (err) {
        this.logger.warn({ err: errorMessage(err) }, 'unregister failed; record will expire by TTL');
      }
    }
    this.conn.client.off('close', this.onClose);
    this.conn.client.off('ready', this.onReady);
    await this.conn.close();
  }

  // ------------------------------------------------------------ heartbeat loop

  private readonly onClose = () => {
    if (!this.closed) this.setHealth('down', new Error('redis connection closed'));
  };

  private readonly onReady = () => {
    if (!this.closed) this.kick();
  };

  /** Run a tick as soon as possible (coalescing with one in flight). */
  private kick(): void {
    void this.tickNow();
  }

  private tickNow(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.inflight) {
      this.rerun = true;
      return this.inflight;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.inflight = this.tick().finally(() => {
      this.inflight = null;
      if (this.closed) return;
      if (this.rerun) {
        this.rerun = false;
        this.kick();
      } else {
        this.timer = setTimeout(() => this.kick(), this.heartbeatIntervalMs);
      }
    });
    return this.inflight;
  }

  /** One heartbeat (or a PING when not registered). Never throws. */
  private async tick(): Promise<void> {
    try {
      if (this.own) {
        await this.heartbeat(this.own);
      } else {
        await this.conn.run('ping', (c) => c.ping());
      }
      this.setHealth('up');
    } catch (err) {
      this.announce = true;
      this.setHealth('down', err instanceof Error ? err : new Error(String(err)));
    }
  }

  private async heartbeat(base: NodeRecord): Promise<void> {
    const record = freshNodeRecord(base, { load: this.loadFn, drain: this.drainFn }, this.logger);
    const drainMode = this.applyDrainFlag ? (record.draining ? 'set' : 'clear') : '';
    const res = (await this.conn.run('heartbeat', (c) =>
      c.eval(
        HEARTBEAT_LUA,
        3,
        this.keys.node(record.id),
        this.keys.nodeIndex,
        this.keys.draining(record.id),
        JSON.stringify(record),
        String(this.ttlMs),
        record.id,
        drainMode,
        String(DRAIN_FLAG_TTL_MS),
      ),
    )) as [number, number];
    this.applyDrainFlag = false;
    this.own = record;
    const existed = Number(res[0]) === 1;
    const draining = Number(res[1]) === 1;
    // Just told we drain: heartbeat again at once, so the record carries what we still hold.
    if (draining && !record.draining && this.drainFn) this.rerun = true;
    this.updateOwnDraining(draining);
    if (this.announce || !existed) {
      this.announce = false;
      this.logger.info({ nodeId: record.id, cluster: this.cluster, recordExisted: existed }, 'node registered');
      this.emit('registered', this.own);
    }
  }

  private updateOwnDraining(draining: boolean): void {
    if (!this.own || this.own.draining === draining) return;
    this.own = { ...this.own, draining };
    this.logger.info({ nodeId: this.own.id, draining }, 'draining flag changed');
    this.emit('draining', draining);
  }

  private setHealth(next: 'up' | 'down', err?: Error): void {
    if (this.health === next) return;
    this.health = next;
    if (next === 'up') {
      this.logger.info({ cluster: this.cluster }, 'redis reachable');
      this.emit('redis-up');
    } else {
      const error = err ?? new Error('redis unreachable');
      this.logger.warn({ cluster: this.cluster, err: error.message }, 'redis unreachable; will keep retrying');
      this.emit('redis-down', error);
    }
  }
}
