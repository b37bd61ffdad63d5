import type { CostResponse, RegionBytes } from '@matchmesh/protocol';
import { age, table } from './format.ts';

/** Bytes as people read them (decimal units, as providers bill them). */
export function bytes(n: number): string {
  if (n < 1e3) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1e3;
  let u = 0;
  while (v >= 1e3 && u < units.length - 1) {
    v /= 1e3;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Dollars: cents, or two significant digits below a cent. */
export function usd(n: number): string {
  if (n >= 100) return `$${n.toFixed(0)}`;
  if (n >= 0.01) return `$${n.toFixed(2)}`;
  // A test night (or the first minutes of a real one): two significant digits, not $0.00.
  return n > 0 ? `$${n.toPrecision(2)}` : '$0';
}

const row = (name: string, b: RegionBytes, price: string, cost: number, cdn: number): string[] => [
  name,
  bytes(b.webrtc),
  bytes(b.hls),
  bytes(b.pipes),
  price,
  usd(cost),
  usd(cdn),
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
      ? `the mesh ${usd(cost.total.usd)}, the same viewers' bytes at the CDN's $${cost.cdnUsdPerGb}/GB ${usd(cost.total.cdnUsd)} (${saved >= 0 ? 'saves' : 'costs'} ${usd(Math.abs(saved))}, ${Math.round((100 * Math.abs(saved)) / cost.total.cdnUsd)} %)`
      : `the mesh ${usd(cost.total.usd)}`;
  return `${table(['region', 'webrtc', 'hls', 'pipes', 'usd/gb', 'cost', 'at cdn'], rows)}\n${verdict}; ${head}`;
}
