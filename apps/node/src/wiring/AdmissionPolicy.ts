import type { NodeRole } from '@matchmesh/protocol';

/** What admission reads of the cluster link: whether Redis answers, and the node's own record. */
export interface AdmissionCluster {
  readonly healthy: boolean;
  readonly registry: { readonly record: { readonly draining: boolean } | null };
}

const REDIS_DOWN = 'cluster coordination (Redis) is unavailable; retry shortly';
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

  constructor(cluster: AdmissionCluster, roles: readonly NodeRole[], capacity: AdmissionCapacity = { hasRoom: () => true }) {
    this.#cluster = cluster;
    this.#relay = roles.includes('relay');
    this.#capacity = capacity;
  }

  /** A signaling (WebSocket) join. */
  join(role: 'viewer' | 'commentator'): string | undefined {
    if (!this.#cluster.healthy) return REDIS_DOWN;
    // Commentators talk where the program enters (the ingest: least delay, and their
    // voice is piped to the regions from there); viewers need a relay.
    if (!this.#relay && role !== 'commentator') return 'this node does not serve viewers (no relay role)';
    if (this.#cluster.registry.record?.draining) return 'this node is draining; join another relay of the region';
    return undefined;
  }

  /**
   * A WHEP session: the cluster check, then capacity — a full node answers 503
   * before anything (a region copy, a router) is built for the player. WHEP
   * has never been refused on a draining or relay-less node; kept as it was.
   */
  whep(): string | undefined {
    if (!this.#cluster.healthy) return REDIS_DOWN;
    return this.#capacity.hasRoom() ? undefined : FULL;
  }
}
