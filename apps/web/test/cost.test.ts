import type { CostResponse } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { costHeadline, formatBytes, formatUsd } from '../src/ops/cost.ts';

const night = (usd: number, cdnUsd: number): CostResponse => ({
  currency: 'USD',
  cdnUsdPerGb: 0.085,
  since: 0,
  regions: [],
  total: { bytes: { webrtc: 0, hls: 0, pipes: 0 }, usd, cdnUsd },
});

describe('ops page: cost panel figures', () => {
  it('bytes in decimal units, dollars to the cent or two digits below one', () => {
    expect([formatBytes(999), formatBytes(1500), formatBytes(2.5e9)]).toEqual(['999 B', '1.50 kB', '2.50 GB']);
    expect([formatUsd(0), formatUsd(0.000083), formatUsd(3.456), formatUsd(512.4)]).toEqual([
      '$0',
      '$0.000083',
      '$3.46',
      '$512',
    ]);
  });

  it('the headline says how the mesh compares with the CDN', () => {
    expect(costHeadline(night(6.54, 12.75))).toEqual({ mesh: '$6.54', cdn: '$12.75', verdict: '49 % below the CDN' });
    expect(costHeadline(night(1.2, 1)).verdict).toBe('20 % above the CDN');
    expect(costHeadline(night(0, 0)).verdict).toBe('nothing delivered yet');
  });
});
