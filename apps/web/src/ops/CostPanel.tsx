import { CostResponse } from '@matchmesh/protocol';
import { useEffect, useState } from 'react';
import { costHeadline, formatBytes, formatUsd } from './cost.ts';

const REFRESH_MS = 5000;

/**
 * The night's cost (issue 17 item 3): per region the bytes to viewers
 * (WebRTC, HLS) and the region copies sent to other regions, at the region's
 * price, beside what the viewers' bytes would cost at the CDN's price. Read
 * from `GET /api/v1/cost` (the cluster's ledger in Redis), so it survives
 * node restarts and covers every node, whichever serves the page.
 */
export function CostPanel({ token }: { token: string }) {
  const [cost, setCost] = useState<CostResponse | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const res = await fetch('/api/v1/cost', { headers: { Authorization: `Bearer ${token}` } });
        if (!res.ok) throw new Error(`cost: ${res.status}`);
        const parsed = CostResponse.parse(await res.json());
        if (!stopped) {
          setCost(parsed);
          setError(null);
        }
      } catch (err) {
        if (!stopped) setError((err as Error).message);
      }
    };
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [token]);

  if (!cost) return error ? <p className="error">{error}</p> : null;
  const headline = costHeadline(cost);
  return (
    <section className="cost" data-testid="ops-cost" data-available="yes">
      <h2>Cost of the night</h2>
      <p className="cost-headline">
        <strong data-testid="ops-cost-total">{headline.mesh}</strong> since {new Date(cost.since).toLocaleTimeString()}{' '}
        · the same viewers' bytes at the CDN (${cost.cdnUsdPerGb}/GB):{' '}
        <strong data-testid="ops-cost-cdn">{headline.cdn}</strong> · {headline.verdict}
      </p>
      <table>
        <thead>
          <tr>
            <th>region</th>
            <th>WebRTC</th>
            <th>HLS</th>
            <th>to other regions</th>
            <th>$/GB</th>
            <th>cost</th>
            <th>at the CDN</th>
          </tr>
        </thead>
        <tbody>
          {cost.regions.map((r) => (
            <tr key={r.region} data-region={r.region} data-webrtc={r.bytes.webrtc} data-hls={r.bytes.hls}>
              <td>{r.region}</td>
              <td>{formatBytes(r.bytes.webrtc)}</td>
              <td>{formatBytes(r.bytes.hls)}</td>
              <td>{formatBytes(r.bytes.pipes)}</td>
              <td>{r.usdPerGb}</td>
              <td>{formatUsd(r.usd)}</td>
              <td>{formatUsd(r.cdnUsd)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {error ? <p className="error">{error}</p> : null}
    </section>
  );
}
