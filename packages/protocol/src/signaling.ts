import { z } from 'zod';
import { ObjectId, RegionName, StreamId } from './ids.ts';
import { LanguageTag } from './language.ts';
import { SessionId } from './reports.ts';
import {
  DtlsParameters,
  IceCandidates,
  IceParameters,
  MediaKind,
  RtpCapabilities,
  RtpParameters,
  SctpParameters,
  SctpStreamParameters,
} from './rtc-params.ts';
import { ScoreUpdate } from './scores.ts';

/*
 * WebSocket signaling between packages/client and apps/node (`/ws`).
 *
 * Request/response with a client-chosen numeric id, plus server-initiated
 * notifications. mediasoup's own parameter objects (RTP capabilities, DTLS
 * parameters...) have their schemas in rtc-params.ts, typed so that both
 * mediasoup (the node) and mediasoup-client (the browser) take them as they
 * are; mediasoup still validates the details (codec matching, ids) itself.
 */

export const SIGNALING_PATH = '/ws';

export const JoinRequest = z.object({
  stream: StreamId,
  token: z.string().min(10).max(4096),
  /** What the peer will do: watch, or watch and talk (commentator). */
  role: z.enum(['viewer', 'commentator']).default('viewer'),
  /**
   * A rejoining viewer's last score seq: the node sends every update after it
   * (from its recent buffer) instead of only the latest, so a reconnect or a
   * move loses none.
   */
  sinceSeq: z.number().int().min(0).optional(),
  /**
   * The player's session id (one per player, kept across relays): the node
   * tags every log line of this peer with it, and a problem report carries
   * it. Absent: the node makes one (and returns it).
   */
  sessionId: SessionId.optional(),
  /**
   * Viewers: the commentary language to hear (BCP 47), null for the venue sound only; absent: the stream's
   * default language. Commentators: must be their token's language when given.
   */
  lang: LanguageTag.nullable().optional(),
  /**
   * Set up receiving in the same round trip: the peer's RTP capabilities
   * (its Device loaded with the router capabilities of the page's bootstrap).
   * When they fit this node's router, the answer's `recv` carries the receive
   * transport, the score data consumer and the program's consumers, already
   * created (paused until the peer's resumeConsumer) — no createTransport,
   * consumeData or consume round trip. Otherwise (or from a node without it)
   * the answer has no `recv` and the peer goes the step-by-step way.
   */
  recv: z
    .object({
      rtpCapabilities: RtpCapabilities,
      /** Force ICE over TCP (the fallback ladder's second rung). */
      forceTcp: z.boolean().default(false),
    })
    .optional(),
});

export const CreateTransportRequest = z.object({
  direction: z.enum(['send', 'recv']),
  /** Request SCTP so the transport can carry the score DataChannel. */
  sctp: z.boolean().default(true),
  /** Force ICE over TCP (the fallback ladder's second rung). */
  forceTcp: z.boolean().default(false),
});

export const ConnectTransportRequest = z.object({
  transportId: ObjectId,
  dtlsParameters: DtlsParameters,
});

export const ConsumeRequest = z.object({
  transportId: ObjectId,
  rtpCapabilities: RtpCapabilities,
});

export const ResumeConsumerRequest = z.object({ consumerId: ObjectId });

export const ConsumeDataRequest = z.object({ transportId: ObjectId });

export const ProduceRequest = z.object({
  transportId: ObjectId,
  kind: MediaKind,
  rtpParameters: RtpParameters,
});

export const RestartIceRequest = z.object({ transportId: ObjectId });

/**
 * A viewer's quality choice for the program video (simulcast): the highest
 * spatial layer (0 = lowest) it wants; `null` = automatic (the highest: the
 * node's bandwidth estimate alone picks). The estimate still steps below the
 * choice when the link cannot carry it.
 */
export const SetLayersRequest = z.object({
  spatialLayer: z.number().int().min(0).max(7).nullable(),
});

/**
 * A viewer's commentary choice: one language's track (BCP 47), or null for the venue sound only. The node
 * sends only that language's track (the others stay paused: no bandwidth), so a switch is one round trip.
 */
