import { type NodeRecord, type RelayAlternative, WORKER_CPU_SATURATED, type WorkerLoad } from '@matchmesh/protocol';

/*
 * Placement: pure functions over a NodeRecord[] snapshot (from
 * NodeRegistry.list()). No I/O, no clock, no randomness, so every decision
 * is reproducible in a unit test and two nodes looking at the same snapshot
 * agree.
 */

/**
 * A worker is saturated at WORKER_CPU_SATURATED of its core (the
 * MatchmeshWorkerCpuHigh alert's threshold): it then takes no viewer, whatever
 * its viewer count says (a heavier program, HLS packaging and pipes cost CPU
 * that viewer counts miss).
 */
export { WORKER_CPU_SATURATED };

/** A worker that may send to one more viewer: under its viewer capacity and not saturated. */
export function workerHasRoom(worker: WorkerLoad): boolean {
  return worker.viewers < worker.capacity && worker.cpu < WORKER_CPU_SATURATED;
}

/**
 * A worker's load (0..1+): its viewers against its capacity, or its CPU
 * against saturation, whichever is higher. Zero capacity counts as full.
 */
export function workerLoadRatio(worker: WorkerLoad): number {
  const viewers = worker.capacity > 0 ? worker.viewers / worker.capacity : Number.POSITIVE_INFINITY;
  return Math.max(viewers, worker.cpu / WORKER_CPU_SATURATED);
}

/**
 * Fraction of its capacity a node uses (0..1+). Zero capacity counts as full.
 * Below 1 exactly when the node has room (`acceptsViewers`, for a relay not
 * draining): clients read `load < 1` in GET /edges as "may join".
 *
 * With per-worker load it is the mean of its workers' ratios, each capped at
 * 1 (a worker over its capacity or CPU does not take viewers, and does not
 * weigh more than full). Every worker of a node has the same capacity, so
 * while no worker is CPU-bound this is the node's viewers ÷ its workers'
 * capacity. The other candidate, the least-loaded worker's room, would rank a
 * node with three full workers and an empty one before a node whose four
 * workers are half full: it carries more viewers, and its empty worker fills
 * as fast. Whether the *next* viewer can land somewhere is `acceptsViewers`'
 * question, not the ranking's. A worker counts at least as loaded as its CPU
 * says, so a node with CPU-heavy workers ranks below one carrying the same
 * viewers cheaply. The node's own total against `capacity.viewers` (the
 * operator's ceiling) is a floor; a record without workers (a node older than
 * per-worker load) is ranked by that total alone.
 */
export function loadRatio(node: NodeRecord): number {
  const cap = node.capacity.viewers;
  const total = cap > 0 ? node.load.viewers / cap : Number.POSITIVE_INFINITY;
  const workers = node.load.workers;
  if (workers.length === 0) return total;
  let sum = 0;
  for (const w of workers) sum += Math.min(1, workerLoadRatio(w));
  return Math.max(total, sum / workers.length);
}

/**
 * A node that may take one more viewer: relay role, not draining, under its
 * node capacity (`MM_CAPACITY_VIEWERS`, the operator's ceiling) and — when it
 * reports its workers — with some worker that has room. The node puts a new
 * viewer on a worker with room (the node-side admission refuses with 'full'
 * when none has), so one saturated worker does not close the node, and a
 * node whose every worker is full is closed even under its node total.
 */
export function acceptsViewers(node: NodeRecord): boolean {
  if (!node.roles.includes('relay') || node.draining) return false;
  if (node.load.viewers >= node.capacity.viewers) return false;
  const workers = node.load.workers;
  return workers.length === 0 || workers.some(workerHasRoom);
}

/**
 * Viewers the node can still take: the free slots of its workers with room,
 * never more than its node capacity leaves; its totals for an older record.
 */
export function freeViewerSlots(node: NodeRecord): number {
  const total = Math.max(0, node.capacity.viewers - node.load.viewers);
  const workers = node.load.workers;
  if (workers.length === 0) return total;
  let free = 0;
  for (const w of workers) if (workerHasRoom(w)) free += w.capacity - w.viewers;
  return Math.min(total, free);
}

/** Least loaded first; ties by fewer viewers, then by id so the order is stable. */
export function compareByLoad(a: NodeRecord, b: NodeRecord): number {
  return loadRatio(a) - loadRatio(b) || a.load.viewers - b.load.viewers || a.id.localeCompare(b.id);
}

/**
 * The relay a full node names instead (the 'full' signaling error's
 * `alternative`, a WHEP 503's hint): the least loaded relay of `region`
 * that accepts viewers, other than `excludeNodeId` (the refusing node);
 * null when there is none.
 */
export function alternativeRelay(
  nodes: readonly NodeRecord[],
  options: { region: string; excludeNodeId?: string },
): NodeRecord | null {
  let best: NodeRecord | null = null;
  for (const n of nodes) {
    if (n.region !== options.region || n.id === options.excludeNodeId || !acceptsViewers(n)) continue;
    if (!best || compareByLoad(n, best) < 0) best = n;
  }
  return best;
}

/** What the signaling error carries of a relay (`SignalingError.alternative`). */
export function relayAlternative(node: NodeRecord): RelayAlternative {
  return { nodeId: node.id, url: node.url, region: node.region };
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
    free.set(n.region, (free.get(n.region) ?? 0) + freeViewerSlots(n));
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
