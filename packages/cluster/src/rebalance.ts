import type { NodeRecord } from '@matchmesh/protocol';
import { acceptsViewers, freeViewerSlots } from './placement.ts';

/*
 * Rebalancing (issue 18 item 3): a relay that joins a region starts empty while
 * the region's viewers stay where placement put them. The plan says how many
 * viewers each relay carrying more than its share should move, and to which
 * relay under its share. Pure over a registry snapshot, like placement: every
 * relay of the region computes the same plan from the same snapshot and carries
 * out only its own lines (`from` = itself), so two sources never pick the same
 * free slots. apps/node executes it (Rebalancer: which viewers, how fast).
 */

/** Move `count` viewers from relay `from` to relay `to` (same region). */
export interface RebalanceMove {
  from: string;
  to: string;
  count: number;
}

export interface RebalanceOptions {
  region: string;
  /**
   * A relay gives viewers away only when it carries more than its share by
   * this fraction of its capacity (0.1: 40 viewers on a 400-viewer relay): a
   * move costs the viewer a short freeze, so a small unevenness stays.
   */
  tolerance?: number;
}

/** A relay of the region that takes part: serving viewers (relay role, not draining) with a capacity. */
function serving(node: NodeRecord, region: string): boolean {
  return node.region === region && node.roles.includes('relay') && !node.draining && node.capacity.viewers > 0;
}

/**
 * The moves that even out `region`'s relays: each relay's share is the
 * region's viewers split in proportion to capacity. A relay above its share
 * by more than the tolerance gives down to its share (rounded up); a relay
 * that accepts viewers takes up to its share (rounded up: a taker never ends
 * above a giver's target, so no move is ever undone by the next plan) and never more
 * than its free slots. Givers with the most surplus are paired first with the
 * takers with the most room (ties by id): the same snapshot gives the same
 * plan on every node. Draining relays are left out — their viewers leave by
 * the drain, and placement sends them to relays with room.
 */
export function rebalancePlan(nodes: readonly NodeRecord[], options: RebalanceOptions): RebalanceMove[] {
  const tolerance = Math.max(0, options.tolerance ?? 0.1);
  const relays = nodes.filter((n) => serving(n, options.region));
  if (relays.length < 2) return [];
  const viewers = relays.reduce((sum, n) => sum + n.load.viewers, 0);
  const capacity = relays.reduce((sum, n) => sum + n.capacity.viewers, 0);
  const share = (n: NodeRecord): number => (viewers * n.capacity.viewers) / capacity;

  const givers: { id: string; surplus: number }[] = [];
  const takers: { id: string; room: number }[] = [];
  for (const n of relays) {
    const s = share(n);
    if (n.load.viewers > s + tolerance * n.capacity.viewers) {
      const surplus = n.load.viewers - Math.ceil(s);
      if (surplus > 0) givers.push({ id: n.id, surplus });
    } else if (acceptsViewers(n)) {
      const room = Math.min(Math.ceil(s) - n.load.viewers, freeViewerSlots(n));
      if (room > 0) takers.push({ id: n.id, room });
    }
  }
  givers.sort((a, b) => b.surplus - a.surplus || a.id.localeCompare(b.id));
  takers.sort((a, b) => b.room - a.room || a.id.localeCompare(b.id));

  const moves: RebalanceMove[] = [];
  let t = 0;
  for (const giver of givers) {
    while (giver.surplus > 0 && t < takers.length) {
      const taker = takers[t]!;
      const count = Math.min(giver.surplus, taker.room);
      moves.push({ from: giver.id, to: taker.id, count });
      giver.surplus -= count;
      taker.room -= count;
      if (taker.room === 0) t++;
    }
  }
  return moves;
}
