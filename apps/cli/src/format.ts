import type {
  KeysResponse,
  NodeRecord,
  RetireKeyResponse,
  RotateKeyResponse,
  ScaleAdviceResponse,
  StreamSummary,
} from '@matchmesh/protocol';

/** Left-aligned text table; the header row is upper-case. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n');
}

export function age(ms: number): string {
  if (ms < 0) return '0s';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 3_600_000)}h`;
}

export function formatNodes(nodes: readonly NodeRecord[], now: number): string {
  if (nodes.length === 0) return 'no nodes';
  const rows = [...nodes]
    .sort((a, b) => a.region.localeCompare(b.region) || a.id.localeCompare(b.id))
    .map((n) => [
      n.id,
      n.region,
      n.roles.join(','),
      n.url,
      `${n.load.viewers}/${n.capacity.viewers}`,
      String(n.load.streams),
      n.capacity.viewers > 0 ? `${Math.round((100 * n.load.viewers) / n.capacity.viewers)}%` : '-',
      `${(n.load.bitrateOut / 1e6).toFixed(1)} Mb/s`,
      `${Math.round(n.load.workerCpu * 100)}%`,
      workerCells(n),
      `${((n.load.egressBytes ?? 0) / 1e9).toFixed(2)} GB $${(n.load.egressCostUsd ?? 0).toFixed(2)}`,
      n.draining ? 'yes' : 'no',
      age(now - n.heartbeatAt),
    ]);
  return table(
    [
      'id',
      'region',
      'roles',
      'url',
      'viewers',
      'streams',
      'load',
      'out',
      'cpu',
      'workers',
      'egress',
      'draining',
      'heartbeat',
    ],
    rows,
  );
}

/** Each worker as `index:viewers/capacity@cpu%` ('-' from a node that does not report its workers). */
function workerCells(n: NodeRecord): string {
  const cells = n.load.workers.map((w) => `${w.index}:${w.viewers}/${w.capacity}@${Math.round(w.cpu * 100)}%`);
  return cells.length > 0 ? cells.join(' ') : '-';
}

export function formatScaleAdvice(advice: ScaleAdviceResponse): string {
  if (advice.regions.length === 0) return 'no relays in the cluster: start one per region';
  const rows = advice.regions.map((r) => [
    r.region,
    String(r.relays),
    String(r.draining),
    String(r.viewers),
    r.viewersPerRelay === null ? '-' : String(r.viewersPerRelay),
    String(r.needed),
    r.change > 0 ? `+${r.change}` : String(r.change),
    r.note,
  ]);
  return `${table(['region', 'relays', 'draining', 'viewers', 'per relay', 'needed', 'change', 'advice'], rows)}\n(headroom ${Math.round(advice.headroom * 100)} %)`;
}

export function formatStreams(streams: readonly StreamSummary[]): string {
  if (streams.length === 0) return 'no streams';
  const rows = streams.map((s) => [
    s.stream,
    s.ingest ? s.ingest.nodeId : '-',
    s.ingest ? s.ingest.role : '-',
    s.regions.length ? s.regions.map((r) => `${r.region}:${r.nodeId}`).join(' ') : '-',
    String(s.viewers),
  ]);
  return table(['stream', 'ingest', 'role', 'regions', 'viewers'], rows);
}

/** The signing keys, oldest first; what each state means, below the table. */
export function formatKeys(res: KeysResponse, now: number): string {
  const rows = res.keys.map((k) => [
    k.kid,
    k.state,
    k.createdAt > 0 ? `${new Date(k.createdAt).toISOString()} (${age(now - k.createdAt)} ago)` : '-',
  ]);
  return `${table(['kid', 'state', 'created'], rows)}\n(signing: new tokens; verify: still accepted; retired: refused)`;
}

/** The rotate answer: the secret is shown this once, with what to do next. */
export function formatRotated(res: RotateKeyResponse): string {
  return [
    `new signing key ${res.key.kid} (${res.nodesReloaded} node(s) reloaded now, the others within MM_KEYS_REFRESH_MS)`,
    `secret (shown once): ${res.secret}`,
    `issuers outside the mesh: MM_TOKEN_KID=${res.key.kid} MM_TOKEN_SECRET=<the secret>`,
    'retire the previous key once its longest-lived token has expired: matchmesh keys retire <kid>',
  ].join('\n');
}

export function formatRetired(res: RetireKeyResponse): string {
  return `key ${res.key.kid} retired: its tokens are refused (${res.nodesReloaded} node(s) reloaded now)`;
}
