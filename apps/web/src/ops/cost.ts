import type { CostResponse } from '@matchmesh/protocol';

/** Bytes in decimal units, as providers bill them. */
export function formatBytes(n: number): string {
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

/** Dollars: cents, or two significant digits below a cent (a night's first minutes). */
export function formatUsd(n: number): string {
  if (n >= 100) return `$${n.toFixed(0)}`;
  if (n >= 0.01) return `$${n.toFixed(2)}`;
  return n > 0 ? `$${n.toPrecision(2)}` : '$0';
}

/** The panel's headline: the night so far, and the same viewers' bytes at the CDN's price. */
export function costHeadline(cost: CostResponse): { mesh: string; cdn: string; verdict: string } {
  const { usd, cdnUsd } = cost.total;
  const diff = cdnUsd - usd;
  const share = cdnUsd > 0 ? Math.round((100 * Math.abs(diff)) / cdnUsd) : 0;
  return {
    mesh: formatUsd(usd),
    cdn: formatUsd(cdnUsd),
    verdict:
      cdnUsd === 0 ? 'nothing delivered yet' : diff >= 0 ? `${share} % below the CDN` : `${share} % above the CDN`,
  };
}
