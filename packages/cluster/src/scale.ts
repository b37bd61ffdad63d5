import type { NodeRecord, RegionScaleAdvice } from '@matchmesh/protocol';

/**
 * How many relays each region's audience needs now (the figure an autoscaler
 * follows: `matchmesh scale-advice`, `GET /api/v1/scale-advice`). Viewers are
 * the relays' own counts from their heartbeats (less those on their way to another relay); one relay takes its
 * configured capacity (MM_CAPACITY_VIEWERS, which the fan-out bench's
 * saturation sets); `headroom` is kept spare so a ramp is absorbed while a
 * new relay starts. A region never goes below one relay while it has one.
 */
export function scaleAdvice(
  nodes: readonly NodeRecord[],
  headroom = 0.25,
  /** Regions to answer for even when no relay of theirs is registered (`?region=`). */
  asked: readonly string[] = [],
): RegionScaleAdvice[] {
  const regions = new Map<string, NodeRecord[]>();
  // A region the cluster knows only by an ingest, or one asked for by name, is answered too: with no relay.
  for (const region of [...asked, ...nodes.map((n) => n.region)]) regions.set(region, []);
  for (const n of nodes) {
    if (n.roles.includes('relay')) regions.get(n.region)!.push(n);
  }
  return [...regions.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([region, relays]) => {
      const serving = relays.filter((r) => !r.draining);
      // A viewer in the middle of a move is a session on two relays for a moment: counted at its target only.
      const viewers = relays.reduce((sum, r) => sum + Math.max(0, r.load.viewers - r.load.leaving), 0);
      const capacities = serving.map((r) => r.capacity.viewers).filter((c) => c > 0);
      const perRelay = capacities.length > 0 ? Math.min(...capacities) : null;
      // No serving relay to measure capacity by: one is needed as soon as anyone watches.
      const needed =
        perRelay === null ? (viewers > 0 ? 1 : 0) : Math.max(1, Math.ceil((viewers * (1 + headroom)) / perRelay));
      const change = needed - serving.length;
      const plural = (n: number) => (n > 1 ? 's' : '');
      const note =
        relays.length === 0
          ? 'no relay in this region: its viewers are placed in other regions; start one to serve it here'
          : perRelay === null
            ? 'no serving relay to measure capacity by: start one'
            : change > 0
              ? `add ${change} relay${plural(change)}`
              : change < 0
                ? `${-change} relay${plural(-change)} can be drained and removed`
                : 'enough relays';
      return {
        region,
        relays: serving.length,
        draining: relays.length - serving.length,
        viewers,
        viewersPerRelay: perRelay,
        needed,
        change,
        note,
      };
    });
}
