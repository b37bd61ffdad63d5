import type { DrainRemaining, DrainStatus, NewOpsEvent, NodeRecord } from '@matchmesh/protocol';

/**
 * A draining node's bookkeeping (issue 18): what it still holds, whether that
 * is nothing ("empty": the process may stop), and the rule that keeps a
 * region served. Pure over what the node counts; the node wires the counts.
 */

/** Bus method: "your drain flag changed" (heartbeat now, act now). */
export const DRAIN_NUDGE = 'node.drain-changed';
/** An LL-HLS player fetches several times a second: one unseen this long has left a draining node. */
export const DRAIN_HLS_WINDOW_MS = 3000;

/** What the node counts of itself (each cheap and synchronous: called on every heartbeat while draining). */
export interface DrainCounts {
  webrtcViewers(): number;
  whepViewers(): number;
  /** HLS players seen in the last few seconds (an LL-HLS player reloads every part: ~5 requests a second). */
  hlsPlayers(): number;
  /** Distinct other nodes pulling a stream from here over a pipe. */
  downstreamRelays(): number;
  publishers(): number;
}

export function drainEmpty(r: DrainRemaining): boolean {
  return r.webrtcViewers + r.whepViewers + r.hlsPlayers + r.downstreamRelays + r.publishers === 0;
}

/**
 * The node's own drain: its heartbeat reports `remaining()` while draining,
 * and the first report that finds it empty goes into the events feed (once
 * per drain; an undrain re-arms it).
 */
export class DrainWatch {
  readonly #counts: DrainCounts;
  readonly #record: (event: NewOpsEvent) => void;
  readonly #node: { id: string; region: string };
  #toldEmpty = false;
  #since: number | undefined;

  constructor(counts: DrainCounts, node: { id: string; region: string }, record: (event: NewOpsEvent) => void) {
    this.#counts = counts;
    this.#node = node;
    this.#record = record;
  }

  remaining(): DrainRemaining {
    const c = this.#counts;
    return {
      webrtcViewers: c.webrtcViewers(),
      whepViewers: c.whepViewers(),
      hlsPlayers: c.hlsPlayers(),
      downstreamRelays: c.downstreamRelays(),
      publishers: c.publishers(),
    };
  }

  /** The heartbeat's drain report (only called while draining). */
  report(now = Date.now()): DrainRemaining {
    this.#since ??= now;
    const r = this.remaining();
    if (!this.#toldEmpty && drainEmpty(r)) {
      this.#toldEmpty = true;
      this.#record({
        kind: 'drain-empty',
        nodeId: this.#node.id,
        region: this.#node.region,
        detail: `drained: nothing left here ${((now - this.#since) / 1000).toFixed(1)} s after the drain; the process may stop`,
      });
    }
    return r;
  }

  /** The drain flag changed: a later drain reports "empty" again. */
  reset(): void {
    this.#toldEmpty = false;
    this.#since = undefined;
  }
}

/**
 * The answer of `GET /api/v1/nodes/:id/drain` from a registry record. `local`:
 * the node answers about itself, from its live counts (fresher than its last
 * heartbeat). A node that has not reported yet (the heartbeat after the drain
 * call) is not empty: its load stands in for what it holds.
 */
export function drainStatusOf(record: NodeRecord, local?: DrainRemaining): DrainStatus {
  const reported = local ?? record.drain;
  const remaining: DrainRemaining = reported ?? {
    webrtcViewers: record.load.viewers,
    whepViewers: 0,
    hlsPlayers: Object.values(record.load.streamHlsPlayers ?? {}).reduce((a, b) => a + b, 0),
    downstreamRelays: 0,
    publishers: 0,
  };
  return {
    id: record.id,
    draining: record.draining,
    empty: record.draining && reported !== undefined && drainEmpty(remaining),
    remaining,
  };
}

/**
 * Whether draining `node` would leave its region without a relay serving
 * viewers (then the drain needs `force`). Only a relay that is serving now
 * counts: draining an already draining node again, or a node without the
 * relay role, never is.
 */
export function lastServingRelay(nodes: readonly NodeRecord[], node: NodeRecord): boolean {
  if (!node.roles.includes('relay') || node.draining) return false;
  return !nodes.some((n) => n.id !== node.id && n.region === node.region && n.roles.includes('relay') && !n.draining);
}
