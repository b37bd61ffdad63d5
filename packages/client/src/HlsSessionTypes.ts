/*
 * HlsSession's options and events (re-exported by HlsSession.ts), apart so
 * the session file holds behaviour only, as WebRtcSessionTypes.ts does for
 * the WebRTC session.
 */
import type { HlsFactory } from './hlsJs.ts';
import type { ReceivedScore, ScoreFeed } from './ScoreFeed.ts';
import type { SessionStateChange } from './SessionLifecycle.ts';

export type HlsSessionOptions = {
  /** HTTP base URL of the relay serving HLS. */
  nodeUrl: string;
  stream: string;
  token: string;
  scoreFeed: ScoreFeed;
  /** Fail when no frame has played this long after start(). */
  startTimeoutMs?: number;
  /** Defaults to dynamically imported hls.js (null where MSE is missing: native HLS is used). */
  hlsFactory?: HlsFactory;
  /** Pause before asking the score log (`scores.json`) again after a failed request. */
  scoresPollMs?: number;
  fetch?: typeof fetch;
  /** The viewer's commentary choice (BCP 47; null: venue sound only; undefined: none), asked when tracks are known. */
  language?: () => string | null | undefined;
  /** How often the multivariant playlist is read again for languages that came on or left the air ('languages'). */
  languagesPollMs?: number;
};

export type HlsSessionEvents = {
  state: [SessionStateChange];
  score: [ReceivedScore];
  warning: [Error];
  /**
   * The relay is draining (its answers carry HLS_DRAINING_HEADER): the value
   * is another relay of its region. Said again at most every DRAIN_NOTICE_MS
   * while the relay keeps saying it, so a move that failed is tried again.
   */
  draining: [string];
  /**
   * The relay's multivariant playlist lists other commentary languages than
   * hls.js plays from (it read the playlist once): the player reloads HLS.
   * Said again at each poll while they differ.
   */
  languages: [string[]];
};
