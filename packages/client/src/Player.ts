import { TypedEmitter } from './emitter.ts';
import { SignalingRequestError } from './errors.ts';
import { HlsSession, hlsUrl } from './HlsSession.ts';
import type { Placement } from './Placement.ts';
import { type NodeRef, Placer } from './Placer.ts';
import type { PlayerEvents, PlayerOptions, PlayerPath, PlayerStats } from './PlayerTypes.ts';
import { ScoreFeed } from './ScoreFeed.ts';
import { rtpMediaTime, ScreenScore } from './ScreenScore.ts';
import { VideoSurface } from './VideoSurface.ts';
import { type SessionState, type SessionStateChange, WebRtcSession } from './WebRtcSession.ts';

export type {
  PlayerEvents,
  PlayerOptions,
  PlayerPath,
  PlayerStateChange,
  PlayerStats,
  RetryOptions,
} from './PlayerTypes.ts';

/**
 * A live WebRTC picture is never this far (ms of media) behind the newest
 * score; a frame that maps further back sits on a re-based timeline (another
 * encoder took over, see sfu Splicer) and is not placed.
 */
const LIVE_BEHIND_MAX_MS = 3000;

/**
 * WebRTC not connected this long after a session started, or no new frame
 * for half the stall limit: ask the relay for its HLS playlist, so that its
 * packager is already running (it starts on the first request) if the
 * fallback comes — the switch then costs a playlist load, not a cold start.
 */
const HLS_WARM_AFTER_MS = 1500;
const HLS_WARM_EVERY_MS = 30_000;

/** Error codes that no retry will fix. */
const FATAL_CODES = new Set(['unauthorized', 'forbidden', 'bad_request', 'unknown_method']);

/**
 * Failures that say WebRTC cannot reach this viewer (UDP blocked, strict NAT,
 * WebSocket blocked), as opposed to a node or the stream having trouble.
 */
function isTransportFailure(reason: string): boolean {
  return reason.startsWith('ice-') || reason === 'no-frames' || reason.startsWith('signaling-');
}

/**
 * Orchestrates playback for one viewer along the delivery ladder
 * WebRTC/UDP → WebRTC/TCP (ICE-TCP on the relay's WebRtcServer) → HLS:
 *
 * - placement picks the relay (Placer);
 * - drain: a second session is opened on another relay of the region, and
 *   only once it has decoded a frame does the video switch to it and the
 *   old session close (make before break);
 * - a playing session whose node goes away (signaling socket closed — a
 *   killed node closes it at once) is re-placed at once in the region;
 * - WebRTC that cannot deliver (ICE failed or not connected in time, no
 *   decoded frame for 2 s, signaling unreachable) falls back to HLS from the
 *   same relay at once; meanwhile WebRTC is retried in the background with
 *   backoff, TCP first, and the player goes back to it once a retry has
 *   decoded and rendered frames (the HLS picture stays up until then);
 * - anything else is retried with backoff.
 *
 * One ScoreFeed spans every session and path, so seq continuity and
 * duplicate dropping survive moves and switches.
 */
export class Player extends TypedEmitter<PlayerEvents> {
  readonly options: Readonly<PlayerOptions>;
  readonly scores: ScoreFeed;
  /** The score of the frame on screen (see ScreenScore): the overlay follows `scoreShown`. */
  readonly screen: ScreenScore;
  readonly #placer: Placer;
  #session: WebRtcSession | null = null;
  /** A session being prepared (drain move, or WebRTC retry while on HLS). */
  #standby: WebRtcSession | null = null;
  #hls: HlsSession | null = null;
  /** The page's video elements (HLS gets its own when given, so each path's picture stays up until the other has rendered). */
  readonly #surface: VideoSurface;
  #state: SessionState = 'connecting';
  #path: PlayerPath = 'none';
  #reason = 'idle';
  #attempt = 0;
  #upgradeAttempt = 0;
  /** Seconds behind live the viewer rewound to (0: live). */
  #behindLive = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #upgradeTimer: ReturnType<typeof setTimeout> | undefined;
  #stallTimer: ReturnType<typeof setInterval> | undefined;
  #started = false;
  #closed = false;
  #moves = 0;
  #failovers = 0;
  /** The current session reached 'connected' (its failure is a failover, not a retry). */
  #sessionPlayed = false;
  /** When the HLS packager of a relay was last warmed (by node URL). */
  readonly #hlsWarmed = new Map<string, number>();

