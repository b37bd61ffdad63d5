import type { NodeRecord, OpsEvent, PipeSummary, StreamSummary } from '@matchmesh/protocol';
import { clock, hlsOf, mbps, nodeHealth, nodeStreams } from './model.ts';
import { workerCells } from './workers.ts';

/** A line of the last values (no axis: the shape is the message; the figure beside it is the value). */
export function Sparkline({ values, label }: { values: readonly number[]; label: string }) {
  const w = 120;
  const h = 28;
  const max = Math.max(1, ...values);
  const points = values.map((v, i) => `${(i * w) / Math.max(1, values.length - 1)},${h - 2 - ((h - 4) * v) / max}`);
  return (
    <svg className="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
      {values.length > 1 ? <polyline points={points.join(' ')} /> : null}
    </svg>
  );
}

/** One node: colour, load against capacity, its workers' CPU, bitrate sparkline, its streams, drain. */
export function NodeCard(props: {
  node: NodeRecord;
  now: number;
  history: readonly number[];
  onDrain: (id: string, draining: boolean) => void;
}) {
  const { node, now } = props;
  const { health, why } = nodeHealth(node, now);
  const load = node.capacity.viewers > 0 ? node.load.viewers / node.capacity.viewers : 0;
  const hls = hlsOf(node);
  return (
    <article
      className={`node-card ${health}${node.draining ? ' draining' : ''}`}
      data-node={node.id}
      data-health={health}
      data-draining={node.draining ? 'yes' : 'no'}
      data-viewers={node.load.viewers}
      data-hls={hls}
    >
      <header>
        <span className={`dot ${health}`} title={why} />
        <a href={node.url} className="node-id">
          {node.id}
        </a>
        <span className="muted">{node.roles.join(' + ')}</span>
        {node.draining ? <span className="tag">draining</span> : null}
        <button type="button" onClick={() => props.onDrain(node.id, !node.draining)}>
          {node.draining ? 'Undrain' : 'Drain'}
        </button>
      </header>
      <div className="figures">
        <div>
          <b className="big">{node.load.viewers}</b> WebRTC · <b className="big">{hls}</b> HLS
          <div className="bar" title={`${Math.round(load * 100)} % of ${node.capacity.viewers}`}>
            <span style={{ width: `${Math.min(100, load * 100)}%` }} />
          </div>
          <span className="muted">of {node.capacity.viewers}</span>
        </div>
        <div>
          <Sparkline values={props.history} label={`${node.id} bitrate out`} />
          <div>{mbps(node.load.bitrateOut)}</div>
        </div>
      </div>
      <div className="workers">
        {workerCells(node).map((w) => (
          <span
            key={w.index}
            data-worker={w.index}
            className={w.hot ? 'bad' : w.full ? 'warn' : 'ok'}
            data-full={w.full ? 'yes' : 'no'}
            data-hot={w.hot ? 'yes' : 'no'}
          >
            {w.label}
          </span>
        ))}
      </div>
      <ul className="node-streams">
        {nodeStreams(node).map((s) => (
          <li key={s.stream} data-stream={s.stream} data-viewers={s.viewers}>
            {s.stream}: {s.viewers} WebRTC{s.hls ? ` · ${s.hls} HLS` : ''}
          </li>
        ))}
      </ul>
    </article>
  );
}

export function StreamsTable({ streams }: { streams: readonly StreamSummary[] }) {
  return (
    <table data-testid="ops-streams">
      <thead>
        <tr>
          <th>stream</th>
          <th>ingest</th>
          <th>region copies</th>
          <th>WebRTC</th>
          <th>HLS</th>
        </tr>
      </thead>
      <tbody>
        {streams.map((s) => (
          <tr key={s.stream} data-stream={s.stream} data-viewers={s.viewers} data-hls={s.hlsViewers ?? 0}>
            <td>{s.stream}</td>
            <td>{s.ingest ? `${s.ingest.nodeId} (${s.ingest.role})` : <span className="bad-text">none</span>}</td>
            <td>{s.regions.map((r) => `${r.region}: ${r.nodeId}`).join(' · ') || '—'}</td>
            <td className="num">{s.viewers}</td>
            <td className="num">{s.hlsViewers ?? '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const pct = (n: number, of: number) => (of > 0 ? `${((100 * n) / of).toFixed(2)} %` : '—');

export function PipesTable({ pipes, nodeId }: { pipes: readonly PipeSummary[]; nodeId: string }) {
  if (pipes.length === 0) return <p className="muted">No pipes on {nodeId}.</p>;
  return (
    <table data-testid="ops-pipes">
      <thead>
        <tr>
          <th>stream</th>
          <th>dir</th>
          <th>other end</th>
          <th>path</th>
          <th>RTT</th>
          <th>lost on the way</th>
          <th>reported lost</th>
          <th>dual path won</th>
        </tr>
      </thead>
      <tbody>
        {pipes.map((p) => (
          <tr key={p.id} data-pipe={p.id} data-direction={p.direction}>
            <td>{p.stream}</td>
            <td>{p.direction === 'out' ? '→' : '←'}</td>
            <td>
              {p.peerNodeId} ({p.peerRegion})
            </td>
            <td>{p.path ?? 'udp'}</td>
            <td className="num">{p.link?.rttMs !== undefined ? `${Math.round(p.link.rttMs)} ms` : '—'}</td>
            <td className="num">{p.link ? pct(p.link.nacked, p.link.packets) : '—'}</td>
            <td className="num">{p.link ? pct(p.link.lost, p.link.packets) : '—'}</td>
            <td className="num" data-dual-share={p.dualPath?.share}>
              {p.dualPath ? `${(100 * p.dualPath.share).toFixed(1)} % (residual ${p.dualPath.residual})` : '—'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const KIND_LABEL: Record<OpsEvent['kind'], string> = {
  'node-joined': 'joined',
  'node-left': 'left',
  drain: 'drain',
  undrain: 'undrain',
  'drain-empty': 'drained',
  'source-switch': 'switch',
  fallback: 'fallback',
  report: 'report',
  'key-rotated': 'key',
  'key-retired': 'key',
};

/** Newest first; colour by kind (a departure or a fallback is red, a drain amber). */
export function EventsFeed({ events }: { events: readonly OpsEvent[] }) {
  return (
    <ol className="events" data-testid="ops-events">
      {events.length === 0 ? <li className="muted">Nothing yet.</li> : null}
      {events.map((e) => (
        <li key={e.id} data-kind={e.kind} data-node={e.nodeId ?? ''} className={`kind-${e.kind}`}>
          <time>{clock(e.at)}</time>
          <span className="kind">{KIND_LABEL[e.kind]}</span>
          <span>
            {e.nodeId ? <b>{e.nodeId}</b> : null}
            {e.stream ? <span className="muted"> {e.stream}</span> : null} {e.detail}
          </span>
        </li>
      ))}
    </ol>
  );
}
