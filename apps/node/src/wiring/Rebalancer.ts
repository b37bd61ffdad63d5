import { rebalancePlan } from '@matchmesh/cluster';
import type { NodeRecord, RelayAlternative } from '@matchmesh/protocol';
import type { Logger } from 'pino';

/** A viewer here that rebalancing may move (a signaling Peer). */
export interface MovableViewer {
  /** When its join succeeded (ms since epoch). */
  readonly joinedAt: number | undefined;
  readonly closed: boolean;
  notifyMove(target: RelayAlternative, reason: string): void;
}

export interface RebalancerConfig {
  /** Most viewers this node tells to move per second (0 turns rebalancing off). */
  movesPerSecond: number;
  /** A viewer that joined less than this long ago is not moved (it may have just been moved here). */
  holdMs: number;
  /** A relay gives viewers only above its share by this fraction of its capacity (packages/cluster rebalancePlan). */
  tolerance: number;
  /** How often the plan is computed (the heartbeat period: the registry changes no faster). */
  intervalMs: number;
}

export interface RebalancerDeps {
  nodeId: string;
  region: string;
  /** The registry's records (throws while Redis is away: the round is skipped). */
  list(): Promise<NodeRecord[]>;
  /** This node's record with its live load (the last heartbeat may be up to a period old); null: unregistered. */
  self(): NodeRecord | null;
  /** The viewers here (commentators are never moved: they produce where they are). */
  viewers(): Iterable<MovableViewer>;
  /** Counts each move told (metrics). */
  onMove?(target: string): void;
  log: Logger;
  now?: () => number;
}

/** A move told and not yet seen in the target's heartbeat. */
interface InFlight {
  to: string;
  sentAt: number;
  /** When the viewer left this node (noticed on a round), null while it is still here. */
  leftAt: number | null;
}

/** A told move that never completes (the player could not reach the target) is forgotten after this. */
const IN_FLIGHT_MAX_MS = 30_000;

/**
 * Carries out this node's lines of the region's rebalance plan: on each round
 * it reads the registry, corrects it for the moves it has told and that the
 * records do not show yet (a moved viewer still here, or arrived at the target
 * after the target's last heartbeat), and tells its longest-seated viewers to
 * move — never more than `movesPerSecond` (a token bucket with one second of
 * burst), never a viewer that joined within `holdMs`, never the same viewer
 * twice while its move is in flight. The routing decision is packages/cluster's;
 * the viewers' media never passes through here.
 */
export class Rebalancer {
  readonly #deps: RebalancerDeps;
  readonly #config: RebalancerConfig;
  readonly #inFlight = new Map<MovableViewer, InFlight>();
  #tokens: number;
  #refilledAt: number;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(deps: RebalancerDeps, config: RebalancerConfig) {
    this.#deps = deps;
    this.#config = config;
    this.#tokens = 0;
    this.#refilledAt = this.#now();
  }

  start(): void {
    if (this.#config.movesPerSecond <= 0 || this.#timer) return;
    this.#timer = setInterval(() => void this.round(), this.#config.intervalMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Moves told and not yet reflected in the registry (ops, tests). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** One round: plan from the registry and tell viewers to move. Returns how many were told. */
  async round(): Promise<number> {
    if (this.#running) return 0;
    this.#running = true;
    try {
      return await this.#round();
    } catch (err) {
      this.#deps.log.debug({ err: String(err) }, 'rebalance round skipped');
      return 0;
    } finally {
      this.#running = false;
    }
  }

  async #round(): Promise<number> {
    const self = this.#deps.self();
    if (!self || self.draining || !self.roles.includes('relay')) return 0;
    const listed = await this.#deps.list();
    const now = this.#now();
    this.#refill(now);
    const here = new Set(this.#deps.viewers());
    const nodes = this.#corrected(listed, self, here, now);
    const mine = rebalancePlan(nodes, { region: this.#deps.region, tolerance: this.#config.tolerance }).filter(
      (m) => m.from === this.#deps.nodeId,
    );
    if (mine.length === 0) return 0;
    const candidates = [...here]
      .filter((v) => !v.closed && v.joinedAt !== undefined && now - v.joinedAt >= this.#config.holdMs)
      .filter((v) => !this.#inFlight.has(v))
      .sort((a, b) => (a.joinedAt ?? 0) - (b.joinedAt ?? 0));
    const byId = new Map(nodes.map((n) => [n.id, n]));
    let told = 0;
    for (const move of mine) {
      const target = byId.get(move.to);
      if (!target) continue;
      for (let i = 0; i < move.count && this.#tokens >= 1; i++) {
        const viewer = candidates.shift();
        if (!viewer) break;
        this.#tokens -= 1;
        this.#inFlight.set(viewer, { to: target.id, sentAt: now, leftAt: null });
        viewer.notifyMove(
          { nodeId: target.id, url: target.url, region: target.region },
          `rebalancing: ${this.#deps.nodeId} is above its share of region ${this.#deps.region}`,
        );
        this.#deps.onMove?.(target.id);
        told++;
      }
    }
    if (told > 0) {
      this.#deps.log.info({ told, plan: mine, inFlight: this.#inFlight.size }, 'rebalancing: viewers told to move');
    }
    return told;
  }

  /**
   * The registry as it will be once the told moves land: this node's live
   * load minus its viewers still on their way out, and each target plus the
   * viewers sent to it since its last heartbeat. Without this, the next round
   * would read the same unevenness and move more viewers than the plan said.
   */
  #corrected(listed: NodeRecord[], self: NodeRecord, here: Set<MovableViewer>, now: number): NodeRecord[] {
    const extra = new Map<string, number>();
    let leaving = 0;
    const heartbeatAt = new Map(listed.map((n) => [n.id, n.heartbeatAt]));
    for (const [viewer, move] of this.#inFlight) {
      if (move.leftAt === null && (viewer.closed || !here.has(viewer))) move.leftAt = now;
      const landed = move.leftAt !== null && (heartbeatAt.get(move.to) ?? 0) > move.leftAt;
      if (landed || now - move.sentAt > IN_FLIGHT_MAX_MS) {
        this.#inFlight.delete(viewer);
        continue;
      }
      if (move.leftAt === null) leaving++;
      extra.set(move.to, (extra.get(move.to) ?? 0) + 1);
    }
    return listed.map((n) => {
      if (n.id === self.id)
        return { ...self, load: { ...self.load, viewers: Math.max(0, self.load.viewers - leaving) } };
      const more = extra.get(n.id) ?? 0;
      return more > 0 ? { ...n, load: { ...n.load, viewers: n.load.viewers + more } } : n;
    });
  }

  #refill(now: number): void {
    const rate = this.#config.movesPerSecond;
    this.#tokens = Math.min(Math.max(1, rate), this.#tokens + ((now - this.#refilledAt) / 1000) * rate);
    this.#refilledAt = now;
  }

  #now(): number {
    return (this.#deps.now ?? Date.now)();
  }
}
