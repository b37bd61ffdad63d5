import type { NodeRole } from '@matchmesh/protocol';

/** What admission reads of the cluster link: whether Redis answers, and the node's own record. */
export interface AdmissionCluster {
  readonly healthy: boolean;
  readonly registry: { readonly record: { readonly draining: boolean } | null };
}

const REDIS_DOWN = 'cluster coordination (Redis) is unavailable and this node does not carry the stream; retry shortly';
const FULL = 'every worker of this node is at capacity; retry shortly or play from another relay of the region';

/** What admission reads of the node's workers: whether one more viewer fits. */
export interface AdmissionCapacity {
  hasRoom(): boolean;
}

/**
 * Whether this node takes a new viewer or commentator right now, and if not,
 * why (the reason goes back as 503 / a signaling 'unavailable' error). The
 * one place these rules live; media already flowing is never affected.
 */
export class AdmissionPolicy {
  readonly #cluster: AdmissionCluster;
  readonly #relay: boolean;
  readonly #capacity: AdmissionCapacity;

  readonly #carries: (stream: string) => boolean;

  /**
   * `carries(stream)`: the stream is live on this node already, so a viewer can be served from what the
   * node holds without asking the cluster anything (a Redis outage does not stop that).
   */
  constructor(
    cluster: AdmissionCluster,
    roles: readonly NodeRole[],
    capacity: AdmissionCapacity = { hasRoom: () => true },
    carries: (stream: string) => boolean = () => false,
  ) {
    this.#cluster = cluster;
    this.#relay = roles.includes('relay');
    this.#capacity = capacity;
    this.#carries = carries;
  }

  /**
   * Redis down: only what needs the cluster is refused — a stream this node
   * does not carry (a new region copy, a lookup). One it carries is served.
   */
  #clusterNeeded(stream: string): boolean {
    return !this.#cluster.healthy && !this.#carries(stream);
  }

  /** A signaling (WebSocket) join. */
  join(role: 'viewer' | 'commentator', stream: string): string | undefined {
    if (this.#clusterNeeded(stream)) return REDIS_DOWN;
    // Commentators talk where the program enters (the ingest: least delay, and their
    // voice is piped to the regions from there); viewers need a relay.
    if (!this.#relay && role !== 'commentator') return 'this node does not serve viewers (no relay role)';
    if (this.#cluster.registry.record?.draining) return 'this node is draining; join another relay of the region';
    return undefined;
  }

  /**
   * A WHEP session: the cluster check, draining, then capacity — a full node
   * answers 503 before anything (a region copy, a router) is built for the
   * player. A draining node refuses new ones (issue 18: a WHEP session cannot
   * be moved by the server, so one taken while draining would keep the node
   * from ever being empty). WHEP on a relay-less node is taken, as before.
   */
  whep(stream: string): string | undefined {
    if (this.#clusterNeeded(stream)) return REDIS_DOWN;
    if (this.#cluster.registry.record?.draining) return 'this node is draining; play from another relay of the region';
    return this.#capacity.hasRoom() ? undefined : FULL;
  }
}
