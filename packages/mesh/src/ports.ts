import type { ClaimResult, IngestRole, Logger, RegionClaim, RenewResult } from '@matchmesh/cluster';
import type {
  PipeCommentaryRequest,
  PipeLinkStats,
  PipeMergeShare,
  PipeOpenRequest,
  PipeOpenResponse,
  PipeSummary,
} from '@matchmesh/protocol';
import type { SourceRole, SwitchRecord } from '@matchmesh/sfu';
import type { z } from 'zod';

/*
 * The mesh's view of its neighbours, declared here and no wider than it uses:
 * @matchmesh/cluster's NodeBus, StreamDirectory and PeerLiveness satisfy the
 * first three as they are; MeshMedia is implemented over @matchmesh/sfu by
 * sfu-media.ts. Unit tests use the in-memory fakes in test/fakes.ts.
 */

export type { Logger };

/** Node-to-node requests (NodeBus). */
export interface MeshBus {
  handle<P>(method: string, handler: (payload: P, ctx: { from: string }) => unknown, schema: z.ZodType<P>): () => void;
  request<T>(
    target: string,
    method: string,
    payload: unknown,
    reply: z.ZodType<T>,
    options?: { timeoutMs?: number },
  ): Promise<T>;
}

/** Where streams enter and who holds each region's copy (StreamDirectory). */
export interface MeshDirectory {
  getIngest(stream: string): Promise<{ nodeId: string } | null>;
  getIngestCopies(stream: string): Promise<{ primary: string | null; backup: string | null }>;
  setIngest(stream: string, nodeId: string, options: { role: IngestRole }): Promise<void>;
  claimRegionCopy(stream: string, region: string, nodeId: string, ttlMs: number): Promise<ClaimResult>;
  renew(claim: RegionClaim): Promise<RenewResult>;
  release(claim: RegionClaim): Promise<boolean>;
  forgetNode(nodeId: string): Promise<unknown>;
}

/** The death verdict on peers (PeerLiveness: a late heartbeat is suspect, not dead). */
export interface MeshLiveness {
  dead(ids: Iterable<string>): Promise<Set<string>>;
  isDead(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/** A stream's program, as far as the mesh watches it. */
export interface MeshProgram {
  /** Some source feeds it (false while only held for the grace time). */
  readonly fed: boolean;
  /** Whether source `id` sent media within the last `ms`. */
  sourceAlive(id: string, ms: number): boolean;
  on(event: 'switched', listener: (record: SwitchRecord) => void): unknown;
}

/** One stream on this node (a StreamRouter). */
export interface MeshStream {
  readonly stream: string;
  readonly live: boolean;
  readonly program: MeshProgram;
  close(): void;
}

export type PipeOffer = PipeOpenRequest['offer'];
export type CommentaryChange = Pick<PipeCommentaryRequest, 'added' | 'removed' | 'delays'>;

/** Our end of a pipe from an upstream node. */
export interface InboundPipe {
  /** Known once connected (the upstream names it). */
  readonly pipeId: string | undefined;
  readonly upstream: string;
  readonly role: SourceRole;
  readonly closed: boolean;
  /** How it travels: UDP (mediasoup's pipe transport), or tunnelled over TCP (pipe-tunnel.ts) where UDP is blocked. */
  readonly path: 'udp' | 'tcp';
  /** When it was connected (ms since the epoch). */
  readonly openedAt: number;
  /** The upstream's commentary changed: produce the new voices, close the ended ones. */
  applyCommentary(change: CommentaryChange): Promise<void>;
  /** What the path did to the program's media so far (receiving end). */
  linkStats(): Promise<PipeLinkStats>;
  /** One path of a merged (dual-path) source: what the merge took from it; undefined for a pipe of its own. */
  mergeShare?(): PipeMergeShare | undefined;
  /** Bytes of anything (RTP, RTCP, SCTP) that reached our end so far: 0 means nothing gets through. */
  bytesReceived(): Promise<number>;
  close(reason: string): void;
  once(event: 'close', listener: (reason: string) => void): unknown;
}

/** Our end of a pipe to a downstream node. */
export interface OutboundPipe {
  readonly pipeId: string;
  readonly stream: string;
  readonly peer: { nodeId: string; region: string };
  /** What the downstream connects to (the pipe.open reply). */
  readonly answer: PipeOpenResponse;
  readonly closed: boolean;
  /** What the path did to the program's media so far (sending end: round trip, NACKs, retransmissions). */
  linkStats(): Promise<PipeLinkStats>;
  close(reason: string): void;
  once(event: 'close', listener: (reason: string) => void): unknown;
  /** Commentators who started or stopped while the pipe is open. */
  on(event: 'commentary', listener: (change: CommentaryChange) => void): unknown;
}

/**
 * Streams and pipes on this node (MediaService + @matchmesh/sfu's PipeIn/PipeOut).
 * `S` is the node's own stream type, handed back by Mesh.resolveStream as it is.
 */
export interface MeshMedia<S extends MeshStream = MeshStream> {
  stream(id: string): S | undefined;
  getOrCreateStream(id: string): Promise<S>;
  /**
   * Create our end, hand its offer to `ask` (which gets the upstream's
   * answer), connect. The pipe is closed again if any step fails.
   */
  openInbound(
    stream: MeshStream,
    role: SourceRole,
    upstream: string,
    ask: (offer: PipeOffer) => Promise<PipeOpenResponse>,
    /** `merge`: a path of that merged program source; `secondary`: program and scores only (no commentary). */
    options?: { merge?: string; secondary?: boolean },
  ): Promise<InboundPipe>;
  /** The upstream end, connected to the downstream's `offer`. */
  openOutbound(stream: MeshStream, offer: PipeOffer, peer: { nodeId: string; region: string }): Promise<OutboundPipe>;
  /**
   * A UDP pipe from `upstream` delivered nothing: UDP between us is blocked, so pipes from it go over the TCP
   * tunnel for a while. Absent when this node has no tunnel (pipes are UDP only).
   */
  pathBlocked?(upstream: string): void;
}

/** A pipe of this node as ops see it: its summary, and the pipe to ask what its path did. */
export interface PipeEntry {
  summary: PipeSummary;
  pipe: { linkStats(): Promise<PipeLinkStats>; mergeShare?(): PipeMergeShare | undefined };
}

/** The ops entry of an inbound pipe bringing `stream` here (region copies, backup feeds, second paths). */
export function inboundEntry(stream: string, pipe: InboundPipe): PipeEntry {
  return {
    summary: {
      id: pipe.pipeId ?? '',
      stream,
      direction: 'in',
      peerNodeId: pipe.upstream,
      peerRegion: '',
      path: pipe.path,
    },
    pipe,
  };
}

/** A node of the cluster as the dual path picks its second upstream (NodeRegistry records). */
export interface MeshPeer {
  id: string;
  region: string;
  roles: readonly string[];
  draining?: boolean;
}

/** The cluster's nodes and who holds each region's copy (NodeRegistry + StreamDirectory). */
export interface MeshPeers {
  list(): Promise<MeshPeer[]>;
  regionHolder(stream: string, region: string): Promise<string | null>;
}
