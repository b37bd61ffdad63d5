import type { NodeRecord } from '@matchmesh/protocol';

/*
 * Placement: pure functions over a NodeRecord[] snapshot (from
 * NodeRegistry.list()). No I/O, no clock, no randomness, so every decision
 * is reproducible in a unit test and two nodes looking at the same snapshot
 * agree.
 */

/** Fraction of its viewer capacity a node uses (0..1+). Zero capacity counts as full. */
export function loadRatio(node: NodeRecord): number {
  const cap = node.capacity.viewers;
  return cap > 0 ? node.load.viewers / cap : Number.POSITIVE_INFINITY;
}

/** A node that may take one more viewer: relay role, not draining, under capacity. */
export function acceptsViewers(node: NodeRecord): boolean {
  return node.roles.includes('relay') && !node.draining && node.load.viewers < node.capacity.viewers;
}

/** Least loaded first; ties by fewer viewers, then by id so the order is stable. */
export function compareByLoad(a: NodeRecord, b: NodeRecord): number {
  return loadRatio(a) - loadRatio(b) || a.load.viewers - b.load.viewers || a.id.localeCompare(b.id);
}

export interface RegionCandidates {
  region: string;
  /** Least loaded first, at most `perRegion`. */
  nodes: NodeRecord[];
}

/**
 * For GET /edges: per region, the relays a client may probe (RTT) and join,
 * least loaded first. Regions with no node accepting viewers are left out.
 * Sorted by region name.
 */
export function candidateRelays(
  nodes: readonly NodeRecord[],
  options: { perRegion?: number } = {},
): RegionCandidates[] {
  const perRegion = Math.max(1, options.perRegion ?? 3);
  const byRegion = new Map<string, NodeRecord[]>();
  for (const n of nodes) {
    if (!acceptsViewers(n)) continue;
    const list = byRegion.get(n.region) ?? [];
    list.push(n);
    byRegion.set(n.region, list);
  }
  return [...byRegion.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([region, list]) => ({ region, nodes: list.sort(compareByLoad).slice(0, perRegion) }));
}

export interface GuessRegionInput {
  /**
   * Region hints, best first: e.g. the client's `?region=` (from its own RTT
   * probes), a CDN/geo header. The first one with a node accepting viewers wins.
   */
  hints?: readonly (string | null | undefined)[];
  /** The region of the node answering: a viewer reaching it is probably near it. */
  self?: string;
}

/**
 * Region for a viewer that did not (or could not) measure: first usable hint,
 * else our own region, else the region with the most free viewer slots.
 * Null when no region can take a viewer at all.
 */
export function guessRegion(nodes: readonly NodeRecord[], input: GuessRegionInput = {}): string | null {
  const free = new Map<string, number>();
  for (const n of nodes) {
    if (!acceptsViewers(n)) continue;
    free.set(n.region, (free.get(n.region) ?? 0) + (n.capacity.viewers - n.load.viewers));
  }
  for (const hint of [...(input.hints ?? []), input.self]) {
    if (hint && free.has(hint)) return hint;
  }
  let best: string | null = null;
  let bestFree = -1;
  for (const [region, slots] of [...free.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (slots > bestFree) {
      best = region;
      bestFree = slots;
    }
  }
  return best;
}
