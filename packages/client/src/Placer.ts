import type { EdgesResponse } from '@matchmesh/protocol';
import { choose, closerRegion, edgeUrls, fetchEdges, type Placement, place, probeRegions } from './Placement.ts';

export type PlacerOptions = {
  nodeUrl: string;
  stream: string;
  token: string;
  /** False pins the first decision to nodeUrl. */
  placement?: boolean;
  region?: string | null;
  /** How long a node we left is picked only as a last resort. */
  avoidNodeMs?: number;
  /** Each fresh edges list, as soon as it arrives. */
  onEdges?: (edges: EdgesResponse) => void;
  /** The page's bootstrap (the session exchange's answer): the first decision needs no request. */
  bootstrap?: EdgesResponse | null;
  /**
   * The RTT probes that raced the first join found a clearly closer region
   * (see closerRegion): the player should move there, make before break.
   */
  onCloser?: (placement: Placement) => void;
};

/** A node being left: its URL and, once joined, its id. */
export type NodeRef = { url: string; id: string | null };

/**
 * The Player's memory of placement: the region it plays in, the relays it
 * has heard of (any of them can answer the next edges request), the nodes
 * it left lately, and the last decision with its RTTs. `next()` is the
 * single place that decides where the next session goes.
 */
export class Placer {
  readonly #o: PlacerOptions;
  #current: Placement | null = null;
  /** When the edges list in #current was fetched. */
  #fetchedAt = 0;
  #region: string | null;
  #entryUrls: string[];
  /** Node id or URL → time until which it is picked only as a last resort. */
  readonly #avoid = new Map<string, number>();
  /** A pinned viewer's background look-up of the other relays (see #pinned). */
  #learning: Promise<void> | null = null;
  /** The page's edges list, for the first decision only. */
  #bootstrap: EdgesResponse | null;
  /** The first decision was a guess: the probes race the join (started once it is recorded). */
  #racing = false;

  constructor(options: PlacerOptions) {
    this.#o = { ...options };
    this.#bootstrap = options.bootstrap ?? null;
    this.#region = options.region ?? null;
    this.#entryUrls = [options.nodeUrl];
  }

  get current(): Placement | null {
    return this.#current;
  }

  get region(): string | null {
    return this.#region;
  }

  /** The region the viewer plays in from now on (drain and failover stay in it). */
  settle(region: string | null): void {
    this.#region ??= region;
  }

