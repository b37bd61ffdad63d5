import type { RegionScaleAdvice } from '@matchmesh/protocol';
import client from 'prom-client';

/** What the scaling metrics read: the scale advice of every region (from the registry). */
export interface ScaleFigures {
  advice(): Promise<RegionScaleAdvice[]>;
}

/**
 * Metrics an autoscaler follows (infra/k8s: KEDA's Prometheus trigger on
 * `max(mm_scale_needed_relays{region="eu"})`) and what rebalancing did. Every
 * node exports the whole cluster's advice (one registry read per scrape), so
 * the figure survives any one node; the `region` label is the region the
 * figure is about (it overrides the node's own default label).
 */
export function registerScaleMetrics(
  registry: client.Registry,
  figures: ScaleFigures | undefined,
): { rebalanceMoves: client.Counter } {
  new client.Gauge({
    name: 'mm_scale_needed_relays',
    help: 'Relays the region’s audience needs now: viewers × (1 + MM_SCALE_HEADROOM) ÷ a relay’s capacity, at least 1 while the region has a relay (GET /api/v1/scale-advice)',
    labelNames: ['region'],
    registers: [registry],
    async collect() {
      this.reset();
      // Redis away: no figure rather than a wrong one (an autoscaler then holds its replica count).
      const advice = (await figures?.advice().catch(() => [])) ?? [];
      for (const r of advice) this.set({ region: r.region }, r.needed);
    },
  });
  new client.Gauge({
    name: 'mm_scale_serving_relays',
    help: 'Relays serving viewers (not draining) per region, as the registry lists them',
    labelNames: ['region'],
    registers: [registry],
    async collect() {
      this.reset();
      const advice = (await figures?.advice().catch(() => [])) ?? [];
      for (const r of advice) this.set({ region: r.region }, r.relays);
    },
  });
  const rebalanceMoves = new client.Counter({
    name: 'mm_rebalance_moves',
    help: 'Viewers this relay told to move to a relay of its region under its share (rebalancing)',
    registers: [registry],
  });
  return { rebalanceMoves };
}