export const SetLanguageRequest = z.object({ lang: LanguageTag.nullable() });

/**
 * Talkback (commentators only): consume the other commentators' voices of the booth — every language, raw,
 * not the mixes, never one's own — on one of the peer's receive transports (paused until resumeConsumer).
 * Only voices not consumed yet are answered: the peer asks again on each `talkbackChanged`.
 */
export const ConsumeTalkbackRequest = z.object({ transportId: ObjectId, rtpCapabilities: RtpCapabilities });

/**
 * A commentator's view delay, measured by the booth page on its own WebRTC session (ms): how long after the
 * ingest forwards a frame the commentator sees it (half the ICE round trip + the video's jitter buffer and
 * decode + a refresh), and the round trip of the ICE pair (the voice's way back takes half of it). The node
 * adds the voice's way through the mixer and holds, per language, the delay its commentary reaches viewers
 * after the picture it reacts to (commentary alignment, ARCHITECTURE.md "Commentators").
 */
export const ViewDelayRequest = z.object({
  viewDelayMs: z.number().min(0).max(4000),
  rttMs: z.number().min(0).max(4000),
});

/** Per language on air (BCP 47): how late its commentary is against the picture it reacts to (ms). */
export const CommentaryDelays = z.record(LanguageTag, z.number().int().min(0).max(4000));
export type CommentaryDelays = z.infer<typeof CommentaryDelays>;

/** Every request the server understands, keyed by method name. */
export const SignalingRequests = {
  join: JoinRequest,
  createTransport: CreateTransportRequest,
  connectTransport: ConnectTransportRequest,
  consume: ConsumeRequest,
  resumeConsumer: ResumeConsumerRequest,
  consumeData: ConsumeDataRequest,
  produce: ProduceRequest,
  restartIce: RestartIceRequest,
  setLayers: SetLayersRequest,
  setLanguage: SetLanguageRequest,
  consumeTalkback: ConsumeTalkbackRequest,
  viewDelay: ViewDelayRequest,
} as const;
export type SignalingMethod = keyof typeof SignalingRequests;
export type SignalingRequestData<M extends SignalingMethod> = z.infer<(typeof SignalingRequests)[M]>;

/** The envelope is checked before the method's own schema. */
export const RequestEnvelope = z.object({
  id: z.number().int().min(0),
  method: z.string().min(1).max(64),
  data: z.unknown().optional(),
});

export const SignalingErrorCode = z.enum([
  'bad_request',
  'unknown_method',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'not_joined',
  'unavailable',
  /**
   * Every worker of the node is at its viewer capacity: join another relay
   * (the error's `alternative` names one when the node knows it). A client
   * older than this code reads it as 'internal', which it also retries on
   * another relay.
   */
  'full',
  'internal',
]);
export type SignalingErrorCode = z.infer<typeof SignalingErrorCode>;

/** A relay a refusing node suggests instead (same region, accepting viewers, least loaded). */
export const RelayAlternative = z.object({
  nodeId: z.string().min(1).max(64),
  /** Base URL of the relay's HTTP/WebSocket server (its NodeRecord.url). */
  url: z.string().url(),
  region: RegionName,
});
export type RelayAlternative = z.infer<typeof RelayAlternative>;

export const SignalingError = z.object({
  code: SignalingErrorCode,
  message: z.string(),
  /** With 'full': a better relay of the same region, when there is one. */
  alternative: RelayAlternative.optional(),
});
export type SignalingError = z.infer<typeof SignalingError>;

export type SignalingResponse =
  | { id: number; ok: true; data: unknown }
  | { id: number | null; ok: false; error: SignalingError };

// ---------------------------------------------------------------- responses

/** An ICE server for the browser (RTCIceServer): STUN, or TURN with session credentials. */
export const IceServer = z.object({
  urls: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  username: z.string().optional(),
  credential: z.string().optional(),
});
export type IceServer = z.infer<typeof IceServer>;

