import { type ClusterKeys, clusterKeys } from './keys.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RedisConnection, type RedisSource } from './redis.ts';

export interface PeerLivenessOptions {
  redis: RedisSource;
  cluster: string;
  /**
   * How long a node may go without a registry record while its bus
   * subscription is still open before it is declared dead anyway (a hung
   * process, or a host whose TCP connection Redis has not noticed is gone).
   * Default 10 000 ms.
   */
  graceMs?: number;
  logger?: Logger;
}

/**
 * The death verdict on a peer, from two independent signals:
 *
 * - its registry record (TTL 3 heartbeats): a *late heartbeat* lets it lapse
 *   although the node is fine — an event loop stalled by GC, a CPU-starved
 *   machine, a SIGSTOP — so a lapsed record alone only makes a node suspect;
 * - its bus subscription (PUBSUB NUMSUB on its channel): the kernel closes a
 *   process's sockets the moment it exits, however it exits (crash, SIGKILL,
 *   OOM), and Redis drops the subscription at once, while a merely stalled
 *   process keeps it.
 *
 * Dead = no record and no subscriber (a real exit: decided at once, so crash
 * recovery stays fast), or no record for longer than `graceMs` (a hang or a
 * partition, which the subscription cannot reveal). One late heartbeat, or
 * one request that timed out, is never enough.
 *
 * Except for `graceMs` after Redis restarted (its `run_id` changed between
 * two verdicts): a restart without persistence loses every record and
 * subscription, and each live peer puts them back only on its own reconnect,
 * some tens or hundreds of ms apart. The node that reconnects first would
 * otherwise see the others as exited and close its pipes to them (seen in e2e
 * mesh-resilience: an ingest cut its region copy to a relay that
 * re-registered 50 ms later). In that window a missing peer is only suspect,
 * and dead after `graceMs` as a hang is.
 */
export class PeerLiveness {
  readonly graceMs: number;
  private readonly conn: RedisConnection;
  private readonly keys: ClusterKeys;
  private readonly logger: Logger;
  /** Node id → when we first saw it without a record (while it still had a subscriber). */
  private readonly suspectSince = new Map<string, number>();
  /** The Redis server's run_id at the last verdict, and when a different one was first seen. */
  private redisRunId: string | undefined;
  private redisRestartedAt = Number.NEGATIVE_INFINITY;

  constructor(options: PeerLivenessOptions) {
    this.keys = clusterKeys(options.cluster);
    this.graceMs = options.graceMs ?? 10_000;
    this.logger = options.logger ?? silentLogger;
    this.conn = new RedisConnection(options.redis, this.logger, `mm-liveness-${options.cluster}`);
  }

  /** The ids among `ids` that are dead by the rule above. Rejects (ClusterError) when Redis is unreachable. */
  async dead(ids: Iterable<string>): Promise<Set<string>> {
    const list = [...new Set(ids)];
    const out = new Set<string>();
    if (list.length === 0) return out;
    const res = await this.conn.run('peer liveness', async (c) => {
      const m = c.multi();
      for (const id of list) m.exists(this.keys.node(id));
      m.call('PUBSUB', 'NUMSUB', ...list.map((id) => this.keys.bus(id)));
      m.info('server');
      const r = await m.exec();
      if (!r) throw new Error('transaction aborted');
      for (const [err] of r) if (err) throw err;
      return r.map(([, v]) => v);
    });
    const numsub = res.at(-2) as (string | number)[];
    const now = Date.now();
    const runId = /run_id:(\w+)/.exec(String(res.at(-1)))?.[1];
    if (runId !== undefined && this.redisRunId !== undefined && runId !== this.redisRunId) {
      this.redisRestartedAt = now;
      this.logger.warn({ graceMs: this.graceMs }, 'Redis restarted: peers missing from it are suspect, not dead');
    }
    this.redisRunId = runId ?? this.redisRunId;
    const redisJustRestarted = now - this.redisRestartedAt < this.graceMs;
    list.forEach((id, i) => {
      const hasRecord = Number(res[i]) === 1;
      const subscribers = Number(numsub[2 * i + 1] ?? 0);
      if (hasRecord) {
        if (this.suspectSince.delete(id)) this.logger.info({ nodeId: id }, 'peer heartbeat back: not dead');
        return;
      }
      if (subscribers === 0 && !redisJustRestarted) {
        this.suspectSince.delete(id);
        out.add(id);
        return;
      }
      const since = this.suspectSince.get(id);
      if (since === undefined) {
        this.suspectSince.set(id, now);
        this.logger.warn(
          { nodeId: id },
          redisJustRestarted
            ? 'peer not re-registered yet after a Redis restart: suspect, not dead'
            : 'peer heartbeat late but still connected: suspect, not dead',
        );
      } else if (now - since >= this.graceMs) {
        this.suspectSince.delete(id);
        this.logger.warn({ nodeId: id, silentMs: now - since }, 'peer without heartbeat for the grace time: dead');
        out.add(id);
      }
    });
    return out;
  }

  /** Whether one node is dead (see dead()). */
  async isDead(id: string): Promise<boolean> {
    return (await this.dead([id])).has(id);
  }

  async close(): Promise<void> {
    await this.conn.close();
  }
}
