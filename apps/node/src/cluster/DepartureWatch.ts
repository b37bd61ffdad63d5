import type { EventLog, NodeRegistry } from '@matchmesh/cluster';
import type { NodeRecord } from '@matchmesh/protocol';
import type { Logger } from 'pino';
import { DEPARTURE_KEY_TTL_MS, departureKey } from './ClusterLink.ts';

/** What the watch reads and writes (a node's ClusterLink). */
export interface DepartureWatchCluster {
  registry: Pick<NodeRegistry, 'list'>;
  events: Pick<EventLog, 'appendOnce'>;
}

/**
 * Notices peers that left without saying so (crash, kill, network cut):
 * their record lapsed out of the registry. Every node watches; the events
 * feed gets one "node-left" per departure, whoever sees it first (a node
 * closing gracefully has already written it under the same key).
 */
export class DepartureWatch {
  #known = new Map<string, NodeRecord>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #ticks = 0;

  constructor(
    private readonly cluster: DepartureWatchCluster,
    private readonly selfId: string,
    private readonly everyMs: number,
    private readonly log: Logger,
  ) {}

  /** Ticks completed (each compared the registry with the one before). */
  get ticks(): number {
    return this.#ticks;
  }

  start(): void {
    this.#timer = setTimeout(() => void this.#tick(), this.everyMs);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  async #tick(): Promise<void> {
    try {
      const nodes = await this.cluster.registry.list();
      const now = new Map(nodes.map((n) => [n.id, n]));
      for (const [id, gone] of this.#known) {
        if (id === this.selfId) continue;
        const current = now.get(id);
        // Gone, or back as a new process (a restart faster than the record's TTL).
        if (current && current.startedAt === gone.startedAt) continue;
        await this.cluster.events.appendOnce(departureKey(gone), DEPARTURE_KEY_TTL_MS, {
          kind: 'node-left',
          nodeId: gone.id,
          region: gone.region,
          detail: current ? 'restarted (new process)' : 'left: heartbeat lapsed',
        });
      }
      this.#known = now;
    } catch (err) {
      // Redis away: nothing is known to have left; the next tick compares with what was known.
      this.log.debug({ err: (err as Error).message }, 'departure watch skipped a tick');
    }
    this.#ticks++;
    if (!this.#closed) this.#timer = setTimeout(() => void this.#tick(), this.everyMs);
  }
}
