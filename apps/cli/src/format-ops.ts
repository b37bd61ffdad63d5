import {
  type BoothResponse,
  type ClusterPipes,
  nodeHealth,
  type OpsEvent,
  type OpsSnapshot,
  type PipeSummary,
  type ProgramResponse,
} from '@matchmesh/protocol';
import { table } from './format.ts';

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);
const mbps = (bps: number) => `${(bps / 1e6).toFixed(1)} Mbit/s`;
const usd = (n: number) => `$${n.toFixed(n < 10 ? 4 : 2)}`;
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
const SPARKS = '▁▂▃▄▅▆▇█';

/** The last values as block characters (the shape of a node's bitrate over the last minutes). */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(1, ...values);
  return values.map((v) => SPARKS[Math.min(SPARKS.length - 1, Math.floor((v / max) * SPARKS.length))]).join('');
}

/** One event on one line: time (UTC), kind, node, stream, what happened. */
export function formatEvent(e: OpsEvent): string {
  const where = [e.nodeId, e.region ? `(${e.region})` : undefined, e.stream ? `[${e.stream}]` : undefined]
    .filter(Boolean)
    .join(' ');
  return `${clock(e.at)}  ${e.kind.padEnd(13)} ${where ? `${where}  ` : ''}${e.detail}`;
}

export function formatEvents(events: readonly OpsEvent[]): string {
  return events.length === 0 ? 'no events' : events.map(formatEvent).join('\n');
}

export function formatProgram(p: ProgramResponse): string {
  const lines = [
    `${p.stream} on ${p.nodeId}: ${p.live ? 'live' : 'not live'}, on air ${p.activeLabel ?? '-'}${p.activeRole ? ` (${p.activeRole})` : ''}`,
    `switches ${p.switches}, origin reconnects ${p.originReconnects}, scores ${p.scores.forwarded}/${p.scores.received} (last #${p.scores.lastSeq})`,
  ];
  if (p.lastSwitch) {
    const freeze = p.lastSwitch.freezeMs === undefined ? '' : `, freeze ${Math.round(p.lastSwitch.freezeMs)} ms`;
    lines.push(`last switch ${clock(p.lastSwitch.at)}: ${p.lastSwitch.reason}${freeze}`);
  }
  lines.push(
    table(
      ['source', 'role', 'label', 'last packet'],
      p.sources.map((s) => [
        s.id,
        s.role,
        s.label,
        s.lastPacketMsAgo === null ? 'never' : `${Math.round(s.lastPacketMsAgo)} ms ago`,
      ]),
    ),
  );
  return lines.join('\n');
}

/** `matchmesh booth`: the languages on air, then one row per commentator. */
export function formatBooth(b: BoothResponse): string {
  if (b.languages.length === 0 && b.commentators.length === 0)
    return `no commentary on air for ${b.stream} on ${b.nodeId}`;
  const langs = b.languages.map((l) => `${l.lang} (${l.commentators})`).join(', ');
  // The mixers' lag as the node measures it (part of each language's delay against the picture).
  const lags = b.languages.flatMap((l) => (l.mixerLagMs === undefined ? [] : [`${l.lang} ${l.mixerLagMs} ms`]));
  const lines = [
    `${b.stream} on ${b.nodeId}: languages on air ${langs || '-'}${lags.length ? `; mixer lag ${lags.join(', ')}` : ''}`,
  ];
  if (b.commentators.length === 0) lines.push('no commentator on air (the languages linger)');
  else
    lines.push(
      table(
        ['commentator', 'lang', 'on air since', 'level', 'loss', 'lost', 'rtt', 'jitter', 'bitrate'],
        b.commentators.map((c) => [
          c.id.slice(0, 8),
          c.lang,
          clock(c.since),
          c.levelDbov === null ? '-' : `${c.levelDbov} dBov`,
          `${c.lossPercent.toFixed(1)}%`,
          String(c.packetsLost),
          c.rttMs === null ? '-' : `${c.rttMs.toFixed(0)} ms`,
          `${((c.jitter / 48000) * 1000).toFixed(1)} ms`,
          `${(c.bitrate / 1000).toFixed(0)} kbit/s`,
        ]),
      ),
    );
  return lines.join('\n');
}

export function formatPipes(nodeId: string, pipes: readonly PipeSummary[]): string {
  if (pipes.length === 0) return `no pipes on ${nodeId}`;
  const pct = (n: number, of: number) => (of > 0 ? `${((100 * n) / of).toFixed(2)}%` : '-');
  return table(
    ['stream', 'dir', 'peer', 'region', 'path', 'rtt', 'lost on the way', 'reported lost', 'dual path won'],
    pipes.map((p) => [
      p.stream,
      p.direction,
      p.peerNodeId,
      p.peerRegion,
      p.path ?? 'udp',
      p.link?.rttMs !== undefined ? `${Math.round(p.link.rttMs)} ms` : '-',
      p.link ? pct(p.link.nacked, p.link.packets) : '-',
      p.link ? pct(p.link.lost, p.link.packets) : '-',
      p.dualPath ? `${(100 * p.dualPath.share).toFixed(1)}% (residual ${p.dualPath.residual})` : '-',
    ]),
  );
}

