import { TypedEmitter } from './emitter.ts';
import { failureOf, type SessionFailure } from './failure.ts';
import { HlsSession, hlsUrl } from './HlsSession.ts';
import {
  type Effect,
  initialLadder,
  type LadderEvent,
  type LadderPolicy,
  type LadderState,
  type Surface,
  transition,
} from './ladder.ts';
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
  readonly #policy: LadderPolicy;
  /** Where the player is on the ladder (see ladder.ts); changed only by #dispatch. */
  #ladder: LadderState = initialLadder();
  /** What the last 'state' event said. */
  #shown: { state: SessionState; path: PlayerPath; reason: string } = { state: 'connecting', path: 'none', reason: 'idle' };
  #session: WebRtcSession | null = null;
  /** A session being prepared (drain move, or WebRTC retry while on HLS). */
  #standby: WebRtcSession | null = null;
  #hls: HlsSession | null = null;
  /** The page's video elements (HLS gets its own when given, so each path's picture stays up until the other has rendered). */
  readonly #surface: VideoSurface;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #upgradeTimer: ReturnType<typeof setTimeout> | undefined;
  #stallTimer: ReturnType<typeof setInterval> | undefined;
  /** When the HLS packager of a relay was last warmed (by node URL). */
  readonly #hlsWarmed = new Map<string, number>();

  constructor(options: PlayerOptions) {
    super();
    this.options = { ...options };
    const retry = options.retry ?? {};
    const upgrade = options.upgradeRetry ?? {};
    this.#policy = {
      retry: { initialDelayMs: retry.initialDelayMs ?? 500, maxDelayMs: retry.maxDelayMs ?? 10_000 },
      maxAttempts: retry.maxAttempts ?? Number.POSITIVE_INFINITY,
      upgrade: { initialDelayMs: upgrade.initialDelayMs ?? 1000, maxDelayMs: upgrade.maxDelayMs ?? 8000 },
      hlsFallback: options.hlsFallback !== false,
      forceTcp: options.forceTcp ?? false,
    };
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
    return this.#shown.state;
  }

  get path(): PlayerPath {
    return this.#shown.path;
  }

  get reason(): string {
    return this.#shown.reason;
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
    return { moves: this.#ladder.moves, failovers: this.#ladder.failovers };
  }

  /** How far behind live the picture is because the viewer rewound (0: live). */
  get behindLive(): number {
    return this.#ladder.behindLive;
  }

  /**
   * Rewind: `seconds` further back than the picture now, inside the relay's
   * HLS window (the picture switches to HLS; the WebRTC session is closed,
   * nobody needs the live feed while watching a replay). Resolves once the
   * element has seeked; returns how far behind live it plays.
   */
  async rewind(seconds: number): Promise<number> {
    if (this.#ladder.rung === 'closed') throw new Error('player closed');
    if (!this.#surface.twoElements) throw new Error('rewind needs a separate HLS video element');
    const target = this.#ladder.behindLive + Math.max(0, seconds);
    const nodeUrl = this.#session?.options.nodeUrl ?? this.#placer.current?.nodeUrl ?? this.options.nodeUrl;
    this.#dispatch({ type: 'rewind', target, surface: this.#surfaceFacts() }, { session: this.#session, nodeUrl });
    const hls = this.#hls;
    if (!hls) throw new Error(`rewind: no HLS (${this.reason})`);
    if (!(await playing(hls))) throw new Error(`rewind: HLS did not play (${hls.reason})`);
    const behind = (await hls.seekBehindLive(target)) ?? target;
    if (this.#hls !== hls) return behind;
    this.#dispatch({ type: 'rewound', target, behind });
    return behind;
  }

  /** Back to live: HLS jumps to its live edge at once, and WebRTC takes over as soon as it renders. */
  goLive(): void {
    if (!this.#hls) return;
    this.#dispatch({ type: 'go-live' });
  }

  get mediaStream(): MediaStream | null {
    return this.#session?.mediaStream ?? null;
  }

  /** Starts playback; progress is reported through 'state' events. */
  start(): void {
    this.#dispatch({ type: 'start' });
  }

  /**
   * Shows the current (and every future) WebRTC stream in `video`; HLS plays
   * in `hlsVideo` when given (stacked on top of `video`: the player shows one
   * and hides the other), else in `video` itself.
   */
  attach(video: HTMLVideoElement, hlsVideo?: HTMLVideoElement): void {
    this.#surface.attach(video, hlsVideo);
    this.#show(this.path);
    this.#syncVideo();
  }

  detach(): void {
    this.#surface.detach(this.mediaStream);
  }

  async stats(): Promise<PlayerStats | null> {
    const session = this.#session;
    const placement = this.#placer.current;
    const base = {
      path: this.path,
      reason: this.reason,
      placement,
      moves: this.#ladder.moves,
      failovers: this.#ladder.failovers,
    };
    if (!session) {
      if (!this.#hls) return null;
      return {
        ...this.#hls.stats(this.#surface.hlsElement),
        ...base,
        state: this.state,
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
    this.#dispatch({ type: 'close', reason });
  }

  // ---------------------------------------------------------------- the ladder's interpreter

  get #closed(): boolean {
    return this.#ladder.rung === 'closed';
  }

  #surfaceFacts(): Surface {
    return { attached: this.#surface.attached, hlsElement: this.#surface.hlsElement !== null };
  }

  /**
   * One step of the ladder: the table gives the next state and the effects,
   * carried out here in order. `about` names the objects the effects act on
   * (the session an event came from, the node HLS should play from).
   */
  #dispatch(event: LadderEvent, about: EffectSubject = {}): void {
    const { next, effects } = transition(this.#ladder, event, this.#policy);
    // Set first: an effect may start something that reports back synchronously.
    this.#ladder = next;
    for (const effect of effects) this.#apply(effect, about);
  }

  #apply(effect: Effect, about: EffectSubject): void {
    switch (effect.do) {
      case 'report':
        this.#set(effect.state, effect.path, effect.reason, effect.error);
        break;
      case 'place':
        void this.#placeNext(about.session && effect.leaving ? about.session : undefined);
        break;
      case 'open-session': {
        const session = this.#newSession(about.placement?.nodeUrl ?? this.options.nodeUrl);
        this.#session = session;
        break;
      }
      case 'start-session':
        void this.#startSession(this.#session);
        break;
      case 'drop-session':
        this.#session = null;
        if (effect.sync) this.#syncVideo();
        break;
      case 'close-session':
        about.session?.close(effect.reason);
        break;
      case 'watch-stall':
        if (this.#session) this.#watchStall(this.#session);
        break;
      case 'stop-stall':
        clearInterval(this.#stallTimer);
        break;
      case 'avoid':
        if (about.session) this.#placer.avoid(this.#ref(about.session));
        break;
      case 'schedule-retry':
        this.#retryTimer = setTimeout(() => this.#dispatch({ type: 'retry-due' }), effect.delayMs);
        break;
      case 'cancel-retry':
        clearTimeout(this.#retryTimer);
        break;
      case 'place-move':
        if (about.session && about.reason !== undefined) void this.#moveOff(about.session, about.reason);
        break;
      case 'open-move':
        if (about.session && about.placement) void this.#runMove(about.session, about.placement);
        break;
      case 'promote': {
        const old = this.#session;
        this.#session = this.#standby;
        this.#standby = null;
        this.#syncVideo();
        if (effect.closeOld) old?.close(effect.why);
        break;
      }
      case 'place-upgrade':
        void this.#placeUpgrade(effect.forceTcp);
        break;
      case 'open-upgrade':
        if (about.placement) void this.#runUpgrade(about.placement, effect.forceTcp);
        break;
      case 'finish-upgrade': {
        const hls = this.#hls;
        this.#hls = null;
        this.#session = this.#standby;
        this.#standby = null;
        this.#syncVideo();
        this.#show('webrtc');
        hls?.close('upgraded');
        break;
      }
      case 'close-standby':
        this.#standby?.close(effect.reason);
        this.#standby = null;
        break;
      case 'open-hls':
        this.#openHls(about.nodeUrl ?? about.session?.options.nodeUrl ?? this.options.nodeUrl);
        break;
      case 'start-hls': {
        const video = this.#surface.hlsElement;
        if (this.#hls && video) void this.#hls.start(video);
        break;
      }
      case 'drop-hls':
        this.#hls = null;
        break;
      case 'seek-live':
        void this.#hls?.seekBehindLive(0);
        break;
      case 'schedule-upgrade':
        clearTimeout(this.#upgradeTimer);
        this.#upgradeTimer = setTimeout(() => this.#dispatch({ type: 'upgrade-due' }), effect.delayMs);
        break;
      case 'cancel-upgrade':
        clearTimeout(this.#upgradeTimer);
        break;
      case 'warn':
        this.emit('warning', new Error(effect.message));
        break;
      case 'close-all':
        clearTimeout(this.#retryTimer);
        clearTimeout(this.#upgradeTimer);
        clearInterval(this.#stallTimer);
        this.#standby?.close(effect.reason);
        this.#standby = null;
        this.#hls?.close(effect.reason);
        this.#hls = null;
        this.#session?.close(effect.reason);
        this.detach();
        break;
    }
  }

  // ---------------------------------------------------------------- the procedures behind the effects

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
    session.on('drain', (reason) => {
      // Only the playing session's node matters; a standby's drain is its own problem.
      if (session === this.#session && !this.#closed) this.#dispatch({ type: 'drain', reason }, { session, reason });
    });
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

  /** First join, retry, failover: a placement, then a session there ('placed'). */
  async #placeNext(leaving?: WebRtcSession): Promise<void> {
    const placement = await this.#place(leaving);
    this.#dispatch({ type: 'placed' }, { placement });
  }

  async #startSession(session: WebRtcSession | null): Promise<void> {
    if (!session) return;
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
    this.#placer.avoid(this.#ref(from));
    this.#placer.settle(from.region);
    const placement = await this.#place(from);
    if (from !== this.#session || this.#closed) return;
    const sameNode =
      placement.nodeUrl === from.options.nodeUrl || (placement.nodeId !== null && placement.nodeId === from.nodeId);
    this.#dispatch({ type: 'move-placed', sameNode, reason }, { session: from, placement });
  }

  async #runMove(from: WebRtcSession, placement: Placement): Promise<void> {
    const next = this.#newSession(placement.nodeUrl, from.options.forceTcp ?? false);
    this.#standby = next;
    try {
      await next.start();
      await this.#firstFrame(next);
    } catch {
      const message = `drain move to ${placement.nodeUrl} failed: ${next.reason}`;
      this.#dispatch({ type: 'move-failed', message, current: this.#standby === next });
      return;
    }
    if (this.#standby !== next || this.#closed) return;
    this.#dispatch({ type: 'move-ready', connected: next.state === 'connected', sessionReason: next.reason });
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

  #onSessionState(session: WebRtcSession, change: SessionStateChange): void {
    if (this.#closed) return;
    // A standby only matters once promoted; its failure is handled where it was started.
    if (session === this.#standby || session !== this.#session) return;
    switch (change.state) {
      case 'connecting':
        this.#dispatch({ type: 'session-connecting', reason: change.reason }, { session });
        break;
      case 'connected':
        this.#dispatch({ type: 'session-connected', reason: change.reason }, { session });
        break;
      case 'closed':
        this.#dispatch({ type: 'session-closed', reason: change.reason }, { session });
        break;
      case 'failed': {
        const standby = this.#standby;
        const failure: SessionFailure = change.failure ?? failureOf(change.error ?? new Error(change.reason));
        this.#dispatch(
          {
            type: 'session-failed',
            failure,
            reason: change.reason,
            ...(change.error ? { error: change.error } : {}),
            standby:
              standby && !standby.closed && !this.#hls
                ? { connected: standby.state === 'connected', reason: standby.reason }
                : null,
            surface: this.#surfaceFacts(),
          },
          { session },
        );
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
      this.#dispatch({ type: 'stalled', surface: this.#surfaceFacts() }, { session });
    }, 250);
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

  /** Creates the HLS session from `nodeUrl` (a fallback or a rewind) and shows its element. */
  #openHls(nodeUrl: string): void {
    const video = this.#surface.hlsElement;
    if (!video || this.#hls) return;
    if (!this.#surface.twoElements && video.srcObject) video.srcObject = null;
    const hls = new HlsSession({
      nodeUrl,
      stream: this.options.stream,
      token: this.options.token,
      scoreFeed: this.scores,
      ...(this.options.hlsFactory ? { hlsFactory: this.options.hlsFactory } : {}),
    });
    this.#hls = hls;
    hls.on('score', (score) => this.emit('score', score));
    hls.on('warning', (error) => this.emit('warning', error));
    hls.on('state', (change) => {
      if (hls !== this.#hls || this.#closed) return;
      if (change.state === 'connected') this.#dispatch({ type: 'hls-connected' });
      else if (change.state === 'connecting') this.#dispatch({ type: 'hls-connecting', reason: change.reason });
      else this.#dispatch({ type: 'hls-failed', reason: change.reason });
    });
    this.#show('hls');
  }

  /** While on HLS: where to try WebRTC again ('upgrade-placed'). */
  async #placeUpgrade(forceTcp: boolean): Promise<void> {
    const placement = await this.#place();
    if (this.#closed || !this.#hls) return;
    this.#dispatch({ type: 'upgrade-placed', forceTcp }, { placement });
  }

  /** A WebRTC session in the background; the ladder switches to it once it renders. */
  async #runUpgrade(placement: Placement, forceTcp: boolean): Promise<void> {
    const next = this.#newSession(placement.nodeUrl, forceTcp);
    this.#standby = next;
    let painted: boolean;
    try {
      await next.start();
      await this.#firstFrame(next, true);
      if (this.#standby !== next || this.#closed || !this.#hls || this.#ladder.behindLive > 0) {
        throw new Error('superseded');
      }
      painted = await this.#surface.rendered(next.mediaStream);
    } catch {
      next.close('upgrade failed');
      this.#dispatch({ type: 'upgrade-failed', current: this.#standby === next });
      return;
    }
    if (this.#standby !== next || !this.#hls) {
      // Superseded while the picture was being checked: an unpainted try still counts as failed.
      if (!painted && this.#ladder.upgradeAttempt < 3) {
        next.close('upgrade failed');
        this.#dispatch({ type: 'upgrade-failed', current: false });
      }
      return;
    }
    this.#dispatch({ type: 'upgrade-rendered', forceTcp, painted });
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
    const shown = this.#shown;
    if (shown.state === state && shown.path === path && shown.reason === reason) return;
    this.#shown = { state, path, reason };
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

/** The objects a ladder event is about (the table itself only sees data). */
type EffectSubject = {
  /** The session the event came from (failed, stalled, draining, being left). */
  session?: WebRtcSession | null;
  /** Where HLS should play from (a rewind: the relay of the picture now). */
  nodeUrl?: string;
  /** A placement that arrived. */
  placement?: Placement;
  /** A drain's reason. */
  reason?: string;
};

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
