import type { EdgesResponse } from '@matchmesh/protocol';
import { TypedEmitter } from './emitter.ts';
import { SignalingRequestError } from './errors.ts';
import { type Placement, place } from './Placement.ts';
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
  /**
   * Choose the relay from the node's edges list and RTT probes (default true).
   * False pins the first session to `nodeUrl`; drain and failover still move
   * to another relay of the same region.
   */
  placement?: boolean;
  /** Only relays of this region (the page's region picker). */
  region?: string | null;
  /** How long a node we left (drained, died) is not picked again. */
  avoidNodeMs?: number;
  /** Drain move: promote the new session after this long even without a decoded frame. */
  moveFrameTimeoutMs?: number;
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
  score: [ReceivedScore];
  /** The MediaStream to show changed (new session, tracks added/removed), null when none. */
  media: [MediaStream | null];
  /** A placement decision was made (first join, drain move, failover). */
  placement: [Placement];
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
 */
type Rung = { path: 'webrtc'; forceTcp: boolean };

/** Error codes that no retry will fix. */
const FATAL_CODES = new Set(['unauthorized', 'forbidden', 'bad_request', 'unknown_method']);

/**
 * Orchestrates playback for one viewer: picks a relay (placement), starts a
 * WebRtcSession, keeps the video element attached to its stream, and keeps
 * playing through node trouble:
 *
 * - drain: the node says it is draining → a second session is opened on
 *   another relay of the same region, and only once it has decoded a frame
 *   does the video switch to it and the old session close (make before
 *   break: the picture freezes for at most the switch itself);
 * - failure of a session that was playing (signaling socket closed — a
 *   killed node closes it at once — or ICE failed): re-placed at once on
 *   another relay of the region, the failed node avoided for a while;
 * - other failures: retried with backoff.
 *
 * One ScoreFeed spans every session, so seq continuity and duplicate
 * dropping survive moves.
 */
export class Player extends TypedEmitter<PlayerEvents> {
  readonly options: Readonly<PlayerOptions>;
  readonly scores: ScoreFeed;
  #session: WebRtcSession | null = null;
  /** A session being prepared on another relay while the current one drains. */
  #standby: WebRtcSession | null = null;
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
  #placement: Placement | null = null;
  /** When the edges list in #placement was fetched. */
  #placedAt = 0;
  /** The region the viewer plays in once placed (drain and failover stay in it). */
  #region: string | null;
  /** Node URLs that can answer an edges request (the page's node first). */
  #entryUrls: string[];
  /** Node id or URL → time until which it is not picked. */
  readonly #avoid = new Map<string, number>();
  #moves = 0;
  #failovers = 0;
  /** The current session reached 'connected' (its failure is a failover, not a retry). */
  #sessionPlayed = false;

