import { type EdgeNode, EdgesResponse, ProbeResponse } from '@matchmesh/protocol';

/*
 * Viewer placement, client half. The node's GET /api/v1/streams/:stream/edges
 * lists, per region, the relays that accept viewers (least loaded first) with
 * a probe URL. We time a few GETs of every listed relay's probe, all in
 * parallel and within a fixed budget, and join the lowest-RTT region's least
 * loaded relay — by the load each probe answered (the relay's count now), not
 * the edges list's (its last heartbeat, up to a period old: a burst of joins
 * would all pick the same relay). When every probe fails we use the server's guess.
 *
 * RTT is measured with plain `fetch` timing: the first sample to a host pays
 * for the TCP connection, so the minimum over the samples is taken — it is
 * the closest thing to the network RTT the page can see.
 */

export type PlacementReason =
  /** Lowest measured RTT among regions with a relay under capacity. */
  | 'rtt'
  /** The caller asked for this region (page `?region=`, or staying in the region on drain/failover). */
  | 'region'
  /** Every probe failed: the server's region guess. */
  | 'guess'
  /** Nothing usable in the edges list (or it could not be fetched): the node we were given. */
  | 'fallback';

export type Placement = {
  nodeUrl: string;
  nodeId: string | null;
  region: string | null;
  reason: PlacementReason;
  /** Region → best RTT in ms, null when every probe of the region failed. Empty when not measured. */
  rtts: Record<string, number | null>;
  /** Time spent deciding (edges fetch + probes). */
  tookMs: number;
  /** Every relay URL the edges list named: where to ask next time if this node is gone. */
  knownUrls: string[];
  /** The edges list the choice was made from (null when none could be had). */
  edges: EdgesResponse | null;
  /** Why the edges list could not be used, for 'fallback'. */
  error?: string;
};

export type PlaceOptions = {
  /** Nodes to ask for the edges list, in order (the page's node first). */
  entryUrls: readonly string[];
  /** Called with the edges list as soon as it arrives, before the RTT probes (it carries the latest score). */
  onEdges?: (edges: EdgesResponse) => void;
  stream: string;
  token: string;
  /** Stay in this region (drain, failover, or an explicit choice). */
  region?: string | null;
  /** Node ids or URLs never to pick (the node being left: draining, or dead but still listed). */
  exclude?: ReadonlySet<string>;
  /** Node ids or URLs to pick only when the region has nothing else (nodes left earlier). */
  avoid?: ReadonlySet<string>;
  /**
   * An edges list fetched moments ago: used instead of asking again (a
   * failover wants the next relay now; a stale entry only costs a retry).
   */
  edges?: EdgesResponse;
  /** RTTs already measured: skip timing (a move within the region needs no new measurement; loads are still read). */
  knownRtts?: Record<string, number | null>;
  /** Probe samples per region. */
  samples?: number;
  /** Budget for all probes, in ms. */
  probeBudgetMs?: number;
  /** Budget for fetching the edges list from one entry node. */
  edgesTimeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
};

/** A relay's live load as its probe answered it (ProbeResponse). */
export type FreshLoad = { load: number; accepts: boolean };

type ProbeOptions = { samples?: number; budgetMs?: number; fetch?: typeof fetch; now?: () => number };

/**
 * Probes every relay given, all in parallel within the budget: the best RTT
 * per region (the minimum over its relays' samples; null when every sample of
 * the region failed) and each relay's live load from its last answer (absent
 * when it never answered, or answered without one: an older node's 204).
 */
