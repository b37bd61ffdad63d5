/**
 * What the mesh needs to know about its node, and nothing else (the node's
 * zod-validated environment is read in apps/node; this is its mesh section).
 */
export interface MeshConfig {
  /** This node's id: the name it claims region copies under and signs bus requests with. */
  nodeId: string;
  region: string;
  /** Lifetime of a region lease; renewed every ttl/3 (at most 1 s apart). Also PeerLiveness's grace. */
  claimTtlMs: number;
  /** How long a region copy nobody watches is kept before it is let go. */
  lingerMs: number;
  /** How often the sweeper looks for dead peers (the registry's heartbeat). */
  heartbeatMs: number;
  /** Where pipe transports listen. */
  listenIp: string;
  /** Address other nodes reach our pipes at: the mesh address if set, else the announced one. */
  announcedAddress?: string;
  portRange: { min: number; max: number };
  /** UDP socket buffer size for pipe transports (bytes, 0: kernel default). */
  socketBufferBytes: number;
  /**
   * This node's region is critical (MM_DUAL_PATH_REGIONS): as its holder, it pulls each stream over two
   * independent paths (the ingest, and a relay of another region) merged packet by packet.
   */
  dualPath?: boolean;
}