/** Every node's pipes, node by node (`matchmesh pipes --cluster`), and the nodes that did not answer. */
export function formatClusterPipes(view: ClusterPipes): string {
  const parts = view.nodes.map((n) => `${n.nodeId} (${n.region})\n${formatPipes(n.nodeId, n.pipes)}`);
  if (view.unreachable.length > 0) parts.push(`did not answer: ${view.unreachable.join(', ')}`);
  return parts.join('\n\n');
}

const MARK = { ok: 'ok  ', warn: 'WARN', bad: 'BAD ' } as const;

/**
 * One frame of `matchmesh top`: the cluster total, each region with its
 * nodes (health, viewers WebRTC/HLS against capacity, bitrate and its
 * sparkline, each worker's CPU) and their streams, the streams, the last
 * events, and cost and reports when the node has them.
 */
export function formatTop(
  snapshot: OpsSnapshot,
  events: readonly OpsEvent[],
  history: ReadonlyMap<string, number[]> = new Map(),
  eventLines = 10,
): string {
  const hlsOf = (n: OpsSnapshot['nodes'][number]) =>
    Object.values(n.load.streamHlsPlayers ?? {}).reduce((a, b) => a + b, 0);
  const webrtc = snapshot.streams.reduce((a, s) => a + s.viewers, 0);
  const hls = snapshot.streams.reduce((a, s) => a + (s.hlsViewers ?? 0), 0);
  const out = snapshot.nodes.reduce((a, n) => a + n.load.bitrateOut, 0);
  const lines = [
    `matchmesh top — ${snapshot.nodes.length} nodes · ${webrtc} WebRTC · ${hls} HLS · ${mbps(out)} out   ${clock(snapshot.at)} UTC via ${snapshot.nodeId}`,
    '',
  ];
  const regions = [...new Set(snapshot.nodes.map((n) => n.region))].sort();
  for (const region of regions) {
    const nodes = snapshot.nodes.filter((n) => n.region === region).sort((a, b) => a.id.localeCompare(b.id));
    const rv = nodes.reduce((a, n) => a + n.load.viewers, 0);
    const rh = nodes.reduce((a, n) => a + hlsOf(n), 0);
    const rb = nodes.reduce((a, n) => a + n.load.bitrateOut, 0);
    lines.push(`REGION ${region}: ${nodes.length} nodes · ${rv} WebRTC · ${rh} HLS · ${mbps(rb)}`);
    const rows = nodes.map((n) => {
      const { health, why } = nodeHealth(n, snapshot.at);
      return [
        MARK[health],
        n.id,
        n.roles.join('+'),
        `${n.load.viewers}/${n.capacity.viewers}`,
        String(hlsOf(n)),
        mbps(n.load.bitrateOut),
        sparkline(history.get(n.id) ?? [n.load.bitrateOut]),
        n.load.workers.map((w) => `w${w.index} ${Math.round(w.cpu * 100)}%`).join(' ') ||
          `${Math.round(n.load.workerCpu * 100)}%`,
        `${n.draining ? 'DRAINING ' : ''}${health === 'ok' ? '' : why}`.trim(),
      ];
    });
    lines.push(indent(table(['', 'node', 'roles', 'webrtc', 'hls', 'out', 'trend', 'cpu', 'note'], rows)));
    lines.push('');
  }
  if (regions.length === 0) lines.push('no nodes', '');
  lines.push('STREAMS');
  lines.push(
    snapshot.streams.length === 0
      ? '  no streams'
      : indent(
          table(
            ['stream', 'ingest', 'regions', 'webrtc', 'hls'],
            snapshot.streams.map((s) => [
              s.stream,
              s.ingest ? `${s.ingest.nodeId} (${s.ingest.role})` : 'NONE',
              s.regions.map((r) => `${r.region}:${r.nodeId}`).join(' ') || '-',
              String(s.viewers),
              String(s.hlsViewers ?? '-'),
            ]),
          ),
        ),
  );
  lines.push('', `EVENTS (last ${Math.min(eventLines, events.length)})`);
  const recent = events.slice(-eventLines);
  lines.push(recent.length === 0 ? '  none' : indent(recent.map(formatEvent).join('\n')));
  if (snapshot.cost) {
    const c = snapshot.cost;
    lines.push(
      '',
      `COST since ${clock(c.since)} UTC: ${usd(c.total.usd)} (at your CDN ${usd(c.cdnUsdPerGb)}/GB: ${usd(c.total.cdnUsd)})`,
    );
    lines.push(
      indent(
        table(
          ['region', 'webrtc', 'hls', 'pipes', '$/GB', 'cost', 'cdn'],
          c.regions.map((r) => [
            r.region,
            gb(r.bytes.webrtc),
            gb(r.bytes.hls),
            gb(r.bytes.pipes),
            String(r.usdPerGb),
            usd(r.usd),
            usd(r.cdnUsd),
          ]),
        ),
      ),
    );
  }
  if (snapshot.reports) {
    lines.push('', `PROBLEM REPORTS (${snapshot.reports.length})`);
    for (const r of snapshot.reports.slice(0, 5)) {
      lines.push(`  ${clock(r.at)}  ${r.id}  ${r.nodeId} (${r.region}, ${r.path})  "${r.text.slice(0, 80)}"`);
    }
  }
  return lines.join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
