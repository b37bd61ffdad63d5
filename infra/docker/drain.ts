/**
 * preStop hook of a node pod (infra/k8s): drain this node, then wait until its
 * viewers have moved to other relays of the region, so a rolling update or a
 * node eviction costs viewers a re-placement instead of a frozen picture.
 *
 *   node infra/dist/drain.js     (compiled by `tsc -b`: infra/tsconfig.json)
 *
 * Env: MM_NODE_ID (required), MM_HTTP_PORT (8080), MM_ADMIN_TOKEN or
 * MM_TOKEN_SECRET (a 5-minute admin token is signed with it),
 * MM_DRAIN_TIMEOUT_S (60), MM_DRAIN_POLL_MS (1000).
 *
 * Always exits 0: Kubernetes sends SIGTERM after the hook whatever it returns,
 * and the node's own SIGTERM handler closes what is left.
 */
import { pathToFileURL } from 'node:url';
import { DrainResponse, NodesResponse, signToken } from '@matchmesh/protocol';

export interface DrainOptions {
  /** Base URL of the node's HTTP server, e.g. http://127.0.0.1:8080 */
  url: string;
  nodeId: string;
  token: string;
  timeoutMs: number;
  pollMs: number;
  fetch?: typeof fetch;
  log?: (line: string) => void;
}

export interface DrainResult {
  /** True when the node reported no viewer before the deadline. */
  drained: boolean;
  /** Viewers (signaling peers + WHEP players) in the last heartbeat seen. */
  viewers: number;
  waitedMs: number;
}

export async function drainAndWait(o: DrainOptions): Promise<DrainResult> {
  const f = o.fetch ?? fetch;
  const log = o.log ?? (() => {});
  const headers = { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' };
  const started = Date.now();
  const deadline = started + o.timeoutMs;

  // Draining: the node refuses new joins and tells its viewers to move
  // (the client re-places them on another relay of the region).
  const res = await f(`${o.url}/api/v1/nodes/${encodeURIComponent(o.nodeId)}/drain`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ draining: true }),
    signal: AbortSignal.timeout(Math.max(1000, Math.min(o.timeoutMs, 10_000))),
  });
  if (!res.ok) throw new Error(`drain ${o.nodeId}: HTTP ${res.status} ${await res.text()}`);
  DrainResponse.parse(await res.json());
  log(`drain: ${o.nodeId} is draining; waiting up to ${Math.round(o.timeoutMs / 1000)} s for its viewers to move`);

  let viewers = Number.NaN;
  for (;;) {
    try {
      const list = await f(`${o.url}/api/v1/nodes`, { headers, signal: AbortSignal.timeout(o.pollMs + 2000) });
      if (list.ok) {
        const me = NodesResponse.parse(await list.json()).nodes.find((n) => n.id === o.nodeId);
        // The load is the one of the last heartbeat (every MM_HEARTBEAT_MS).
        viewers = me ? me.load.viewers : 0;
        if (viewers === 0) return { drained: true, viewers, waitedMs: Date.now() - started };
      }
    } catch (err) {
      // Redis briefly down (503) or a slow answer: keep waiting until the deadline.
      log(`drain: poll failed: ${(err as Error).message}`);
    }
    if (Date.now() + o.pollMs > deadline) {
      return { drained: false, viewers, waitedMs: Date.now() - started };
    }
    await new Promise((r) => setTimeout(r, o.pollMs));
  }
}

async function main(): Promise<void> {
  const env = process.env;
  const nodeId = env.MM_NODE_ID;
  if (!nodeId) throw new Error('MM_NODE_ID is not set');
  const token =
    env.MM_ADMIN_TOKEN?.trim() ||
    (env.MM_TOKEN_SECRET
      ? await signToken(env.MM_TOKEN_SECRET, { role: 'admin', stream: '*', sub: `prestop:${nodeId}`, ttl: '5m' })
      : undefined);
  if (!token) throw new Error('no MM_ADMIN_TOKEN and no MM_TOKEN_SECRET to sign one');
  const result = await drainAndWait({
    url: `http://127.0.0.1:${env.MM_HTTP_PORT ?? '8080'}`,
    nodeId,
    token,
    timeoutMs: Number(env.MM_DRAIN_TIMEOUT_S ?? 60) * 1000,
    pollMs: Number(env.MM_DRAIN_POLL_MS ?? 1000),
    log: (line) => console.log(line),
  });
  console.log(
    result.drained
      ? `drain: ${nodeId} has no viewer left after ${result.waitedMs} ms`
      : `drain: ${nodeId} still has ${result.viewers} viewer(s) after ${result.waitedMs} ms; stopping anyway`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(`drain: ${(err as Error).message}`);
  });
}