export const TransportInfo = z.object({
  id: ObjectId,
  iceParameters: IceParameters,
  iceCandidates: IceCandidates,
  dtlsParameters: DtlsParameters,
  sctpParameters: SctpParameters.optional(),
});
export type TransportInfo = z.infer<typeof TransportInfo>;

export const ConsumerInfo = z.object({
  id: ObjectId,
  producerId: ObjectId,
  kind: MediaKind,
  rtpParameters: RtpParameters,
  /** 'program' for the match feed, 'commentary' for a commentator's voice. */
  source: z.enum(['program', 'commentary']),
  /** Commentary: the language of the track (one mixed track per language). */
  lang: z.string().optional(),
});
export type ConsumerInfo = z.infer<typeof ConsumerInfo>;

const ConsumerLayers = z.object({
  spatialLayer: z.number().int().min(0),
  temporalLayer: z.number().int().min(0).optional(),
});

/**
 * The program video's simulcast layers as a viewer's consumer sees them: how
 * many, the viewer's preference, what flows now (null: nothing), and each
 * spatial layer's picture as the node measured it from the media (absent
 * until seen).
 */
export const VideoLayersInfo = z.object({
  spatialLayers: z.number().int().min(1).max(8),
  temporalLayers: z.number().int().min(1).max(8),
  preferred: ConsumerLayers,
  current: ConsumerLayers.nullable(),
  layers: z.array(
    z.object({
      spatialLayer: z.number().int().min(0),
      width: z.number().int().min(1).optional(),
      height: z.number().int().min(1).optional(),
      fps: z.number().min(0).optional(),
    }),
  ),
});
export type VideoLayersInfo = z.infer<typeof VideoLayersInfo>;

/** `layers`: present when the program video has layers to choose from (simulcast). */
export const ConsumeResponse = z.object({
  consumers: z.array(ConsumerInfo),
  layers: VideoLayersInfo.optional(),
  /** The commentary language heard now (null: venue sound only): "default" resolves as languages come on air. */
  lang: z.string().nullable().optional(),
});
export type ConsumeResponse = z.infer<typeof ConsumeResponse>;

export const DataConsumerInfo = z.object({
  id: ObjectId,
  dataProducerId: ObjectId,
  sctpStreamParameters: SctpStreamParameters,
  label: z.string(),
  protocol: z.string(),
});
export type DataConsumerInfo = z.infer<typeof DataConsumerInfo>;

/**
 * What a one-round-trip join set up: the receive transport (with SCTP), the
 * score data consumer (its backlog after the join's snapshot already queued)
 * and paused consumers of everything live — the peer sends `resumeConsumer`
 * for each once its side exists, while its ICE and DTLS handshake runs.
 */
export const JoinedRecv = z.object({
  transport: TransportInfo,
  consumers: z.array(ConsumerInfo),
  layers: VideoLayersInfo.optional(),
  scores: DataConsumerInfo,
});
export type JoinedRecv = z.infer<typeof JoinedRecv>;

export const JoinResponse = z.object({
  routerRtpCapabilities: RtpCapabilities,
  nodeId: z.string(),
  region: z.string(),
  /** The latest score, so a late joiner shows it at once. */
  score: ScoreUpdate.nullable(),
  /** True when every update after the join's `sinceSeq` follows on the score channel: skip the snapshot. */
  resumed: z.boolean().optional(),
  /** STUN/TURN servers for this session (TURN with time-limited credentials), when the node has any. */
  iceServers: z.array(IceServer).optional(),
  /**
   * Playout delay to ask of the browser for this session's media (RTCRtpReceiver.jitterBufferTarget,
   * ms): set on relays at the far end of a long haul, so retransmissions across it arrive in time.
   */
  playoutDelayMs: z.number().int().min(0).max(4000).optional(),
  /** The session id in this node's log lines of the peer (the join's, or one the node made). */
  sessionId: z.string().optional(),
  /** The commentary language this session hears (null: venue sound only); its track alone is sent. */
  lang: z.string().nullable().optional(),
  /** Receiving set up in the join (the request's `recv`, when its capabilities fit this node's router). */
  recv: JoinedRecv.optional(),
  /**
   * How late each language's commentary is against the picture (ms; languages not named: 0). A viewer hearing
   * one delays the program (video and venue sound) by that much, so a reaction lands on its frame.
   */
  commentaryDelays: CommentaryDelays.optional(),
});
export type JoinResponse = z.infer<typeof JoinResponse>;

