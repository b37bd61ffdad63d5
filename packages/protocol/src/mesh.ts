import { z } from 'zod';
import { RegionName, StreamId } from './ids.ts';
import { MediaKind, RtpCapabilities, RtpParameters, SctpStreamParameters, SrtpParameters } from './rtc-params.ts';
import { ScoreUpdate } from './scores.ts';
import { CommentaryDelays } from './signaling.ts';

/*
 * Node-to-node requests over the cluster bus (packages/cluster NodeBus), used
 * to build the media mesh. mediasoup's parameter objects (RTP, SCTP, SRTP)
 * use the schemas of rtc-params.ts, whose types mediasoup takes as they are.
 */

export const PipeEndpointMessage = z.object({
  ip: z.string().min(1).max(64),
  port: z.number().int().min(1).max(65535),
  srtpParameters: SrtpParameters.optional(),
});

/** `pipe.open`: "send me stream X over a pipe to this endpoint". */
export const PipeOpenRequest = z.object({
  stream: StreamId,
  /** Region of the requesting relay (for ops and per-region accounting). */
  region: RegionName,
  offer: PipeEndpointMessage,
});
export type PipeOpenRequest = z.infer<typeof PipeOpenRequest>;

const PipedProducerMessage = z.object({
  id: z.string(),
  kind: MediaKind,
  rtpParameters: RtpParameters,
  source: z.enum(['program', 'commentary']),
  /** Commentary: the language of the mixed track. */
  lang: z.string().max(35).optional(),
});

export const PipeOpenResponse = PipeEndpointMessage.extend({
  pipeId: z.string(),
  producers: z.array(PipedProducerMessage),
  scores: z
    .object({ id: z.string(), sctpStreamParameters: SctpStreamParameters, label: z.string(), protocol: z.string() })
    .nullable(),
  /** How late each language's commentary is against the picture (the ingest's booth measures it). */
  commentaryDelays: CommentaryDelays.optional(),
});
export type PipeOpenResponse = z.infer<typeof PipeOpenResponse>;

/**
 * Names one pipe. `pipe.release-by-downstream` (downstream → upstream): the
 * downstream let its end go, tear the upstream end down. `pipe.upstream-ended`
 * (upstream → downstream): the upstream's end closed (its publisher left),
 * drop the copy.
 */
export const PipeCloseRequest = z.object({ stream: StreamId, pipeId: z.string().min(1).max(64) });
export type PipeCloseRequest = z.infer<typeof PipeCloseRequest>;

/** The reply to the notifications (close, commentary): an empty object, nothing to read. */
export const PipeAck = z.object({});
export type PipeAck = z.infer<typeof PipeAck>;

/**
 * `pipe.status` (downstream → upstream, with a PipeCloseRequest's body): does the upstream still have its end
 * of this pipe? Asked of a copy that fell silent, in case the `pipe.upstream-ended` notice was lost (a Redis
 * blip: the bus is Pub/Sub, nothing is kept for a subscriber that is reconnecting).
 */
export const PipeStatusResponse = z.object({ open: z.boolean() });
export type PipeStatusResponse = z.infer<typeof PipeStatusResponse>;

/**
 * `pipe.commentary`: upstream → downstream on an open pipe: commentary producers
 * that started (now carried by the pipe) or ended since it opened.
 */
export const PipeCommentaryRequest = z.object({
  stream: StreamId,
  pipeId: z.string().min(1).max(64),
  added: z.array(PipedProducerMessage).max(32).default([]),
  removed: z.array(z.string().max(64)).max(32).default([]),
  /** The languages' delays against the picture, when they moved (commentary alignment). */
  delays: CommentaryDelays.optional(),
});
export type PipeCommentaryRequest = z.infer<typeof PipeCommentaryRequest>;

/** A pipe as the ops API shows it (`GET /api/v1/pipes`). */
/**
 * What a pipe's path did to the program's media so far (audio + video RTP streams summed). On the
 * sending end (out): packets sent, the packets the receiver NACKed (lost on the way, before
 * retransmission), packets retransmitted, the receiver's reported loss and the round trip from its
 * reports. On the receiving end (in): packets received, NACKed, repaired by a retransmission, and
 * reported lost. "Lost" is mediasoup's packetsLost counter (RTCP-style expected − received): it can
 * count a packet a later retransmission repaired — the viewers' own loss is the residual that matters.
 */
