/**
 * @matchmesh/mesh — region copies and pipes between nodes: which streams this
 * node pulls and from whom, which it sends on, and how that survives dead
 * peers and lost leases. Talks to @matchmesh/cluster and @matchmesh/sfu only
 * through the interfaces in ports.ts; see README.md.
 */
export type { MeshConfig } from './config.ts';
export { DUAL_PATH_GROUP, DUAL_REPULL_SILENT_MS, DualPath, pickSecondUpstream } from './dual-path.ts';
export { FeedGuard, REPULL_SILENT_MS } from './feed-guard.ts';
export { Mesh, type MeshOptions } from './mesh.ts';
export { PIPE_METHODS, PipeBroker } from './pipe-broker.ts';
export { acceptPipeTunnel, openPipeTunnel, PIPE_TUNNEL_PATH, type PipeTunnel } from './pipe-tunnel.ts';
export { autoPlayoutDelayMs, PLAYOUT_MAX_MS, PlayoutAdvisor, type PlayoutAdvisorOptions } from './playout.ts';
export type {
  CommentaryChange,
  InboundPipe,
  MeshBus,
  MeshDirectory,
  MeshLiveness,
  MeshMedia,
  MeshPeer,
  MeshPeers,
  MeshProgram,
  MeshStream,
  OutboundPipe,
  PipeOffer,
} from './ports.ts';
export { RegionCopies } from './region-copies.ts';
export { RegionCopy } from './region-copy.ts';
export { type StreamSource, sfuMedia, TCP_PATH_MS, type TunnelAccess } from './sfu-media.ts';
export { Sweeper } from './sweeper.ts';
