import { useMemo, useState } from 'react';
import { BoothPanel } from './BoothPanel.tsx';
import { CostPanel } from './CostPanel.tsx';
import { byRegion, clock, mbps, totals } from './model.ts';
import { EventsFeed, NodeCard, PipesTable, Sparkline, StreamsTable } from './panels.tsx';
import { ReportsPanel } from './ReportsPanel.tsx';
import { useOpsLive } from './useOpsLive.ts';
import './ops.css';

/**
 * `/ops?token=<admin token>`: the match night at a glance, live (server-sent
 * events from the node serving the page). Regions, each with its nodes as
 * cards — a health colour (load, worker CPU, heartbeat age), viewers over
 * WebRTC and HLS against capacity, each worker's viewers and CPU, a bitrate
 * sparkline, the streams it serves, drain/undrain — then every stream
 * (ingest, region copies, viewers), the commentary booths of the streams it
 * ingests (who is on air, language, level, loss, RTT), this node's pipes; beside them the events
 * feed, problem reports and the night's cost per region, the last two shown as
 * unavailable on a node without their routes.
 */
export function OpsPage() {
  const token = useMemo(() => new URLSearchParams(window.location.search).get('token') ?? '', []);
  const live = useOpsLive(token);
  const [actionError, setActionError] = useState<string | null>(null);

  const setDraining = async (id: string, draining: boolean, force = false): Promise<void> => {
    const res = await fetch(`/api/v1/nodes/${encodeURIComponent(id)}/drain`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ draining, force }),
    });
    if (res.status === 409 && draining && !force) {
      // The region's last serving relay: its viewers would have nowhere to go. Ops say so knowingly.
      const detail = ((await res.json().catch(() => null)) as { detail?: string } | null)?.detail ?? 'last relay';
      if (window.confirm(`${detail}\n\nDrain it anyway?`)) return setDraining(id, true, true);
      setActionError(`drain ${id}: not drained (${detail})`);
      return;
    }
    setActionError(res.ok ? null : `drain ${id}: ${res.status}`);
    await live.refresh();
  };

  if (!token) return <main className="page">This link has no admin token.</main>;
  const snapshot = live.snapshot;
  const error = actionError ?? live.error;
  const now = snapshot?.at ?? Date.now();
  const regions = byRegion(snapshot?.nodes ?? []);
  const viewers = totals(snapshot?.streams ?? []);
  const bitrate = regions.reduce((a, r) => a + r.bitrateOut, 0);

  return (
    <main className="ops-live">
      <header className="ops-head">
        <h1>Operations</h1>
        <span
          className={`live-dot ${live.connected ? 'on' : 'off'}`}
          data-testid="ops-connected"
          data-on={live.connected ? 'yes' : 'no'}
        >
          {live.connected ? 'live' : 'connecting…'}
        </span>
        <span className="muted">{snapshot ? `updated ${clock(snapshot.at)} by ${snapshot.nodeId}` : ''}</span>
        <div className="head-figures" data-testid="ops-totals">
          <span>
            <b className="big">{snapshot?.nodes.length ?? 0}</b> nodes
          </span>
          <span>
            <b className="big">{viewers.viewers}</b> WebRTC
          </span>
          <span>
            <b className="big">{viewers.hls}</b> HLS
          </span>
          <span>
            <Sparkline values={live.history.get('*') ?? []} label="cluster bitrate out" /> {mbps(bitrate)}
          </span>
        </div>
      </header>
      {error ? (
        <p className="error" data-testid="ops-error">
          {error}
        </p>
      ) : null}
      <div className="ops-grid">
        <section className="ops-main">
          <div data-testid="ops-regions">
            {regions.map((r) => (
              <section key={r.region} className="region" data-region={r.region}>
                <h2>
                  {r.region}{' '}
                  <span className="muted">
                    {r.nodes.length} nodes · {r.viewers} WebRTC · {r.hlsViewers} HLS · {mbps(r.bitrateOut)}
                  </span>
                </h2>
                <div className="node-cards" data-testid="ops-nodes">
                  {r.nodes.map((n) => (
                    <NodeCard
                      key={n.id}
                      node={n}
                      now={now}
                      history={live.history.get(n.id) ?? []}
                      onDrain={(id, d) => void setDraining(id, d)}
                    />
                  ))}
                </div>
              </section>
            ))}
            {snapshot && regions.length === 0 ? <p className="muted">No node is registered.</p> : null}
          </div>
          <h2>Streams</h2>
          <StreamsTable streams={snapshot?.streams ?? []} />
          <BoothPanel token={token} streams={snapshot?.streams ?? []} nodeId={snapshot?.nodeId} />
          {snapshot?.clusterPipes ? (
            <section data-testid="ops-cluster-pipes">
              <h2>Pipes of the cluster</h2>
              {snapshot.clusterPipes.nodes.map((n) => (
                <section key={n.nodeId} data-node={n.nodeId}>
                  <h3>
                    {n.nodeId} <span className="muted">{n.region}</span>
                  </h3>
                  <PipesTable pipes={n.pipes} nodeId={n.nodeId} />
                </section>
              ))}
              {snapshot.clusterPipes.unreachable.length > 0 ? (
                <p className="muted">Did not answer: {snapshot.clusterPipes.unreachable.join(', ')}</p>
              ) : null}
            </section>
          ) : (
            <>
              <h2>Pipes of {snapshot?.nodeId ?? 'this node'}</h2>
              <PipesTable pipes={snapshot?.pipes ?? []} nodeId={snapshot?.nodeId ?? 'this node'} />
            </>
          )}
        </section>
        <aside className="ops-side">
          <h2>Events</h2>
          <EventsFeed events={live.events} />
          {/* A report event in the feed refreshes the panel at once (it also polls). */}
          <ReportsPanel token={token} refreshKey={live.events.filter((e) => e.kind === 'report').length} />
          <CostPanel token={token} />
        </aside>
      </div>
    </main>
  );
}
