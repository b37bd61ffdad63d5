import { type CostResponse, formatBytes, formatUsd, type RegionBytes } from '@matchmesh/protocol';
import { age, table } from './format.ts';

/** The CLI's names for the shared cost formatters. */
export { formatBytes as bytes, formatUsd as usd };

const row = (name: string, b: RegionBytes, price: string, cost: number, cdn: number): string[] => [
  name,
  formatBytes(b.webrtc),
  formatBytes(b.hls),
  formatBytes(b.pipes),
  price,
  formatUsd(cost),
  formatUsd(cdn),
];

/** `matchmesh cost`: the night's bytes and cost per region, the total, and what the CDN would have cost. */
export function formatCost(cost: CostResponse, now: number): string {
  const head = `since ${new Date(cost.since).toISOString()} (${age(now - cost.since)} ago)`;
  if (cost.regions.length === 0) return `no bytes counted yet ${head}`;
  const rows = cost.regions.map((r) => row(r.region, r.bytes, r.usdPerGb.toFixed(3), r.usd, r.cdnUsd));
  rows.push(row('total', cost.total.bytes, '', cost.total.usd, cost.total.cdnUsd));
  const saved = cost.total.cdnUsd - cost.total.usd;
  const verdict =
    cost.total.cdnUsd > 0
      ? `the mesh ${formatUsd(cost.total.usd)}, the same viewers' bytes at the CDN's $${cost.cdnUsdPerGb}/GB ${formatUsd(cost.total.cdnUsd)} (${saved >= 0 ? 'saves' : 'costs'} ${formatUsd(Math.abs(saved))}, ${Math.round((100 * Math.abs(saved)) / cost.total.cdnUsd)} %)`
      : `the mesh ${formatUsd(cost.total.usd)}`;
  return `${table(['region', 'webrtc', 'hls', 'pipes', 'usd/gb', 'cost', 'at cdn'], rows)}\n${verdict}; ${head}`;
}
