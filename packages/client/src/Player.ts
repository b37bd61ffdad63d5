import { TypedEmitter } from './emitter.ts';
import type { HlsSession } from './HlsSession.ts';
import { LadderDriver } from './LadderDriver.ts';
import type { Placement } from './Placement.ts';
import { Placer } from './Placer.ts';
import type { PlayerEvents, PlayerOptions, PlayerPath, PlayerStats } from './PlayerTypes.ts';
import { untilPlaying } from './probes.ts';
import { maxLayerFor, type Quality } from './quality.ts';
import { ScoreFeed } from './ScoreFeed.ts';
import { rtpMediaTime, ScreenScore } from './ScreenScore.ts';
import { VideoSurface } from './VideoSurface.ts';
import type { SessionState, VideoLayers, WebRtcSession } from './WebRtcSession.ts';
import { warmUpDevice } from './warmDevice.ts';

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
 * Orchestrates playback for one viewer along the delivery ladder
 * WebRTC/UDP → WebRTC/TCP (ICE-TCP on the relay's WebRtcServer) → HLS:
 *
 * - placement picks the relay (Placer);
 * - drain: a second session is opened on another relay of the region, and
 *   only once it has decoded a frame does the video switch to it and the
 *   old session close (make before break); on HLS likewise, with a second
 *   hls.js in the spare element swapped in once it presents frames;
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
 *
 * This class is the public face: options, events, getters and the page's
 * calls. Where the player is on the ladder is decided by ladder.ts (a pure
 * table) and carried out by LadderDriver, with ladderTasks.ts (placements,
 * drain moves, upgrades) and probes.ts (first frame, stalls, HLS warming).
 */
export class Player extends TypedEmitter<PlayerEvents> {
  readonly options: Readonly<PlayerOptions>;
  /** The same object as `options`, writable: setToken changes the token every later request reads. */
  readonly #own: PlayerOptions;
  readonly scores: ScoreFeed;
  /** The score of the frame on screen (see ScreenScore): the overlay follows `scoreShown`. */
  readonly screen: ScreenScore;
  readonly #placer: Placer;
  /** The page's video elements (HLS gets its own when given, so each path's picture stays up until the other has rendered). */
  readonly #surface: VideoSurface;
  /** The ladder's interpreter: the sessions, timers and state behind this player. */
  readonly #driver: LadderDriver;
  #quality: Quality = 'auto';
  /** The viewer's commentary choice (null: venue sound only; undefined: the stream's default). */
  #language: string | null | undefined;

  constructor(options: PlayerOptions) {
    super();
    // The browser's native capabilities are asked now, not when the first session loads its Device.
    warmUpDevice();
    // Every session asks for the layer the viewer's choice allows when its video consumer is made.
    this.options = this.#own = {
      ...options,
      // The bootstrap's router capabilities: the first session's Device loads while its socket opens.
      ...(options.bootstrap?.rtpCapabilities && !options.routerRtpCapabilities
        ? { routerRtpCapabilities: options.bootstrap.rtpCapabilities }
        : {}),
      // One id for the whole viewing session, across relays and paths: every node it joins logs under it.
      sessionId: options.sessionId ?? newSessionId(),
      maxLayer: (available) => maxLayerFor(this.#quality, available, this.#surface.shownHeight),
      // Every session (a move, a failover, back from HLS) joins with the viewer's language.
      language: () => this.#language,
    };
    const retry = options.retry ?? {};
    const upgrade = options.upgradeRetry ?? {};
    const policy = {
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
      bootstrap: options.bootstrap ?? null,
      onCloser: (placement) => this.#driver.moveCloser(placement),
      // A late joiner shows the current score while it is still joining.
      // Only before the first score: a rejoin resumes from its last seq instead.
      onEdges: (edges) => {
        this.#driver?.learnCapabilities(edges.rtpCapabilities);
        if (!edges.score || this.scores.lastSeq > 0) return;
        const result = this.scores.push(edges.score, { snapshot: true });
        if (result.accepted) this.emit('score', result.score);
      },
    });
    this.#driver = new LadderDriver({
      options: this.options,
      policy,
      scores: this.scores,
      placer: this.#placer,
      surface: this.#surface,
      emit: (event, ...args) => this.emit(event, ...args),
    });
  }

  get state(): SessionState {
    return this.#driver.shown.state;
  }

  get path(): PlayerPath {
    return this.#driver.shown.path;
  }

  get reason(): string {
    return this.#driver.shown.reason;
  }

  /** The id the nodes' log lines of this viewer carry (sent at every join; a problem report names it). */
  get sessionId(): string {
    return this.options.sessionId!;
  }

  /** The viewer's quality choice ('auto' unless setQuality changed it). */
  get quality(): Quality {
    return this.#quality;
  }

  /** The program's layers on the WebRTC path (null: one layer, or not on WebRTC). */
  get videoLayers(): VideoLayers | null {
    return this.#driver.session?.videoLayers ?? null;
  }

  /**
   * The quality menu: 'auto' (the bandwidth estimate picks, never above what
   * the video element shows) or a layer. Call again with the same 'auto'
   * when the element is resized.
   */
  setQuality(quality: Quality): void {
    this.#quality = quality;
    const session = this.#driver.session;
    const available = session?.videoLayers;
    if (!session || !available) return;
    session.setMaxLayer(maxLayerFor(quality, available, this.#surface.shownHeight)).catch((error: unknown) => {
      this.emit('warning', error instanceof Error ? error : new Error(String(error)));
    });
  }

  /** The commentary language heard (null: venue sound only): as the node said on WebRTC, the audio rendition on HLS. */
  get language(): string | null {
    if (this.path === 'hls') return this.#driver.hls?.language ?? null;
    return this.#driver.session?.language ?? null;
  }

  /**
   * The commentary languages on offer: the WebRTC session's commentary tracks, or on HLS the audio group
   * hls.js plays from (it follows languages that come on or leave the air by reloading HLS).
   */
  get languages(): string[] {
    if (this.path === 'hls') return this.#driver.hls?.languages ?? [];
    const langs = (this.#driver.session?.consumers ?? []).flatMap((c) =>
      c.source === 'commentary' && c.lang ? [c.lang] : [],
    );
    return [...new Set(langs)];
  }

  /**
   * The viewer's language menu: one language (BCP 47) or null for the venue sound only; kept for every
   * session (WebRTC: the node sends that track; HLS: hls.js plays that audio rendition).
   */
  async setLanguage(lang: string | null): Promise<void> {
    this.#language = lang;
    this.#driver.hls?.setLanguage(lang);
    await this.#driver.session?.setLanguage(lang);
  }

  /** The active WebRTC session, if any (diagnostics and tests). */
  get session(): WebRtcSession | null {
    return this.#driver.session;
  }

  /** The HLS session while on the HLS rung. */
  get hls(): HlsSession | null {
    return this.#driver.hls;
  }

  /** The element HLS plays in now (the page's HLS element or its spare: they trade places at each HLS move). */
  get hlsElement(): HTMLVideoElement | null {
    return this.#surface.hlsElement;
  }

  /** The latest placement decision (node, region, RTTs per region). */
  get placement(): Placement | null {
    return this.#placer.current;
  }

  /** Drain moves and failovers so far. */
  get moves(): { moves: number; failovers: number } {
    const ladder = this.#driver.ladder;
    return { moves: ladder.moves, failovers: ladder.failovers };
  }

  /** How far behind live the picture is because the viewer rewound (0: live). */
  get behindLive(): number {
    return this.#driver.ladder.behindLive;
  }

  /**
   * Rewind: `seconds` further back than the picture now, inside the relay's
   * HLS window (the picture switches to HLS; the WebRTC session is closed,
   * nobody needs the live feed while watching a replay). Resolves once the
   * element has seeked; returns how far behind live it plays.
   */
  async rewind(seconds: number): Promise<number> {
    const driver = this.#driver;
    if (driver.closed) throw new Error('player closed');
    if (!this.#surface.twoElements) throw new Error('rewind needs a separate HLS video element');
    const target = driver.ladder.behindLive + Math.max(0, seconds);
    const session = driver.session;
    const nodeUrl = session?.options.nodeUrl ?? this.#placer.current?.nodeUrl ?? this.options.nodeUrl;
    driver.dispatch({ type: 'rewind', target, surface: driver.surfaceFacts() }, { session, nodeUrl });
    const hls = driver.hls;
    if (!hls) throw new Error(`rewind: no HLS (${this.reason})`);
    if (!(await untilPlaying(hls))) throw new Error(`rewind: HLS did not play (${hls.reason})`);
    const behind = (await hls.seekBehindLive(target)) ?? target;
    if (driver.hls !== hls) return behind;
    driver.dispatch({ type: 'rewound', target, behind });
    return behind;
  }

  /** Back to live: HLS jumps to its live edge at once, and WebRTC takes over as soon as it renders. */
  goLive(): void {
    if (!this.#driver.hls) return;
    this.#driver.dispatch({ type: 'go-live' });
  }

  get mediaStream(): MediaStream | null {
    return this.#driver.session?.mediaStream ?? null;
  }

  /** Starts playback; progress is reported through 'state' events. */
  start(): void {
    this.#driver.dispatch({ type: 'start' });
  }

  /**
   * Shows the current (and every future) WebRTC stream in `video`; HLS plays
   * in `hlsVideo` when given (stacked on top of `video`: the player shows one
   * and hides the other), else in `video` itself. `hlsSpare`, a third element
   * stacked the same way, lets a drain move HLS to another relay without a
   * stall (the new relay plays hidden there, then the two HLS elements swap).
   */
  attach(video: HTMLVideoElement, hlsVideo?: HTMLVideoElement, hlsSpare?: HTMLVideoElement): void {
    this.#surface.attach(video, hlsVideo, hlsSpare);
    this.#driver.show(this.path);
    this.#driver.syncVideo();
  }

  detach(): void {
    this.#driver.detach();
  }

  /**
   * A renewed session credential (SessionKeeper 'renewed'): every later
   * request uses it — joins, edges, HLS URLs (the playing HLS session's
   * requests are rewritten in place, so playback goes on). A WebRTC session
   * already joined needs no token until its next join.
   */
  setToken(token: string): void {
    this.#own.token = token;
    this.#placer.setToken(token);
    this.#driver.setHlsToken(token);
  }

  async stats(): Promise<PlayerStats | null> {
    const session = this.#driver.session;
    const hls = this.#driver.hls;
    const placement = this.#placer.current;
    const base = {
      path: this.path,
      reason: this.reason,
      placement,
      ...this.moves,
    };
    if (!session) {
      if (!hls) return null;
      return {
        ...hls.stats(this.#surface.hlsElement),
        ...base,
        state: this.state,
        nodeUrl: hls.options.nodeUrl,
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
    this.#driver.dispatch({ type: 'close', reason });
  }

  /** mediaTime of a WebRTC frame from its RTP timestamp (undefined where the browser does not give it). */
  readonly #rtpFrameTime = (meta: VideoFrameCallbackMetadata): number | undefined => {
    if (meta.rtpTimestamp === undefined) return undefined;
    const latest = this.scores.latest;
    const mediaTime = rtpMediaTime(meta.rtpTimestamp, latest?.mediaTime ?? 0);
    if (latest && mediaTime < latest.mediaTime - LIVE_BEHIND_MAX_MS) return undefined;
    return mediaTime;
  };

  readonly #hlsFrameTime = (meta: VideoFrameCallbackMetadata): number | undefined =>
    this.#driver.hls?.mediaTimeOf(meta);
}

/** 16 random bytes, base64url: unguessable, and fits the protocol's SessionId. */
function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}