export async function probeRelays(
  relays: readonly { region: string; nodeId?: string; probeUrl: string }[],
  options: ProbeOptions = {},
): Promise<{ rtts: Record<string, number | null>; loads: Record<string, FreshLoad> }> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const now = options.now ?? (() => performance.now());
  const samples = Math.max(1, options.samples ?? 3);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.budgetMs ?? 450);
  const loads: Record<string, FreshLoad> = {};
  const probeOne = async ({ nodeId, probeUrl }: { nodeId?: string; probeUrl: string }): Promise<number | null> => {
    let best: number | null = null;
    // Sequential per relay: the samples after the first reuse the connection.
    for (let i = 0; i < samples && !abort.signal.aborted; i++) {
      const url = `${probeUrl}${probeUrl.includes('?') ? '&' : '?'}n=${i}-${Math.random().toString(36).slice(2, 8)}`;
      const started = now();
      try {
        const res = await doFetch(url, { cache: 'no-store', mode: 'cors', signal: abort.signal });
        const text = await res.text().catch(() => '');
        if (!res.ok) continue;
        const rtt = now() - started;
        best = best === null ? rtt : Math.min(best, rtt);
        const answer = nodeId && text ? ProbeResponse.safeParse(safeJson(text)) : null;
        if (answer?.success && answer.data.load !== null) {
          loads[nodeId!] = { load: answer.data.load, accepts: answer.data.accepts };
        }
      } catch {
        // Timed out or unreachable: this sample does not count.
      }
    }
    return best === null ? null : Math.round(best * 10) / 10;
  };
  try {
    const results = await Promise.all(relays.map(probeOne));
    const rtts: Record<string, number | null> = {};
    relays.forEach((r, i) => {
      const rtt = results[i] ?? null;
      const known = rtts[r.region] ?? null;
      rtts[r.region] = rtt === null ? known : known === null ? rtt : Math.min(known, rtt);
    });
    return { rtts, loads };
  } finally {
    clearTimeout(timer);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Best RTT per region, one probe URL each; regions whose every sample failed or timed out are null. */
export async function probeRegions(
  regions: readonly { region: string; probeUrl: string }[],
  options: ProbeOptions = {},
): Promise<Record<string, number | null>> {
  return (await probeRelays(regions, options)).rtts;
}

/** Asks the entry nodes (in order) for the edges list. */
export async function fetchEdges(
  entryUrls: readonly string[],
  stream: string,
  token: string,
  options: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<EdgesResponse> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  let lastError: unknown = new Error('no entry node');
  for (const base of entryUrls) {
    // The token goes in the query: an Authorization header would need a CORS
    // preflight when the page's node is not the one asked.
    const url = `${base.replace(/\/+$/, '')}/api/v1/streams/${encodeURIComponent(stream)}/edges?token=${encodeURIComponent(token)}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), options.timeoutMs ?? 1500);
    try {
      const res = await doFetch(url, { cache: 'no-store', signal: abort.signal });
      if (!res.ok) throw new Error(`edges: HTTP ${res.status} from ${base}`);
      const parsed = EdgesResponse.safeParse(await res.json());
      if (!parsed.success) throw new Error(`edges: malformed answer from ${base}`);
      return parsed.data;
    } catch (error) {
      lastError = error;
    } finally {
      clearTimeout(timer);
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/**
 * The least loaded node of a region that is under capacity and not excluded;
 * avoided nodes only when there is no other (the region beats a far region).
 * A relay's probed load, when it answered one, wins over the edges list's.
 */
function pickInRegion(
  edges: EdgesResponse,
  region: string,
  exclude: ReadonlySet<string>,
  avoid: ReadonlySet<string>,
  loads: Readonly<Record<string, FreshLoad>>,
): EdgeNode | undefined {
  const nodes = edges.regions.find((r) => r.region === region)?.nodes ?? [];
  const load = (n: EdgeNode): number => loads[n.id]?.load ?? n.load;
  const usable = [...nodes]
    .filter((n) => (loads[n.id]?.accepts ?? n.load < 1) && !exclude.has(n.id) && !exclude.has(n.url))
    .sort((a, b) => load(a) - load(b));
  return usable.find((n) => !avoid.has(n.id) && !avoid.has(n.url)) ?? usable[0];
}

/** Chooses the relay to join from an edges list and measured RTTs (pure; exported for tests). */
export function choose(
  edges: EdgesResponse,
  rtts: Record<string, number | null>,
  options: {
    region?: string | null;
    exclude?: ReadonlySet<string>;
    avoid?: ReadonlySet<string>;
    /** Node id → the load its probe answered (probeRelays). */
    loads?: Readonly<Record<string, FreshLoad>>;
  } = {},
): { node: EdgeNode; region: string; reason: Exclude<PlacementReason, 'fallback'> } | null {
  const exclude = options.exclude ?? new Set<string>();
  const avoid = options.avoid ?? new Set<string>();
  const loads = options.loads ?? {};
  if (options.region) {
    const node = pickInRegion(edges, options.region, exclude, avoid, loads);
    if (node) return { node, region: options.region, reason: 'region' };
  }
  const measured = Object.entries(rtts)
    .filter((e): e is [string, number] => e[1] !== null)
    .sort((a, b) => a[1] - b[1]);
  for (const [region] of measured) {
    const node = pickInRegion(edges, region, exclude, avoid, loads);
    if (node) return { node, region, reason: 'rtt' };
  }
  const order = [edges.guess, ...edges.regions.map((r) => r.region)].filter((r): r is string => !!r);
  for (const region of order) {
    const node = pickInRegion(edges, region, exclude, avoid, loads);
    if (node) return { node, region, reason: 'guess' };
  }
  return null;
}

/**
 * A first join does not wait for the RTT probes: it goes to the server's
 * guess (the page's region) at once, the probes run meanwhile, and the
 * player moves (make before break, as a drain move does) only when another
 * region is clearly closer — by at least CLOSER_REGION_MIN_GAIN_MS of round
 * trip AND at most CLOSER_REGION_MAX_RATIO of the current region's. Both:
 * the absolute bound keeps loopback and same-city noise (a few ms, or tens
 * on a loaded machine) from moving anyone; the ratio keeps a move for far
 * regions worth a second session's set-up.
 */
export const CLOSER_REGION_MIN_GAIN_MS = 30;
export const CLOSER_REGION_MAX_RATIO = 0.5;

/**
 * The relay to move to when the probes show a region clearly closer than
 * `current` (see CLOSER_REGION_MIN_GAIN_MS), else null. A current region
 * whose every probe failed counts as far. Pure; exported for tests.
 */
export function closerRegion(
  edges: EdgesResponse,
  rtts: Record<string, number | null>,
  current: string | null,
  options: { exclude?: ReadonlySet<string>; avoid?: ReadonlySet<string> } = {},
): { node: EdgeNode; region: string } | null {
  const best = choose(edges, rtts, options);
  if (best?.reason !== 'rtt' || best.region === current) return null;
  const there = rtts[best.region];
  const here = current ? (rtts[current] ?? null) : null;
  if (there === null || there === undefined) return null;
  if (here === null) return best;
  return here - there >= CLOSER_REGION_MIN_GAIN_MS && there <= here * CLOSER_REGION_MAX_RATIO ? best : null;
}

/**
 * Decides which relay to join. Never throws: when nothing better is known it
 * answers the first entry URL with reason 'fallback' (the page's own node).
 */
export async function place(options: PlaceOptions): Promise<Placement> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const exclude = options.exclude ?? new Set<string>();
  const fallback = (error: string, rtts: Record<string, number | null> = {}, knownUrls: string[] = []): Placement => ({
    nodeUrl: options.entryUrls.find((u) => !exclude.has(u)) ?? options.entryUrls[0] ?? '',
    nodeId: null,
    region: options.region ?? null,
    reason: 'fallback',
    rtts,
    tookMs: Math.round(now() - started),
    knownUrls,
    edges: null,
    error,
  });
  let edges: EdgesResponse;
  try {
    edges =
      options.edges ??
      (await fetchEdges(options.entryUrls, options.stream, options.token, {
        ...(options.edgesTimeoutMs ? { timeoutMs: options.edgesTimeoutMs } : {}),
        ...(options.fetch ? { fetch: options.fetch } : {}),
      }));
  } catch (error) {
    return fallback((error as Error).message ?? String(error), options.knownRtts);
  }
  options.onEdges?.(edges);
  let rtts = options.knownRtts;
  let loads: Record<string, FreshLoad> = {};
  // A list handed in (a failover's cached one) is used as it is: every millisecond there is a frozen one.
  if (!options.edges) {
    // Timing needs a few samples per relay; a viewer that already knows its region (a move, an
    // explicit choice) only reads the loads of that region's relays, once each.
    const timing = !rtts && !options.region;
    const targets = edges.regions
      .filter((r) => timing || r.region === options.region)
      .flatMap((r) => r.nodes.map((n) => ({ region: r.region, nodeId: n.id, probeUrl: n.probeUrl, url: n.url })))
      .filter((t) => t.probeUrl && !exclude.has(t.nodeId) && !exclude.has(t.url));
    if (targets.length > 0) {
      const probed = await probeRelays(targets, {
        samples: timing ? (options.samples ?? 3) : 1,
        budgetMs: options.probeBudgetMs ?? 450,
        ...(options.fetch ? { fetch: options.fetch } : {}),
        now,
      });
      loads = probed.loads;
      if (timing) rtts = probed.rtts;
    }
  }
  rtts ??= {};
  const picked = choose(edges, rtts, {
    region: options.region ?? null,
    exclude,
    loads,
    ...(options.avoid ? { avoid: options.avoid } : {}),
  });
  if (!picked) return fallback('no relay accepts viewers', rtts, edgeUrls(edges));
  return {
    nodeUrl: picked.node.url,
    nodeId: picked.node.id,
    region: picked.region,
    reason: picked.reason,
    rtts,
    tookMs: Math.round(now() - started),
    knownUrls: edgeUrls(edges),
    edges,
  };
}

/** Every node URL an edges list mentions (entry points for the next placement). */
export function edgeUrls(edges: EdgesResponse): string[] {
  return edges.regions.flatMap((r) => r.nodes.map((n) => n.url));
}
