import { TypedEmitter } from './emitter.ts';
import { SignalingRequestError } from './errors.ts';
import { type ReceivedScore, ScoreFeed } from './ScoreFeed.ts';
import {
  type SessionState,
  type SessionStateChange,
  type SessionStats,
  WebRtcSession,
  type WebRtcSessionOptions,
} from './WebRtcSession.ts';

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
};

export type PlayerEvents = {
  state: [PlayerStateChange];
  score: [ReceivedScore];
  /** The MediaStream to show changed (new session, tracks added/removed), null when none. */
  media: [MediaStream | null];
  warning: [Error];
};

/**
 * One rung of the delivery ladder. Only WebRTC (UDP preferred, or TCP when
 * forced) exists today.
 *
 * TODO(ladder): WebRTC/UDP → WebRTC/TCP (`forceTcp: true`) → HLS via hls.js.
 * A rung is abandoned for the next on transport-level failures
 * ('ice-timeout', 'ice-failed', 'ice-disconnected-timeout'), never on auth
 * errors. An HLS rung would implement the same small surface as
 * WebRtcSession (start/close/state/score events) but attach to the video
 * element itself (hls.attachMedia) instead of exposing a MediaStream, and
 * map `video.currentTime` to mediaTime for ScoreFeed.scoreForMediaTime().
 * Placement (choosing the node, moving on 'drain') also plugs in here:
 * #nextNodeUrl() is the single place that decides where the next attempt goes.
 */
type Rung = { path: 'webrtc'; forceTcp: boolean };

/** Error codes that no retry will fix. */
const FATAL_CODES = new Set(['unauthorized', 'forbidden', 'bad_request', 'unknown_method']);

/**
 * Orchestrates playback paths for one viewer: starts a WebRtcSession, keeps
 * the video element attached to its stream, reconnects with backoff on
 * recoverable failures and keeps one ScoreFeed across reconnects (so seq
 * continuity and duplicate dropping survive them).
 */
export class Player extends TypedEmitter<PlayerEvents> {
  readonly options: Readonly<PlayerOptions>;
  readonly scores: ScoreFeed;
  #session: WebRtcSession | null = null;
  #video: HTMLVideoElement | null = null;
  #state: SessionState = 'connecting';
  #path: PlayerPath = 'none';
  #reason = 'idle';
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #started = false;
  #closed = false;
  /** Ids of the video tracks the element was last given. */
  #videoKey = '';

  constructor(options: PlayerOptions) {
    super();
    this.options = { ...options };
    this.scores = new ScoreFeed({ stream: options.stream });
  }

  get state(): SessionState {
    return this.#state;
  }

  get path(): PlayerPath {
    return this.#path;
  }

  get reason(): string {
    return this.#reason;
  }

  /** The active WebRTC session, if any (diagnostics and tests). */
  get session(): WebRtcSession | null {
    return this.#session;
  }

  get mediaStream(): MediaStream | null {
    return this.#session?.mediaStream ?? null;
  }

  /** Starts playback; progress is reported through 'state' events. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#run();
  }

  /** Shows the current (and every future) stream in `video`. */
  attach(video: HTMLVideoElement): void {
    this.#video = video;
    this.#syncVideo();
  }

  detach(): void {
    if (this.#video && this.#video.srcObject === this.mediaStream) this.#video.srcObject = null;
    this.#video = null;
  }

  async stats(): Promise<SessionStats | null> {
    return this.#session ? this.#session.stats() : null;
  }

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#session?.close(reason);
    this.detach();
    this.#set('closed', 'none', reason);
  }

  // ---------------------------------------------------------------- internals

  #rung(): Rung {
    return { path: 'webrtc', forceTcp: this.options.forceTcp ?? false };
  }

  #nextNodeUrl(): string {
    return this.options.nodeUrl;
  }

  async #run(): Promise<void> {
    if (this.#closed) return;
    const rung = this.#rung();
    const { retry: _retry, ...sessionOptions } = this.options;
    const session = new WebRtcSession({
      ...sessionOptions,
      nodeUrl: this.#nextNodeUrl(),
      forceTcp: rung.forceTcp,
      scoreFeed: this.scores,
    });
    this.#session = session;
    this.#set('connecting', 'webrtc', this.#attempt === 0 ? 'connecting' : `reconnecting (${this.#attempt})`);
    session.on('score', (score) => this.emit('score', score));
    session.on('warning', (error) => this.emit('warning', error));
    session.on('tracks', () => this.#syncVideo());
    session.on('drain', (reason) => {
      // TODO(placement): move to another node of the region before this one goes away.
      this.emit('warning', new Error(`node draining: ${reason}`));
    });
    session.on('state', (change) => this.#onSessionState(session, change));
    try {
      await session.start();
      this.#syncVideo();
    } catch {
      // The 'state' listener has already handled the failure.
    }
  }

  #onSessionState(session: WebRtcSession, change: SessionStateChange): void {
    if (session !== this.#session || this.#closed) return;
    switch (change.state) {
      case 'connecting':
        this.#set('connecting', 'webrtc', change.reason);
        break;
      case 'connected':
        this.#attempt = 0;
        this.#set('connected', 'webrtc', change.reason);
        break;
      case 'closed':
        // Only the stream ending (or our own close) closes a session.
        this.#session = null;
        this.#syncVideo();
        this.#set('closed', 'none', change.reason);
        break;
      case 'failed':
        this.#session = null;
        this.#syncVideo();
        this.#onFailure(change);
        break;
    }
  }

  #onFailure(change: SessionStateChange): void {
    const fatal =
      (change.error instanceof SignalingRequestError && FATAL_CODES.has(change.error.code)) ||
      change.reason === 'unsupported-browser';
    const {
      initialDelayMs = 500,
      maxDelayMs = 10_000,
      maxAttempts = Number.POSITIVE_INFINITY,
    } = this.options.retry ?? {};
    this.#attempt++;
    if (fatal || this.#attempt >= maxAttempts) {
      this.#set('failed', 'none', change.reason, change.error);
      return;
    }
    // A node that lost the stream (worker crash, upstream pipe gone) can
    // usually serve it again at once: the first rejoin does not wait.
    const immediate = change.reason === 'stream-ended' && this.#attempt === 1;
    const delay = immediate ? 0 : Math.min(maxDelayMs, initialDelayMs * 2 ** (this.#attempt - 1));
    this.#set('connecting', 'none', `${change.reason}; retry in ${Math.round(delay / 100) / 10}s`, change.error);
    this.#retryTimer = setTimeout(() => void this.#run(), delay);
  }

  #set(state: SessionState, path: PlayerPath, reason: string, error?: Error): void {
    if (this.#state === state && this.#path === path && this.#reason === reason) return;
    this.#state = state;
    this.#path = path;
    this.#reason = reason;
    this.emit('state', error ? { state, path, reason, error } : { state, path, reason });
  }

  #syncVideo(): void {
    const stream = this.mediaStream;
    const video = this.#video;
    const videoKey = stream
      ? stream
          .getVideoTracks()
          .map((t) => t.id)
          .join()
      : '';
    if (video) {
      if (video.srcObject !== stream) {
        video.srcObject = stream;
      } else if (stream && videoKey !== this.#videoKey) {
        // The program video track was replaced (origin republished): browsers do not
        // reliably switch to a new video track of the same srcObject, so reload it.
        video.srcObject = null;
        video.srcObject = stream;
      }
    }
    this.#videoKey = videoKey;
    this.emit('media', stream);
  }
}
