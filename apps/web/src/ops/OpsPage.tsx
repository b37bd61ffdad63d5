import type { NodeRecord, PipeSummary, StreamSummary } from '@matchmesh/protocol';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { CostPanel } from './CostPanel.tsx';
import { ReportsPanel } from './ReportsPanel.tsx';
import { workerCells } from './workers.ts';

const REFRESH_MS = 2000;

type Snapshot = { nodes: NodeRecord[]; streams: StreamSummary[]; pipes: PipeSummary[]; at: number };

async function getJson<T>(path: string, token: string): Promise<T> {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) {
    const problem = (await res.json().catch(() => null)) as { detail?: string; title?: string } | null;
    throw new Error(`${res.status} ${problem?.detail ?? problem?.title ?? res.statusText}`);
  }
  return (await res.json()) as T;
}

const mbps = (bps: number) => `${(bps / 1e6).toFixed(2)} Mbit/s`;
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(3)} GB`;
const usd = (n: number) => `$${n.toFixed(n < 10 ? 4 : 2)}`;
const pct = (n: number, of: number) => (of > 0 ? `${((100 * n) / of).toFixed(2)} %` : '—');

/**
 * `/ops?token=<admin token>`: every node (region, roles, viewers against
 * capacity, streams, bitrate out, worker CPU, each worker's viewers against
 * its capacity and CPU, egress and its cost, drain)
 * and every stream (active ingest, region copies, viewers across the
 * cluster), and this node's pipes with what their paths did (RTT, loss before
 * and after retransmission), refreshed every 2 s from the admin API of the node
 * serving the page.
 */
export function OpsPage() {
  const token = useMemo(() => new URLSearchParams(window.location.search).get('token') ?? '', []);
  const [snapshot, setSnapshot] = useState<Snapshot | null>(null);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    try {
      const [{ nodes }, { streams }, { pipes }] = await Promise.all([
        getJson<{ nodes: NodeRecord[] }>('/api/v1/nodes', token),
        getJson<{ streams: StreamSummary[] }>('/api/v1/streams', token),
        getJson<{ pipes: PipeSummary[] }>('/api/v1/pipes', token),
      ]);
      nodes.sort((a, b) => a.region.localeCompare(b.region) || a.id.localeCompare(b.id));
      setSnapshot({ nodes, streams, pipes, at: Date.now() });
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [token]);

  useEffect(() => {
    if (!token) return;
    void refresh();
    const timer = setInterval(() => void refresh(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [token, refresh]);

  const setDraining = async (id: string, draining: boolean) => {
    const res = await fetch(`/api/v1/nodes/${encodeURIComponent(id)}/drain`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ draining }),
    });
    if (!res.ok) setError(`drain ${id}: ${res.status}`);
    await refresh();
  };

  if (!token) return <main className="page">This link has no admin token.</main>;
  const nodes = snapshot?.nodes ?? [];
  const totals = nodes.reduce(
    (t, n) => ({
      viewers: t.viewers + n.load.viewers,
      bitrate: t.bitrate + n.load.bitrateOut,
      egress: t.egress + n.load.egressBytes,
      cost: t.cost + n.load.egressCostUsd,
    }),
    { viewers: 0, bitrate: 0, egress: 0, cost: 0 },
  );
  return (
    <main className="page ops">
      <h1>Operations</h1>
      {error ? (
        <p className="error" data-testid="ops-error">
          {error}
        </p>
      ) : null}
      <p className="muted" data-testid="ops-totals">
        {nodes.length} nodes · {totals.viewers} viewers · {mbps(totals.bitrate)} out · egress {gb(totals.egress)} ≈{' '}
        {usd(totals.cost)}
      </p>
      <CostPanel token={token} />
      <h2>Nodes</h2>
      <table data-testid="ops-nodes">
        <thead>
          <tr>
            <th>node</th>
            <th>region</th>
            <th>roles</th>
            <th>viewers</th>
            <th>streams</th>
            <th>out</th>
            <th>worker CPU</th>
            <th>workers</th>
            <th>egress</th>
            <th>cost</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {nodes.map((n) => (
            <tr key={n.id} data-node={n.id} data-draining={n.draining ? 'yes' : 'no'}>
              <td>
                <a href={n.url}>{n.id}</a>
              </td>
              <td>{n.region}</td>
              <td>{n.roles.join(', ')}</td>
              <td>
                {n.load.viewers} / {n.capacity.viewers}
              </td>
              <td>{n.load.streams}</td>
              <td>{mbps(n.load.bitrateOut)}</td>
              <td>{Math.round(n.load.workerCpu * 100)} %</td>
              <td className="workers">
                {workerCells(n).map((w) => (
                  <span
                    key={w.index}
                    data-worker={w.index}
                    data-full={w.full ? 'yes' : 'no'}
                    data-hot={w.hot ? 'yes' : 'no'}
                  >
                    {w.label}
                  </span>
                ))}
                {n.load.workers.length === 0 ? '—' : null}
              </td>
              <td>{gb(n.load.egressBytes)}</td>
              <td>{usd(n.load.egressCostUsd)}</td>
              <td>
                <button type="button" onClick={() => void setDraining(n.id, !n.draining)}>
                  {n.draining ? 'Undrain' : 'Drain'}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Streams</h2>
      <table data-testid="ops-streams">
        <thead>
          <tr>
            <th>stream</th>
            <th>ingest</th>
            <th>region copies</th>
            <th>viewers</th>
          </tr>
        </thead>
        <tbody>
          {(snapshot?.streams ?? []).map((s) => (
            <tr key={s.stream} data-stream={s.stream} data-viewers={s.viewers}>
              <td>{s.stream}</td>
              <td>{s.ingest ? `${s.ingest.nodeId} (${s.ingest.role})` : '—'}</td>
              <td>{s.regions.map((r) => `${r.region}: ${r.nodeId}`).join(' · ') || '—'}</td>
              <td>{s.viewers}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Pipes of this node</h2>
      <p>
        The long hauls: open this page on an ingest node to see every region's copy leaving it (round trip, packets lost
        on the way before retransmission, and after).
      </p>
      <table data-testid="ops-pipes">
        <thead>
          <tr>
            <th>stream</th>
            <th>direction</th>
            <th>other end</th>
            <th>RTT</th>
            <th>packets</th>
            <th>lost on the way</th>
            <th>retransmitted</th>
            <th>reported lost</th>
          </tr>
        </thead>
        <tbody>
          {(snapshot?.pipes ?? []).map((p) => (
            <tr key={p.id} data-pipe={p.id} data-direction={p.direction}>
              <td>{p.stream}</td>
              <td>{p.direction}</td>
              <td>{p.peerNodeId}</td>
              <td>{p.link?.rttMs !== undefined ? `${Math.round(p.link.rttMs)} ms` : '—'}</td>
              <td>{p.link?.packets ?? '—'}</td>
              <td>{p.link ? pct(p.link.nacked, p.link.packets) : '—'}</td>
              <td>{p.link?.retransmitted ?? '—'}</td>
              <td>{p.link ? pct(p.link.lost, p.link.packets) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <ReportsPanel token={token} />
    </main>
  );
}
