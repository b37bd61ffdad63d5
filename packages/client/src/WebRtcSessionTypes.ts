import type { RelayAlternative, RtpCapabilities, VideoLayersInfo } from '@matchmesh/protocol';
import type { types as ms } from 'mediasoup-client';
import type { ReceivedScore, ScoreFeed } from './ScoreFeed.ts';
import type { SessionStateChange } from './SessionLifecycle.ts';
import type { WebSocketConstructor } from './SignalingClient.ts';

// WebRtcSession's options and events, apart from the class so that its helpers (SessionConsumers,
// PlayoutAligner) can name them without importing the session.

export type WebRtcSessionOptions = {
  /** HTTP base URL of the node, e.g. http://127.0.0.1:8080 (a ws(s) URL is used as is). */
  nodeUrl: string;
  stream: string;
  token: string;
  role?: 'viewer' | 'commentator';
  /** Ask the node for ICE over TCP only (the ladder's second rung). */
  forceTcp?: boolean;
  iceServers?: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * Fail if ICE+DTLS is not up this long after negotiation started (default
   * 5 s: on a path that works both complete in well under a second, and the
   * Player falls back to HLS when this fires, so a blocked viewer waits 5 s,
   * not the browser's own ~30 s ICE failure).
   */
  iceTimeoutMs?: number;
  /** Fail if ICE stays 'disconnected' this long. */
  disconnectedTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Defaults to globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Share a feed across sessions (reconnects keep seq continuity). */
  scoreFeed?: ScoreFeed;
  /** mediasoup-client Device options; tests pass a FakeHandler factory. */
  device?: ms.DeviceOptions;
  /**
   * The highest spatial layer of a simulcast program wanted now (the quality
   * menu; null = the node's estimate alone). Asked when the video consumer
   * is created; a later change goes through setMaxLayer().
   */
  maxLayer?: (layers: VideoLayersInfo) => number | null;
  /** The player's session id, sent at join: the node's log lines of this viewer carry it (problem reports). */
  sessionId?: string;
  /**
   * The commentary language wanted at join (BCP 47; null: the venue sound only; undefined: the stream's
   * default). A later change goes through setLanguage().
   */
  language?: () => string | null | undefined;
  /**
   * The node's router RTP capabilities, known before joining (the page's
   * bootstrap, an edges list, an earlier join): the Device loads while the
   * socket opens, and the join carries the Device's capabilities so the node
   * answers with the transport and consumers made (one round trip). Absent,
   * or refused by the node: join, createTransport, consumeData, consume.
   */
  routerRtpCapabilities?: RtpCapabilities;
};

/** The program video's layers as the node reports them, and the cap the viewer asked for (null: automatic). */
export type VideoLayers = VideoLayersInfo & { wanted: number | null };

export type WebRtcSessionEvents = {
  state: [SessionStateChange];
  /** An accepted score update; the join snapshot comes first, flagged `snapshot: true`. */
  score: [ReceivedScore];
  /** Tracks were added to or removed from `mediaStream`. */
  tracks: [MediaStream];
  /**
   * The node is draining (no target: the Player places), or rebalancing asks
   * the viewer to move to `target`, a relay of the region with room.
   */
  drain: [string, RelayAlternative | undefined];
  /** The program video's layers changed (the node switched, or the viewer chose). */
  layers: [VideoLayers];
  /** Something went wrong that does not end the session. */
  warning: [Error];
};