  constructor(options: PlayerOptions) {
    super();
    this.options = { ...options };
    this.scores = new ScoreFeed({ stream: options.stream });
    this.#region = options.region ?? null;
    this.#entryUrls = [options.nodeUrl];
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

  /** The latest placement decision (node, region, RTTs per region). */
  get placement(): Placement | null {
    return this.#placement;
  }

  /** Drain moves and failovers so far. */
  get moves(): { moves: number; failovers: number } {
    return { moves: this.#moves, failovers: this.#failovers };
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

  async stats(): Promise<PlayerStats | null> {
    const session = this.#session;
    if (!session) return null;
    const s = await session.stats();
    return {
      ...s,
      path: this.#path,
      reason: this.#reason,
      nodeUrl: session.options.nodeUrl,
      nodeId: session.nodeId,
      region: session.region,
      placement: this.#placement,
      moves: this.#moves,
      failovers: this.#failovers,
    };
  }

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#standby?.close(reason);
    this.#standby = null;
    this.#session?.close(reason);
    this.detach();
    this.#set('closed', 'none', reason);
  }

  // ---------------------------------------------------------------- internals

  #rung(): Rung {
    return { path: 'webrtc', forceTcp: this.options.forceTcp ?? false };
  }

  #avoided(): Set<string> {
    const now = Date.now();
    for (const [key, until] of this.#avoid) if (until <= now) this.#avoid.delete(key);
    return new Set(this.#avoid.keys());
  }

  #avoidNode(session: WebRtcSession): void {
    const until = Date.now() + (this.options.avoidNodeMs ?? 30_000);
    this.#avoid.set(session.options.nodeUrl, until);
    if (session.nodeId) this.#avoid.set(session.nodeId, until);
  }

  /**
   * The single place that decides where the next session goes. `leaving` is
   * the node being left now (never picked); nodes left earlier are picked
   * only when the region has no other.
   */
  async #target(leaving?: WebRtcSession): Promise<Placement> {
    const first = this.#placement === null;
    if (first && this.options.placement === false) {
      return {
        nodeUrl: this.options.nodeUrl,
        nodeId: null,
        region: this.#region,
        reason: 'fallback',
        rtts: {},
        tookMs: 0,
        knownUrls: [],
        edges: null,
        error: 'placement disabled: pinned to the given node',
      };
    }
    const leavingKeys = leaving ? [leaving.options.nodeUrl, ...(leaving.nodeId ? [leaving.nodeId] : [])] : [];
    const previous = this.#placement;
    // A failover uses the edges list we already have when it is recent: the
    // next relay of the region is known, and every millisecond is a frozen one.
    const cached =
      leaving && previous?.edges && Date.now() - this.#placedAt < 60_000 ? previous.edges : undefined;
    const ask = (edges?: EdgesResponse) =>
      place({
        // The node being left last (it may be dead, and a dead node costs a timeout).
        entryUrls: [
          ...new Set([...this.#entryUrls.filter((u) => u !== leaving?.options.nodeUrl), ...this.#entryUrls]),
        ],
        stream: this.options.stream,
        token: this.options.token,
        region: this.#region,
        exclude: new Set(leavingKeys),
        avoid: this.#avoided(),
        ...(edges ? { edges } : {}),
        ...(previous && Object.keys(previous.rtts).length > 0 ? { knownRtts: previous.rtts } : {}),
      });
    let placement = cached ? await ask(cached) : null;
    // The cached list may not know a relay of the region (one that was draining then): ask.
    if (
      !placement ||
      placement.reason === 'fallback' ||
      (this.#region && placement.region !== this.#region)
    ) {
      placement = await ask();
      this.#placedAt = Date.now();
    }
    // Remember every relay we heard of: if this one dies, another can answer.
    this.#entryUrls = [...new Set([...this.#entryUrls, ...placement.knownUrls])];
    return placement;
  }

  #notePlacement(placement: Placement): void {
    // Keep the measured RTTs across moves: a move within the region does not re-measure.
    const rtts = Object.keys(placement.rtts).length > 0 ? placement.rtts : (this.#placement?.rtts ?? {});
    this.#placement = { ...placement, rtts };
    this.emit('placement', this.#placement);
  }

  #newSession(nodeUrl: string): WebRtcSession {
    const rung = this.#rung();
    const {
      retry: _r,
      placement: _p,
      region: _g,
      avoidNodeMs: _a,
      moveFrameTimeoutMs: _m,
      ...sessionOptions
    } = this.options;
    const session = new WebRtcSession({
      ...sessionOptions,
      nodeUrl,
      forceTcp: rung.forceTcp,
      scoreFeed: this.scores,
    });
    session.on('score', (score) => this.emit('score', score));
    session.on('warning', (error) => this.emit('warning', error));
    session.on('tracks', () => {
      if (session === this.#session) this.#syncVideo();
    });
    session.on('drain', (reason) => void this.#moveOff(session, reason));
    session.on('state', (change) => this.#onSessionState(session, change));
    return session;
  }

  async #run(leaving?: WebRtcSession): Promise<void> {
    if (this.#closed) return;
    this.#set('connecting', this.#path, this.#attempt === 0 ? 'placing' : `placing (${this.#attempt})`);
    const placement = await this.#target(leaving);
    if (this.#closed) return;
    this.#notePlacement(placement);
    const session = this.#newSession(placement.nodeUrl);
    this.#session = session;
    this.#sessionPlayed = false;
    this.#set('connecting', 'webrtc', this.#attempt === 0 ? 'connecting' : `reconnecting (${this.#attempt})`);
    try {
      await session.start();
      if (session === this.#session) {
        this.#region ??= session.region;
        this.#syncVideo();
      }
    } catch {
      // The 'state' listener has already handled the failure.
    }
  }

  /**
   * Drain: open a session on another relay of the region, wait until it has
   * decoded a frame, then show it and close the old one.
   */
  async #moveOff(from: WebRtcSession, reason: string): Promise<void> {
    if (from !== this.#session || this.#standby || this.#closed) return;
    this.#avoidNode(from);
    this.#region ??= from.region;
    const placement = await this.#target(from);
    if (from !== this.#session || this.#closed) return;
    if (
      placement.nodeUrl === from.options.nodeUrl ||
      (placement.nodeId && placement.nodeId === from.nodeId)
    ) {
      this.emit('warning', new Error(`node draining (${reason}) but no other relay to move to`));
      return;
    }
    this.#notePlacement(placement);
    const next = this.#newSession(placement.nodeUrl);
    this.#standby = next;
    this.#set(this.#state, this.#path, `moving: ${reason}`);
    try {
      await next.start();
      await this.#firstFrame(next);
    } catch {
      if (this.#standby === next) this.#standby = null;
      this.emit('warning', new Error(`drain move to ${placement.nodeUrl} failed: ${next.reason}`));
      return;
    }
    if (this.#standby !== next || this.#closed) return;
    this.#standby = null;
    this.#promote(next, from, 'moved');
  }

  /** Resolves once `session` has decoded a video frame (or after the timeout: better than staying). */
  async #firstFrame(session: WebRtcSession): Promise<void> {
    const deadline = Date.now() + (this.options.moveFrameTimeoutMs ?? 4000);
    while (!session.closed && Date.now() < deadline) {
      if (session.state === 'connected') {
        const stats = await session.stats();
        if ((stats.framesDecoded ?? 0) > 0) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    if (session.closed) throw new Error(`session ${session.state}: ${session.reason}`);
  }

  /** Makes `next` the playing session; closes `old` once the video shows `next`. */
  #promote(next: WebRtcSession, old: WebRtcSession | null, why: string): void {
    this.#session = next;
    this.#sessionPlayed = next.state === 'connected';
    this.#moves++;
    this.#syncVideo();
    old?.close(why);
    this.#set(next.state, 'webrtc', next.state === 'connected' ? `playing (${why})` : next.reason);
  }

  #onSessionState(session: WebRtcSession, change: SessionStateChange): void {
    if (this.#closed) return;
    if (session === this.#standby) {
      // A standby only matters once promoted; its failure is handled in #moveOff.
      return;
    }
    if (session !== this.#session) return;
    switch (change.state) {
      case 'connecting':
        this.#set('connecting', 'webrtc', change.reason);
        break;
      case 'connected':
        this.#attempt = 0;
        this.#sessionPlayed = true;
        this.#set('connected', 'webrtc', change.reason);
        break;
      case 'closed':
        // Only the stream ending (or our own close) closes a session.
        this.#session = null;
        this.#syncVideo();
        this.#set('closed', 'none', change.reason);
        break;
      case 'failed': {
        // The node went away while we were moving off it: the standby takes over now.
        const standby = this.#standby;
        if (standby && !standby.closed) {
          this.#standby = null;
          this.#promote(standby, null, 'moved early');
          return;
        }
        this.#session = null;
        this.#syncVideo();
        this.#onFailure(session, change);
        break;
      }
    }
  }

  #onFailure(session: WebRtcSession, change: SessionStateChange): void {
    const fatal =
      (change.error instanceof SignalingRequestError && FATAL_CODES.has(change.error.code)) ||
      change.reason === 'unsupported-browser';
    const {
      initialDelayMs = 500,
      maxDelayMs = 10_000,
      maxAttempts = Number.POSITIVE_INFINITY,
    } = this.options.retry ?? {};
    const played = this.#sessionPlayed;
    this.#attempt++;
    if (fatal || this.#attempt >= maxAttempts) {
      this.#set('failed', 'none', change.reason, change.error);
      return;
    }
    // A node that was playing and then failed (killed, network gone) is left
    // for another relay of the region; a node that could not even start is
    // avoided too, so the retry tries elsewhere when there is elsewhere.
    this.#avoidNode(session);
    if (played) {
      // Failover: no backoff — the viewer was watching a moment ago.
      this.#failovers++;
      this.#set('connecting', 'none', `${change.reason}; failing over`, change.error);
      void this.#run(session);
      return;
    }
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** (this.#attempt - 1));
    this.#set(
      'connecting',
      'none',
      `${change.reason}; retry in ${Math.round(delay / 100) / 10}s`,
      change.error,
    );
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
