import { type CostResponse, formatBytes, formatUsd } from '@matchmesh/protocol';

export { formatBytes, formatUsd };

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
