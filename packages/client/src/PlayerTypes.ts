import type { EdgesResponse } from '@matchmesh/protocol';
import type { HlsFactory } from './hlsJs.ts';
import type { Placement } from './Placement.ts';
import type { ReceivedScore } from './ScoreFeed.ts';
import type { SessionState, SessionStats, VideoLayers, WebRtcSessionOptions } from './WebRtcSession.ts';

// The Player's public types: its options, events and stats (Player.ts is the class, LadderDriver.ts the behaviour).

/** How the viewer is currently receiving the match. */
export type PlayerPath = 'webrtc' | 'hls' | 'none';

export type PlayerStateChange = {
  state: SessionState;
  path: PlayerPath;
  reason: string;
  /** The error behind a failure (also set while retrying after one). */
  error?: Error;
};

export type RetryOptions = {
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Give up (state 'failed') after this many consecutive failed attempts. */
  maxAttempts?: number;
};

export type PlayerOptions = Omit<WebRtcSessionOptions, 'scoreFeed'> & {
  retry?: RetryOptions;
  /**
   * Choose the relay from the node's edges list and RTT probes (default true).
   * False pins the first session to `nodeUrl`; drain and failover still move
   * to another relay of the same region.
   */
  placement?: boolean;
  /** Only relays of this region (the page's region picker). */
  region?: string | null;
  /**
   * The stream's edges list the page already has (the session exchange's
   * `bootstrap`): the first placement uses it instead of asking, shows its
   * score at once, and its router capabilities let the first join set up
   * receiving in one round trip.
   */
  bootstrap?: EdgesResponse | null;
  /** How long a node we left (drained, died) is picked only as a last resort. */
  avoidNodeMs?: number;
  /** Drain move / upgrade: promote the new session after this long even without a decoded frame. */
  moveFrameTimeoutMs?: number;
  /** Fall back to HLS when WebRTC cannot deliver (default true). */
  hlsFallback?: boolean;
  /** No decoded video frame for this long on a session that played → fall back (default 2000). */
  stallTimeoutMs?: number;
  /** Background WebRTC retries while on HLS. */
  upgradeRetry?: { initialDelayMs?: number; maxDelayMs?: number };
  /** hls.js (or a fake in tests); defaults to a dynamic import of hls.js. */
  hlsFactory?: HlsFactory;
  /** How often an HLS session reads the multivariant playlist again for commentary languages (default 4 s). */
  hlsLanguagesPollMs?: number;
};

/** Player-level stats: the session's plus where the player is and why. */
export type PlayerStats = SessionStats & {
  path: PlayerPath;
  reason: string;
  nodeUrl: string | null;
  nodeId: string | null;
  region: string | null;
  placement: Placement | null;
  /** Sessions moved to another relay (drain) or re-placed after a failure. */
  moves: number;
  failovers: number;
};

export type PlayerEvents = {
  state: [PlayerStateChange];
  /** An update was accepted into the feed (in seq order; may be ahead of the picture). */
  score: [ReceivedScore];
  /** The score that belongs to the frame on screen changed: what the overlay draws. */
  scoreShown: [ReceivedScore | null];
  /** The MediaStream to show changed (new session, tracks added/removed), null when none. */
  media: [MediaStream | null];
  /** A placement decision was made (first join, drain move, failover). */
  placement: [Placement];
  /** The WebRTC program's layers changed (the node switched layer, or the viewer chose one). */
  layers: [VideoLayers];
  warning: [Error];
};