export const ProduceResponse = z.object({ id: ObjectId });
/** setLanguage's answer: the language now heard (null: venue only) and every language on air. */
export const SetLanguageResponse = z.object({ lang: z.string().nullable(), languages: z.array(z.string()) });
export type SetLanguageResponse = z.infer<typeof SetLanguageResponse>;
/** viewDelay's answer: the commentator's language's delay against the picture now (ms). */
export const ViewDelayResponse = z.object({ commentaryDelayMs: z.number().int().min(0).max(4000) });
export const RestartIceResponse = z.object({ iceParameters: IceParameters });

/** Another commentator's voice in the booth, as talkback names it. */
export const TalkbackVoice = z.object({
  /** The voice's producer id (a new one after the commentator's rejoin). */
  producerId: ObjectId,
  /** The commentator's session id: the same across their rejoins (a mute is remembered by it). */
  commentator: z.string().max(128),
  /** The name their booth link carries (the URL token's `sub`), when it has one. */
  name: z.string().max(128).optional(),
  /** Their booth's language (BCP 47). */
  lang: z.string(),
});
export type TalkbackVoice = z.infer<typeof TalkbackVoice>;

/** A talkback consumer: the voice it carries and what mediasoup-client needs to receive it. */
export const TalkbackConsumerInfo = TalkbackVoice.extend({
  id: ObjectId,
  kind: z.literal('audio'),
  rtpParameters: RtpParameters,
});
export type TalkbackConsumerInfo = z.infer<typeof TalkbackConsumerInfo>;

export const ConsumeTalkbackResponse = z.object({ consumers: z.array(TalkbackConsumerInfo) });
export type ConsumeTalkbackResponse = z.infer<typeof ConsumeTalkbackResponse>;

// ------------------------------------------------------------ notifications

/** Server → client messages that answer no request. */
export const SignalingNotification = z.discriminatedUnion('notification', [
  /** New media to consume appeared (a commentator started talking). */
  z.object({ notification: z.literal('newProducers') }),
  z.object({ notification: z.literal('consumerClosed'), data: z.object({ consumerId: ObjectId }) }),
  /** The stream ended at the origin for good (not a reconnect). */
  z.object({ notification: z.literal('streamEnded') }),
  /** The program video's layers changed: stepped down or up, or the viewer's choice moved. */
  z.object({ notification: z.literal('layersChanged'), data: VideoLayersInfo }),
  /** This node is draining: move to another node of the region. */
  z.object({ notification: z.literal('drain'), data: z.object({ reason: z.string() }) }),
  /**
   * Rebalancing (issue 18): move to `target`, a relay of the same region with room (this node carries more
   * than its share). The player moves make-before-break as for a drain, but to the named relay.
   */
  z.object({ notification: z.literal('move'), data: z.object({ reason: z.string(), target: RelayAlternative }) }),
  /**
   * The playout delay viewers of this stream should hold changed (MM_VIEWER_PLAYOUT_DELAY_MS=auto: the
   * round trip of the pipe bringing the region its copy was measured or moved). 0: the browser's own.
   */
  /**
   * Talkback (to commentators that asked for it with consumeTalkback): the other voices of the booth now,
   * after one came or went. New ones are consumed with consumeTalkback; a voice that went away also closes
   * its consumer (`consumerClosed`).
   */
  z.object({ notification: z.literal('talkbackChanged'), data: z.object({ voices: z.array(TalkbackVoice) }) }),
  z.object({
    notification: z.literal('playoutDelayChanged'),
    data: z.object({ playoutDelayMs: z.number().int().min(0).max(4000) }),
  }),
  /** A language's commentary delay against the picture changed (a commentator's view delay was measured). */
  z.object({ notification: z.literal('commentaryDelaysChanged'), data: CommentaryDelays }),
]);
export type SignalingNotification = z.infer<typeof SignalingNotification>;