  avoid(node: NodeRef): void {
    const until = Date.now() + (this.#o.avoidNodeMs ?? 30_000);
    this.#avoid.set(node.url, until);
    if (node.id) this.#avoid.set(node.id, until);
  }

  /**
   * Where the next session goes. `leaving` (the node being left now) is never
   * picked; nodes left earlier only when the region has no other.
   */
  async next(leaving?: NodeRef): Promise<Placement> {
    // A pinned viewer leaving its node while the background look-up of the other
    // relays is still in flight: its answer is where the failover can go (the
    // look-up has its own timeout, and a failed one settles too).
    if (leaving && this.#learning) await this.#learning;
    const placement = this.#keepPinned(leaving) ? this.#pinned() : await this.#decide(leaving);
    // Keep the measured RTTs across moves: a move within the region does not re-measure.
    const rtts = Object.keys(placement.rtts).length > 0 ? placement.rtts : (this.#current?.rtts ?? {});
    this.#current = { ...placement, rtts };
    // Remember every relay we heard of: if this one dies, another can answer.
    this.#entryUrls = [...new Set([...this.#entryUrls, ...placement.knownUrls])];
    if (this.#racing) {
      this.#racing = false;
      void this.#race(this.#current);
    }
    return this.#current;
  }

  /**
   * Pinned (placement off): the given node until it is left (drain, death)
   * or avoided; a retry after a failure that was not the node's own (the
   * stream not live yet) stays on it.
   */
  #keepPinned(leaving?: NodeRef): boolean {
    if (this.#o.placement !== false) return false;
    if (this.#current === null) return true;
    const now = Date.now();
    const url = this.#o.nodeUrl;
    const avoided =
      (this.#avoid.get(url) ?? 0) > now ||
      (this.#current.nodeId !== null && (this.#avoid.get(this.#current.nodeId) ?? 0) > now);
    return !leaving && !avoided && this.#current.nodeUrl === url;
  }

  /**
   * A placement the player did not ask for: a rebalancing move to the relay
   * its node named. The measured RTTs and the edges list are kept.
   */
  adopt(placement: Placement): Placement {
    const previous = this.#current;
    this.#current = {
      ...placement,
      rtts: Object.keys(placement.rtts).length > 0 ? placement.rtts : (previous?.rtts ?? {}),
      edges: placement.edges ?? previous?.edges ?? null,
    };
    this.#entryUrls = [...new Set([...this.#entryUrls, ...placement.knownUrls])];
    return this.#current;
  }

  /** Edges requests from now on carry `token` (a renewed session credential). */
  setToken(token: string): void {
    this.#o.token = token;
  }

  #pinned(): Placement {
    // The pin is kept, but a pinned viewer still learns the other relays, in the
    // background: if its node dies (and the page came from that node), the edges
    // list is the only place failover can ask next. A failed look-up is tried
    // again on the next pinned decision.
    this.#learning ??= fetchEdges([this.#o.nodeUrl], this.#o.stream, this.#o.token).then(
      (edges) => {
        this.#entryUrls = [...new Set([...this.#entryUrls, ...edgeUrls(edges)])];
      },
      () => {
        this.#learning = null;
      },
    );
    return {
      nodeUrl: this.#o.nodeUrl,
      nodeId: null,
      region: this.#region,
      reason: 'fallback',
      rtts: {},
      tookMs: 0,
      knownUrls: [],
      edges: null,
      error: 'placement disabled: pinned to the given node',
    };
  }

  async #decide(leaving?: NodeRef): Promise<Placement> {
    const now = Date.now();
    for (const [key, until] of this.#avoid) if (until <= now) this.#avoid.delete(key);
    const previous = this.#current;
    if (previous === null && !leaving) return this.#first();
    // A failover uses the edges list we already have when it is recent: the
    // next relay of the region is known, and every millisecond is a frozen one.
    const cached = leaving && previous?.edges && now - this.#fetchedAt < 60_000 ? previous.edges : undefined;
    const ask = (edges?: EdgesResponse) =>
      place({
        // The node being left last (it may be dead, and a dead node costs a timeout).
        entryUrls: [...new Set([...this.#entryUrls.filter((u) => u !== leaving?.url), ...this.#entryUrls])],
        stream: this.#o.stream,
        token: this.#o.token,
        region: this.#region,
        ...(this.#o.onEdges ? { onEdges: this.#o.onEdges } : {}),
        exclude: new Set(leaving ? [leaving.url, ...(leaving.id ? [leaving.id] : [])] : []),
        avoid: new Set(this.#avoid.keys()),
        ...(edges ? { edges } : {}),
        ...(previous && Object.keys(previous.rtts).length > 0 ? { knownRtts: previous.rtts } : {}),
      });
    let placement = cached ? await ask(cached) : null;
    // The cached list may not know a relay of the region (one that was draining then): ask.
    if (!placement || placement.reason === 'fallback' || (this.#region && placement.region !== this.#region)) {
      placement = await ask();
      this.#fetchedAt = Date.now();
    }
    return placement;
  }

  /**
   * The first decision waits on nothing it can overlap: the bootstrap's edges
   * list when the page has one (else one request), and no RTT probes — the
   * server's guess (the page's region) is joined at once while the probes run
   * (#race); a region the page asked for is kept.
   */
  async #first(): Promise<Placement> {
    const edges = this.#bootstrap ?? undefined;
    this.#bootstrap = null;
    const placement = await place({
      entryUrls: this.#entryUrls,
      stream: this.#o.stream,
      token: this.#o.token,
      region: this.#region,
      ...(this.#o.onEdges ? { onEdges: this.#o.onEdges } : {}),
      avoid: new Set(this.#avoid.keys()),
      ...(edges ? { edges } : {}),
      knownRtts: {},
    });
    if (placement.edges) {
      this.#fetchedAt = Date.now();
      this.#racing = !this.#region;
    }
    return placement;
  }

  /** The probes racing the first join: they record the RTTs, and name a clearly closer region if there is one. */
  async #race(first: Placement): Promise<void> {
    const edges = first.edges;
    if (!edges) return;
    const targets = edges.regions
      .map((r) => ({ region: r.region, probeUrl: r.nodes[0]?.probeUrl ?? '' }))
      .filter((t) => t.probeUrl);
    // One region: nothing to choose between, and nothing to spend the set-up's bandwidth on.
    if (targets.length < 2) return;
    const rtts = await probeRegions(targets, { budgetMs: 450 });
    const current = this.#current;
    if (!current) return;
    if (current !== first) {
      // The player moved on meanwhile (a failure, a drain): later decisions still use the RTTs.
      if (Object.keys(current.rtts).length === 0) this.#current = { ...current, rtts };
      return;
    }
    const closer = closerRegion(edges, rtts, first.region, { avoid: new Set(this.#avoid.keys()) });
    if (!closer) {
      const confirmed = choose(edges, rtts)?.region === first.region;
      this.#current = { ...first, rtts, ...(confirmed ? { reason: 'rtt' as const } : {}) };
      return;
    }
    this.#region = closer.region;
    this.#current = {
      ...first,
      nodeUrl: closer.node.url,
      nodeId: closer.node.id,
      region: closer.region,
      reason: 'rtt',
      rtts,
    };
    this.#o.onCloser?.(this.#current);
  }
}
