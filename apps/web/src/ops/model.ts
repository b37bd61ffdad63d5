import type { NodeRecord, OpsEvent, OpsSnapshot, StreamSummary } from '@matchmesh/protocol';

/** The node colours are shared with `matchmesh top` (packages/protocol ops-live.ts). */
export { type NodeHealth as Health, nodeHealth } from '@matchmesh/protocol';

export interface RegionView {
  region: string;
  nodes: NodeRecord[];
  viewers: number;
  hlsViewers: number;
  bitrateOut: number;
}

/** Regions (by name) with their nodes (by id) and totals. */
export function byRegion(nodes: readonly NodeRecord[]): RegionView[] {
  const regions = new Map<string, RegionView>();
  for (const node of [...nodes].sort((a, b) => a.id.localeCompare(b.id))) {
    const r = regions.get(node.region) ?? { region: node.region, nodes: [], viewers: 0, hlsViewers: 0, bitrateOut: 0 };
    r.nodes.push(node);
    r.viewers += node.load.viewers;
    r.hlsViewers += hlsOf(node);
    r.bitrateOut += node.load.bitrateOut;
    regions.set(node.region, r);
  }
  return [...regions.values()].sort((a, b) => a.region.localeCompare(b.region));
}

export const hlsOf = (node: NodeRecord): number =>
  Object.values(node.load.streamHlsPlayers ?? {}).reduce((a, b) => a + b, 0);

/** A node's streams with their viewers there (WebRTC, HLS). */
export function nodeStreams(node: NodeRecord): { stream: string; viewers: number; hls: number }[] {
  const ids = new Set([...Object.keys(node.load.streamViewers), ...Object.keys(node.load.streamHlsPlayers ?? {})]);
  return [...ids].sort().map((stream) => ({
    stream,
    viewers: node.load.streamViewers[stream] ?? 0,
    hls: node.load.streamHlsPlayers?.[stream] ?? 0,
  }));
}

/** How many points a sparkline keeps (2 s apart: two minutes). */
export const SPARK_POINTS = 60;

/** Keeps each series' recent values, one point per snapshot: the page's sparklines. */
export function appendHistory(
  history: ReadonlyMap<string, number[]>,
  values: Record<string, number>,
  keep = SPARK_POINTS,
): Map<string, number[]> {
  const next = new Map<string, number[]>();
  for (const [key, value] of Object.entries(values)) {
    next.set(key, [...(history.get(key) ?? []), value].slice(-keep));
  }
  return next;
}

/** The series the page draws from a snapshot: each node's bitrate out, and the cluster's. */
export function bitrateSeries(snapshot: OpsSnapshot): Record<string, number> {
  const out: Record<string, number> = { '*': 0 };
  for (const node of snapshot.nodes) {
    out[node.id] = node.load.bitrateOut;
    out['*'] = (out['*'] ?? 0) + node.load.bitrateOut;
  }
  return out;
}

/** Events newest first, each once (the stream's history and live events may overlap a reload), at most `keep`. */
export function mergeEvents(current: readonly OpsEvent[], incoming: readonly OpsEvent[], keep = 200): OpsEvent[] {
  const byId = new Map(current.map((e) => [e.id, e]));
  for (const e of incoming) byId.set(e.id, e);
  return [...byId.values()].sort((a, b) => compareIds(b.id, a.id)).slice(0, keep);
}

function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

export const totals = (streams: readonly StreamSummary[]) =>
  streams.reduce((t, s) => ({ viewers: t.viewers + s.viewers, hls: t.hls + (s.hlsViewers ?? 0) }), {
    viewers: 0,
    hls: 0,
  });

export const mbps = (bps: number) => `${(bps / 1e6).toFixed(1)} Mbit/s`;
export const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
export const usd = (n: number) => `$${n.toFixed(n < 10 ? 4 : 2)}`;
export const clock = (ms: number) => new Date(ms).toLocaleTimeString([], { hour12: false });