export const PipeLinkStats = z.object({
  packets: z.number().int().min(0),
  nacked: z.number().int().min(0),
  retransmitted: z.number().int().min(0),
  lost: z.number().int().min(0),
  /** Round trip (ms) from RTCP reports; absent before the first one (and on the receiving end). */
  rttMs: z.number().min(0).optional(),
});
export type PipeLinkStats = z.infer<typeof PipeLinkStats>;

/**
 * One path of a dual-path copy at the region holder: packets of the program that this path delivered first
 * (`won`), after the other (`duplicates`, dropped), or before its numbering was learned (`unmatched`); `share`
 * = won / all packets the merge sent; `residual` = packets neither path delivered (the same on every path).
 */
export const PipeMergeShare = z.object({
  won: z.number().int().min(0),
  duplicates: z.number().int().min(0),
  unmatched: z.number().int().min(0),
  share: z.number().min(0).max(1),
  residual: z.number().int().min(0),
});
export type PipeMergeShare = z.infer<typeof PipeMergeShare>;

export const PipeSummary = z.object({
  id: z.string(),
  stream: StreamId,
  direction: z.enum(['out', 'in']),
  /** The node at the other end and its region. */
  peerNodeId: z.string(),
  peerRegion: z.string(),
  /** How an incoming pipe travels: UDP, or over the TCP tunnel when UDP between the nodes is blocked. */
  path: z.enum(['udp', 'tcp']).optional(),
  /** The path's figures (GET /api/v1/pipes, metrics); absent in heartbeat-sized summaries. */
  link: PipeLinkStats.optional(),
  /** An incoming pipe that is one path of a critical region's dual path: what the packet-by-packet merge took from it. */
  dualPath: PipeMergeShare.optional(),
});
export type PipeSummary = z.infer<typeof PipeSummary>;

/** A cluster's pipes (`GET /api/v1/pipes?scope=cluster`): every node's, and the nodes that did not answer. */
export const ClusterPipes = z.object({
  nodes: z.array(z.object({ nodeId: z.string(), region: z.string(), pipes: z.array(PipeSummary) })),
  unreachable: z.array(z.string()),
});
export type ClusterPipes = z.infer<typeof ClusterPipes>;

/** One relay a viewer may watch from (`GET /api/v1/streams/:stream/edges`). */
export const EdgeNode = z.object({
  id: z.string(),
  url: z.string(),
  /** GET it to measure RTT and read the relay's live load (ProbeResponse), with CORS, open like /healthz. */
  probeUrl: z.string(),
  /** Viewers ÷ capacity, 0..1. */
  load: z.number(),
});
export type EdgeNode = z.infer<typeof EdgeNode>;

/**
 * `GET /probe`: the relay's load now, from its live counts, not the registry's
 * last heartbeat (up to a heartbeat period old): placement chooses within a
 * region by it. `load` as in EdgeNode; null before the node has registered.
 */
export const ProbeResponse = z.object({
  node: z.string(),
  load: z.number().min(0).nullable(),
  /** Whether it takes one more viewer now (relay role, not draining, a worker with room). */
  accepts: z.boolean(),
});
export type ProbeResponse = z.infer<typeof ProbeResponse>;

export const EdgesResponse = z.object({
  stream: StreamId,
  regions: z.array(z.object({ region: RegionName, nodes: z.array(EdgeNode) })),
  /** The server's guess of the viewer's region, used when every probe fails. */
  guess: RegionName.nullable(),
  /**
   * The stream's latest score when the answering node holds the stream: the
   * player shows it while it is still measuring RTTs and joining.
   */
  score: ScoreUpdate.nullable().optional(),
  /**
   * The answering node's router RTP capabilities (every node runs the same
   * codecs): a player loads its mediasoup-client Device with them before it
   * joins, so its join can carry its own capabilities and the node answers
   * with the transport and the consumers already made (one round trip).
   */
  rtpCapabilities: RtpCapabilities.optional(),
});
export type EdgesResponse = z.infer<typeof EdgesResponse>;