  constructor(options: PlayerOptions) {
    super();
    this.options = { ...options };
    this.scores = new ScoreFeed({ stream: options.stream });
    this.screen = new ScreenScore(this.scores);
    this.screen.on('change', (score) => this.emit('scoreShown', score));
    this.#surface = new VideoSurface(this.screen, { webrtc: this.#rtpFrameTime, hls: this.#hlsFrameTime });
    this.on('score', () => this.screen.updated());
    this.#placer = new Placer({
      nodeUrl: options.nodeUrl,
      stream: options.stream,
      token: options.token,
      placement: options.placement ?? true,
      region: options.region ?? null,
      ...(options.avoidNodeMs ? { avoidNodeMs: options.avoidNodeMs } : {}),
      // A late joiner shows the current score while placement still measures RTTs.
      // Only before the first score: a rejoin resumes from its last seq instead.
      onEdges: (edges) => {
        if (!edges.score || this.scores.lastSeq > 0) return;
        const result = this.scores.push(edges.score, { snapshot: true });
        if (result.accepted) this.emit('score', result.score);
      },
    });
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

  /** The HLS session while on the HLS rung. */
  get hls(): HlsSession | null {
    return this.#hls;
  }

  /** The latest placement decision (node, region, RTTs per region). */
  get placement(): Placement | null {
    return this.#placer.current;
  }

  /** Drain moves and failovers so far. */
  get moves(): { moves: number; failovers: number } {
    return { moves: this.#moves, failovers: this.#failovers };
  }

  /** How far behind live the picture is because the viewer rewound (0: live). */
  get behindLive(): number {
    return this.#behindLive;
  }

  /**
   * Rewind: `seconds` further back than the picture now, inside the relay's
   * HLS window (the picture switches to HLS; the WebRTC session is closed,
   * nobody needs the live feed while watching a replay). Resolves once the
   * element has seeked; returns how far behind live it plays.
   */
  async rewind(seconds: number): Promise<number> {
    if (this.#closed) throw new Error('player closed');
    if (!this.#surface.twoElements) throw new Error('rewind needs a separate HLS video element');
    const target = this.#behindLive + Math.max(0, seconds);
    clearTimeout(this.#upgradeTimer);
    if (!this.#hls) {
      const nodeUrl = this.#session?.options.nodeUrl ?? this.#placer.current?.nodeUrl ?? this.options.nodeUrl;
      clearInterval(this.#stallTimer);
      this.#standby?.close('rewind');
      this.#standby = null;
      const session = this.#session;
      this.#session = null;
      session?.close('rewind');
      this.#startHls(nodeUrl, 'rewind', false);
    }
    const hls = this.#hls!;
    this.#behindLive = target;
    if (!(await playing(hls))) throw new Error(`rewind: HLS did not play (${hls.reason})`);
    const behind = (await hls.seekBehindLive(target)) ?? target;
    if (this.#hls !== hls || this.#behindLive !== target) return behind;
    this.#behindLive = behind;
    this.#set('connected', 'hls', `rewind: ${Math.round(behind)} s behind live`);
    return behind;
  }

  /** Back to live: HLS jumps to its live edge at once, and WebRTC takes over as soon as it renders. */
  goLive(): void {
    if (this.#closed || this.#behindLive === 0 || !this.#hls) return;
    this.#behindLive = 0;
    void this.#hls.seekBehindLive(0);
    this.#set(this.#state, 'hls', 'going live');
    this.#upgradeAttempt = 1; // UDP first
    void this.#tryUpgrade();
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

  /**
   * Shows the current (and every future) WebRTC stream in `video`; HLS plays
   * in `hlsVideo` when given (stacked on top of `video`: the player shows one
   * and hides the other), else in `video` itself.
   */
  attach(video: HTMLVideoElement, hlsVideo?: HTMLVideoElement): void {
    this.#surface.attach(video, hlsVideo);
    this.#show(this.#path);
    this.#syncVideo();
  }

  detach(): void {
    this.#surface.detach(this.mediaStream);
  }

  async stats(): Promise<PlayerStats | null> {
    const session = this.#session;
    const placement = this.#placer.current;
    const base = {
      path: this.#path,
      reason: this.#reason,
      placement,
      moves: this.#moves,
      failovers: this.#failovers,
    };
    if (!session) {
      if (!this.#hls) return null;
      return {
        ...this.#hls.stats(this.#surface.hlsElement),
        ...base,
        state: this.#state,
        nodeUrl: this.#hls.options.nodeUrl,
        nodeId: null,
        region: this.#placer.region,
      };
    }
    const s = await session.stats();
    return {
      ...s,
      ...base,
      nodeUrl: session.options.nodeUrl,
      nodeId: session.nodeId,
      region: session.region,
    };
  }

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#upgradeTimer);
    clearInterval(this.#stallTimer);
    this.#standby?.close(reason);
    this.#standby = null;
    this.#hls?.close(reason);
    this.#hls = null;
    this.#session?.close(reason);
    this.detach();
    this.#set('closed', 'none', reason);
  }

  // ---------------------------------------------------------------- internals

  #ref(session: WebRtcSession): NodeRef {
    return { url: session.options.nodeUrl, id: session.nodeId };
  }

  async #place(leaving?: WebRtcSession): Promise<Placement> {
    const placement = await this.#placer.next(leaving ? this.#ref(leaving) : undefined);
    this.emit('placement', placement);
    return placement;
  }

  #newSession(nodeUrl: string, forceTcp = this.options.forceTcp ?? false): WebRtcSession {
    const {
      retry: _r,
      placement: _p,
      region: _g,
      avoidNodeMs: _a,
      moveFrameTimeoutMs: _m,
      hlsFallback: _h,
      stallTimeoutMs: _s,
      upgradeRetry: _u,
      hlsFactory: _f,
      ...sessionOptions
    } = this.options;
    const session = new WebRtcSession({
      // Not connected in 4 s is a failure worth falling back from (HLS within 3 s of it).
      iceTimeoutMs: 4000,
      ...sessionOptions,
      nodeUrl,
      forceTcp,
      scoreFeed: this.scores,
    });
    session.on('score', (score) => this.emit('score', score));
    session.on('warning', (error) => this.emit('warning', error));
    session.on('tracks', () => {
      if (session === this.#session) this.#syncVideo();
    });
    session.on('drain', (reason) => void this.#moveOff(session, reason));
    session.on('state', (change) => this.#onSessionState(session, change));
    const warm = setTimeout(() => {
      if (!session.closed && session.state !== 'connected') this.#warmHls(nodeUrl);
    }, HLS_WARM_AFTER_MS);
    const offWarm = session.on('state', (change) => {
      if (change.state === 'connecting') return;
      clearTimeout(warm);
      offWarm();
    });
    return session;
  }

  async #run(leaving?: WebRtcSession): Promise<void> {
    if (this.#closed) return;
    this.#set('connecting', this.#path, this.#attempt === 0 ? 'placing' : `placing (${this.#attempt})`);
    const placement = await this.#place(leaving);
    if (this.#closed) return;
    const session = this.#newSession(placement.nodeUrl);
    this.#session = session;
    this.#sessionPlayed = false;
    this.#set('connecting', 'webrtc', this.#attempt === 0 ? 'connecting' : `reconnecting (${this.#attempt})`);
    try {
      await session.start();
      if (session === this.#session) {
        this.#placer.settle(session.region);
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
    this.#placer.avoid(this.#ref(from));
    this.#placer.settle(from.region);
    const placement = await this.#place(from);
    if (from !== this.#session || this.#closed) return;
    if (placement.nodeUrl === from.options.nodeUrl || (placement.nodeId && placement.nodeId === from.nodeId)) {
      this.emit('warning', new Error(`node draining (${reason}) but no other relay to move to`));
      return;
    }
    const next = this.#newSession(placement.nodeUrl, from.options.forceTcp ?? false);
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
  async #firstFrame(session: WebRtcSession, strict = false): Promise<void> {
    const deadline = Date.now() + (this.options.moveFrameTimeoutMs ?? 4000);
    while (!session.closed && Date.now() < deadline) {
      if (session.state === 'connected') {
        const stats = await session.stats();
        if ((stats.framesDecoded ?? 0) > 0) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    if (session.closed) throw new Error(`session ${session.state}: ${session.reason}`);
    if (strict) throw new Error('no decoded frame');
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
    // A standby only matters once promoted; its failure is handled where it was started.
    if (session === this.#standby || session !== this.#session) return;
    switch (change.state) {
      case 'connecting':
        this.#set('connecting', 'webrtc', change.reason);
        break;
      case 'connected':
        this.#attempt = 0;
        this.#sessionPlayed = true;
        this.#watchStall(session);
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
        if (standby && !standby.closed && !this.#hls) {
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

  /** "No decoded video frame for 2 s while connected" → the session counts as failed. */
  #watchStall(session: WebRtcSession): void {
    clearInterval(this.#stallTimer);
    const limit = this.options.stallTimeoutMs ?? 2000;
    let frames = -1;
    let since = Date.now();
    this.#stallTimer = setInterval(async () => {
      if (session !== this.#session || session.closed) {
        clearInterval(this.#stallTimer);
        return;
      }
      const decoded = (await session.stats()).framesDecoded ?? 0;
      if (decoded !== frames || decoded === 0) {
        // Before the first frame, ICE/keyframe timeouts are in charge.
        if (decoded !== frames) since = Date.now();
        frames = decoded;
        if (decoded === 0) since = Date.now();
        return;
      }
      if (Date.now() - since >= limit / 2) this.#warmHls(session.options.nodeUrl);
      if (Date.now() - since < limit || session !== this.#session) return;
      clearInterval(this.#stallTimer);
      this.#session = null;
      session.close('no-frames');
      this.#onFailure(session, { state: 'failed', reason: 'no-frames' });
    }, 250);
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
    // A node that was playing and whose signaling went away (killed, restarted)
    // is left for another relay of the region, at once: the viewer was watching.
    if (played && change.reason.startsWith('signaling-')) {
      this.#placer.avoid(this.#ref(session));
      this.#failovers++;
      this.#set('connecting', 'none', `${change.reason}; failing over`, change.error);
      void this.#run(session);
      return;
    }
    // WebRTC cannot get through to this viewer: HLS now, WebRTC again later.
    if (this.options.hlsFallback !== false && isTransportFailure(change.reason) && this.#surface.attached) {
      this.#startHls(session.options.nodeUrl, change.reason, true);
      return;
    }
    // A stream that is not live yet is not the node's fault: every node would say so.
    const notLive = change.error instanceof SignalingRequestError && change.error.code === 'not_found';
    if (!notLive) this.#placer.avoid(this.#ref(session));
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** (this.#attempt - 1));
    this.#set('connecting', 'none', `${change.reason}; retry in ${Math.round(delay / 100) / 10}s`, change.error);
    this.#retryTimer = setTimeout(() => void this.#run(), delay);
  }

  /** Starts the relay's HLS packager ahead of a possible fallback (see HLS_WARM_AFTER_MS). */
  #warmHls(nodeUrl: string): void {
    if (this.options.hlsFallback === false || this.#closed) return;
    const now = Date.now();
    if (now - (this.#hlsWarmed.get(nodeUrl) ?? Number.NEGATIVE_INFINITY) < HLS_WARM_EVERY_MS) return;
    this.#hlsWarmed.set(nodeUrl, now);
    fetch(hlsUrl(nodeUrl, this.options.stream, this.options.token), { cache: 'no-store' })
      .then((res) => res.body?.cancel())
      .catch(() => {
        // Only a hint: the fallback itself reports real failures.
      });
  }

  /**
   * Plays HLS from `nodeUrl`: a fallback (the relay WebRTC just failed to
   * reach, same region; WebRTC is retried in the background) or a rewind.
   */
  #startHls(nodeUrl: string, why: string, fallback: boolean): void {
    const video = this.#surface.hlsElement;
    if (!video) {
      this.#set('failed', 'none', `${why}; no video element for HLS`);
      return;
    }
    if (this.#hls) return;
    if (!this.#surface.twoElements && video.srcObject) video.srcObject = null;
    const hls = new HlsSession({
      nodeUrl,
      stream: this.options.stream,
      token: this.options.token,
      scoreFeed: this.scores,
      ...(this.options.hlsFactory ? { hlsFactory: this.options.hlsFactory } : {}),
    });
    this.#hls = hls;
    const reason = fallback ? `fallback: ${why}` : why;
    hls.on('score', (score) => this.emit('score', score));
    hls.on('warning', (error) => this.emit('warning', error));
    hls.on('state', (change) => {
      if (hls !== this.#hls || this.#closed) return;
      if (change.state === 'connected') this.#set('connected', 'hls', reason);
      else if (change.state === 'connecting') this.#set('connecting', 'hls', `${reason}; ${change.reason}`);
      else {
        // HLS did not work either: back to retrying WebRTC with backoff (and to live).
        this.#hls = null;
        this.#behindLive = 0;
        clearTimeout(this.#upgradeTimer);
        this.#standby?.close('hls failed');
        this.#standby = null;
        const delay = Math.min(10_000, 1000 * 2 ** Math.min(this.#attempt, 4));
        this.#set('connecting', 'none', `${why}; hls ${change.reason}; retry in ${delay / 1000}s`);
        this.#retryTimer = setTimeout(() => void this.#run(), delay);
      }
    });
    this.#show('hls');
    this.#set('connecting', 'hls', reason);
    void hls.start(video);
    this.#upgradeAttempt = 0;
    if (fallback) this.#scheduleUpgrade();
  }

  #scheduleUpgrade(): void {
    // A viewer watching a replay stays on it until they go live.
    if (this.#behindLive > 0) return;
    const { initialDelayMs = 1000, maxDelayMs = 8000 } = this.options.upgradeRetry ?? {};
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** this.#upgradeAttempt);
    clearTimeout(this.#upgradeTimer);
    this.#upgradeTimer = setTimeout(() => void this.#tryUpgrade(), delay);
  }

  /** While on HLS: a WebRTC session in the background (TCP first, then UDP); switch once it renders. */
  async #tryUpgrade(): Promise<void> {
    if (this.#closed || !this.#hls || this.#standby) return;
    const forceTcp = this.#upgradeAttempt % 2 === 0 || (this.options.forceTcp ?? false);
    this.#upgradeAttempt++;
    const placement = await this.#place();
    if (this.#closed || !this.#hls) return;
    const next = this.#newSession(placement.nodeUrl, forceTcp);
    this.#standby = next;
    try {
      await next.start();
      await this.#firstFrame(next, true);
      if (this.#standby !== next || this.#closed || !this.#hls || this.#behindLive > 0) throw new Error('superseded');
      // Swap only once the WebRTC picture is painted (no stale frame on screen); a browser that never
      // reports the hidden element's frames is not kept on HLS for ever: from the third try, swap anyway.
      const painted = await this.#surface.rendered(next.mediaStream);
      if (!painted && this.#upgradeAttempt < 3) throw new Error('no frame painted');
    } catch {
      next.close('upgrade failed');
      if (this.#standby === next) this.#standby = null;
      if (this.#hls && !this.#closed) this.#scheduleUpgrade();
      return;
    }
    if (this.#standby !== next || !this.#hls) return;
    this.#standby = null;
    const hls = this.#hls;
    this.#hls = null;
    clearTimeout(this.#upgradeTimer);
    this.#attempt = 0;
    this.#session = next;
    this.#sessionPlayed = true;
    this.#syncVideo();
    this.#show('webrtc');
    hls.close('upgraded');
    this.#watchStall(next);
    this.#set('connected', 'webrtc', `upgraded from hls (${forceTcp ? 'tcp' : 'udp'})`);
  }

  /** Shows the element of `path` (hiding the other when there are two); the overlay follows its frames. */
  #show(path: PlayerPath): void {
    this.#surface.show(path === 'hls' ? 'hls' : 'webrtc', () => this.#hls !== null);
  }

  /** mediaTime of a WebRTC frame from its RTP timestamp (undefined where the browser does not give it). */
  readonly #rtpFrameTime = (meta: VideoFrameCallbackMetadata): number | undefined => {
    if (meta.rtpTimestamp === undefined) return undefined;
    const latest = this.scores.latest;
    const mediaTime = rtpMediaTime(meta.rtpTimestamp, latest?.mediaTime ?? 0);
    if (latest && mediaTime < latest.mediaTime - LIVE_BEHIND_MAX_MS) return undefined;
    return mediaTime;
  };

  readonly #hlsFrameTime = (meta: VideoFrameCallbackMetadata): number | undefined => this.#hls?.mediaTimeOf(meta);

  #set(state: SessionState, path: PlayerPath, reason: string, error?: Error): void {
    if (this.#state === state && this.#path === path && this.#reason === reason) return;
    this.#state = state;
    this.#path = path;
    this.#reason = reason;
    this.emit('state', error ? { state, path, reason, error } : { state, path, reason });
  }

  #syncVideo(): void {
    // With one element for both paths, HLS owns it while it plays.
    if (this.#hls && !this.#surface.twoElements) return;
    const stream = this.mediaStream;
    this.#surface.showStream(stream);
    this.emit('media', stream);
  }
}

/** Resolves true once `hls` plays (state 'connected'), false if it fails or closes first. */
function playing(hls: HlsSession): Promise<boolean> {
  if (hls.state === 'connected') return Promise.resolve(true);
  if (hls.closed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const off = hls.on('state', (change) => {
      if (change.state === 'connecting') return;
      off();
      resolve(change.state === 'connected');
    });
  });
}
