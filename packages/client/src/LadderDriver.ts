import type { RtpCapabilities } from '@matchmesh/protocol';
import { HlsReloads, newHlsSession, newWebRtcSession, type PlayerEmit, type SessionHost } from './driverSessions.ts';
import type { HlsSession } from './HlsSession.ts';
import { type HlsMoveHost, moveHlsOff, runHlsMove } from './hlsMoveTasks.ts';
import { hlsUrl } from './hlsUrls.ts';
import {
  type Effect,
  initialLadder,
  type LadderEvent,
  type LadderPolicy,
  type LadderState,
  type Surface,
  transition,
} from './ladder.ts';
import {
  type EffectSubject,
  moveOff,
  nodeRef,
  placeNext,
  placeUpgrade,
  runMove,
  runUpgrade,
  startSession,
  type TaskHost,
} from './ladderTasks.ts';
import type { Placement } from './Placement.ts';
import type { NodeRef, Placer } from './Placer.ts';
import type { PlayerOptions, PlayerPath } from './PlayerTypes.ts';
import { HlsWarmer, StallWatch } from './probes.ts';
import type { ScoreFeed } from './ScoreFeed.ts';
import type { VideoSurface } from './VideoSurface.ts';
import type { SessionState, WebRtcSession } from './WebRtcSession.ts';

export type { PlayerEmit } from './driverSessions.ts';

/** What the Player gives its driver. */
export type DriverParts = {
  options: Readonly<PlayerOptions>;
  policy: LadderPolicy;
  scores: ScoreFeed;
  placer: Placer;
  surface: VideoSurface;
  emit: PlayerEmit;
};

/**
 * The ladder's interpreter. ladder.ts decides (state × event → next state +
 * effects, purely); this holds the objects the effects act on — the current
 * and standby WebRTC sessions, the HLS session, the retry and upgrade
 * timers, the stall watch — and carries out each effect in order. What the
 * sessions report comes back here and becomes ladder events; events about a
 * session the player no longer holds are dropped here, before the table.
 * The longer work behind some effects is in ladderTasks.ts; the sessions
 * are made and wired in driverSessions.ts.
 */
export class LadderDriver implements TaskHost, HlsMoveHost, SessionHost {
  readonly options: Readonly<PlayerOptions>;
  readonly placer: Placer;
  readonly surface: VideoSurface;
  readonly #policy: LadderPolicy;
  readonly scores: ScoreFeed;
  readonly emit: PlayerEmit;
  /** Where the player is on the ladder; changed only by dispatch. */
  #ladder: LadderState = initialLadder();
  /** What the last 'state' event said. */
  #shown: { state: SessionState; path: PlayerPath; reason: string } = {
    state: 'connecting',
    path: 'none',
    reason: 'idle',
  };
  #session: WebRtcSession | null = null;
  standby: WebRtcSession | null = null;
  #hls: HlsSession | null = null;
  /** An HLS drain move's session, playing hidden until it is swapped in. */
  hlsStandby: HlsSession | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #upgradeTimer: ReturnType<typeof setTimeout> | undefined;
  readonly hlsReloads = new HlsReloads();
  readonly #stall = new StallWatch();
  readonly warmer: HlsWarmer;
  /** The nodes' router capabilities as last heard (bootstrap, edges, a join): a new session loads its Device early. */
  #caps: RtpCapabilities | undefined;

  constructor(parts: DriverParts) {
    this.options = parts.options;
    this.placer = parts.placer;
    this.surface = parts.surface;
    this.#policy = parts.policy;
    this.scores = parts.scores;
    this.emit = parts.emit;
    this.#caps = parts.options.routerRtpCapabilities;
    const { stream, hlsFallback } = parts.options;
    this.warmer = new HlsWarmer(
      // The token of the moment: the page may have renewed it since.
      (nodeUrl) => hlsUrl(nodeUrl, stream, this.options.token),
      () => hlsFallback !== false && !this.closed,
    );
  }

  get ladder(): LadderState {
    return this.#ladder;
  }

  get caps(): RtpCapabilities | undefined {
    return this.#caps;
  }

  /** What the last 'state' event said. */
  get shown(): { state: SessionState; path: PlayerPath; reason: string } {
    return this.#shown;
  }

  /** The current WebRTC session, if any. */
  get session(): WebRtcSession | null {
    return this.#session;
  }

  /** The HLS session while on the HLS rung. */
  get hls(): HlsSession | null {
    return this.#hls;
  }

  get closed(): boolean {
    return this.#ladder.rung === 'closed';
  }

  surfaceFacts(): Surface {
    return { attached: this.surface.attached, hlsElement: this.surface.hlsElement !== null };
  }

  /**
   * One step of the ladder: the table gives the next state and the effects,
   * carried out here in order. `about` names the objects the effects act on
   * (the session an event came from, the node HLS should play from).
   */
  dispatch(event: LadderEvent, about: EffectSubject = {}): void {
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
        void placeNext(this, about.session && effect.leaving ? about.session : undefined);
        break;
      case 'open-session':
        this.#session = this.newSession(about.placement?.nodeUrl ?? this.options.nodeUrl);
        break;
      case 'start-session':
        void startSession(this, this.#session);
        break;
      case 'drop-session':
        this.#session = null;
        if (effect.sync) this.syncVideo();
        break;
      case 'close-session':
        about.session?.close(effect.reason);
        break;
      case 'watch-stall':
        if (this.#session) this.#watchStall(this.#session);
        break;
      case 'stop-stall':
        this.#stall.stop();
        break;
      case 'avoid':
        if (about.session) this.placer.avoid(nodeRef(about.session));
        break;
      case 'schedule-retry':
        this.#retryTimer = setTimeout(() => this.dispatch({ type: 'retry-due' }), effect.delayMs);
        break;
      case 'cancel-retry':
        clearTimeout(this.#retryTimer);
        break;
      case 'place-move':
        if (about.session && about.reason !== undefined) void moveOff(this, about.session, about.reason, about.target);
        break;
      case 'open-move':
        if (about.session && about.placement) void runMove(this, about.session, about.placement);
        break;
      case 'promote': {
        const old = this.#session;
        this.#session = this.standby;
        this.standby = null;
        this.syncVideo();
        if (effect.closeOld) old?.close(effect.why);
        break;
      }
      case 'place-upgrade':
        void placeUpgrade(this, effect.forceTcp);
        break;
      case 'open-upgrade':
        if (about.placement) void runUpgrade(this, about.placement, effect.forceTcp);
        break;
      case 'finish-upgrade': {
        const hls = this.#hls;
        this.#hls = null;
        this.#session = this.standby;
        this.standby = null;
        this.syncVideo();
        this.show('webrtc');
        hls?.close('upgraded');
        break;
      }
      case 'close-standby':
        this.standby?.close(effect.reason);
        this.standby = null;
        this.hlsStandby?.close(effect.reason);
        this.hlsStandby = null;
        break;
      case 'open-hls':
        this.#openHls(about.nodeUrl ?? about.session?.options.nodeUrl ?? this.options.nodeUrl);
        break;
      case 'start-hls': {
        const video = this.surface.hlsElement;
        if (this.#hls && video) void this.#hls.start(video);
        break;
      }
      case 'drop-hls':
        this.#hls = null;
        break;
      case 'place-hls-move':
        if (this.#hls && about.nodeUrl) void moveHlsOff(this, this.#hls, about.nodeUrl);
        break;
      case 'open-hls-move': {
        // A drain move goes where placement said; a languages reload stays on the relay (about.nodeUrl).
        const nodeUrl = about.placement?.nodeUrl ?? about.nodeUrl;
        if (about.hls && about.hls === this.#hls && nodeUrl) void runHlsMove(this, about.hls, nodeUrl);
        break;
      }
      case 'swap-hls':
        this.#swapHls(effect.why);
        break;
      case 'seek-live':
        void this.#hls?.seekBehindLive(0);
        break;
      case 'schedule-upgrade':
        clearTimeout(this.#upgradeTimer);
        this.#upgradeTimer = setTimeout(() => this.dispatch({ type: 'upgrade-due' }), effect.delayMs);
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
        this.#stall.stop();
        this.standby?.close(effect.reason);
        this.standby = null;
        this.hlsStandby?.close(effect.reason);
        this.hlsStandby = null;
        this.#hls?.close(effect.reason);
        this.#hls = null;
        this.#session?.close(effect.reason);
        this.detach();
        break;
    }
  }

  /** Router capabilities heard of (an edges list): the next session's join can set up receiving in one round trip. */
  learnCapabilities(caps: RtpCapabilities | undefined): void {
    if (caps) this.#caps = caps;
  }

  /**
   * The probes that raced the first join found a clearly closer region: move
   * there as a drain move does (the new session takes over once it decoded a
   * frame). Not while another move, an upgrade or HLS is under way.
   */
  moveCloser(placement: Placement): void {
    const from = this.#session;
    if (this.closed || !from || this.standby || this.#hls || from.region === placement.region) return;
    this.emit('placement', placement);
    const reason = `closer region ${placement.region}`;
    this.dispatch({ type: 'move-placed', sameNode: false, reason }, { session: from, placement });
  }

  async place(leaving?: NodeRef): Promise<Placement> {
    const placement = await this.placer.next(leaving);
    this.emit('placement', placement);
    return placement;
  }

  /** A WebRTC session on `nodeUrl`, wired to the player (not started). */
  newSession(nodeUrl: string, forceTcp = this.options.forceTcp ?? false): WebRtcSession {
    return newWebRtcSession(this, nodeUrl, forceTcp);
  }

  /** "No decoded video frame for 2 s while connected" → the session counts as failed. */
  #watchStall(session: WebRtcSession): void {
    this.#stall.watch(session, this.options.stallTimeoutMs ?? 2000, {
      current: () => session === this.#session,
      slow: () => this.warmer.warm(session.options.nodeUrl),
      stalled: () => this.dispatch({ type: 'stalled', surface: this.surfaceFacts() }, { session }),
    });
  }

  /** Creates the HLS session from `nodeUrl` (a fallback or a rewind) and shows its element. */
  #openHls(nodeUrl: string): void {
    const video = this.surface.hlsElement;
    if (!video || this.#hls) return;
    if (!this.surface.twoElements && video.srcObject) video.srcObject = null;
    this.#hls = this.newHls(nodeUrl);
    this.show('hls');
  }

  /** An HLS session on `nodeUrl`, wired to the player (not started). */
  newHls(nodeUrl: string): HlsSession {
    return newHlsSession(this, nodeUrl);
  }

  /** Both HLS sessions take a renewed credential (the move's one too). */
  setHlsToken(token: string): void {
    this.#hls?.setToken(token);
    this.hlsStandby?.setToken(token);
  }

  /**
   * The HLS move's session becomes the current one: its element (the spare)
   * is shown and the overlay follows it, then the old session closes. A move
   * without a spare element starts the new session in the old one's element.
   */
  #swapHls(why: string): void {
    const next = this.hlsStandby;
    const old = this.#hls;
    if (!next) return;
    this.hlsStandby = null;
    this.#hls = next;
    if (next.started) this.surface.swapHls();
    this.show('hls');
    old?.close(why);
    const video = this.surface.hlsElement;
    if (!next.started && video) void next.start(video);
  }

  /** Shows the element of `path` (hiding the other when there are two); the overlay follows its frames. */
  show(path: PlayerPath): void {
    this.surface.show(path === 'hls' ? 'hls' : 'webrtc', () => this.#hls !== null);
  }

  /** Gives the WebRTC element the current session's stream and says so ('media'). */
  syncVideo(): void {
    // With one element for both paths, HLS owns it while it plays.
    if (this.#hls && !this.surface.twoElements) return;
    const stream = this.#session?.mediaStream ?? null;
    this.surface.showStream(stream);
    this.emit('media', stream);
  }

  /** Lets go of the page's video elements. */
  detach(): void {
    this.surface.detach(this.#session?.mediaStream ?? null);
  }

  #set(state: SessionState, path: PlayerPath, reason: string, error?: Error): void {
    const shown = this.#shown;
    if (shown.state === state && shown.path === path && shown.reason === reason) return;
    this.#shown = { state, path, reason };
    this.emit('state', error ? { state, path, reason, error } : { state, path, reason });
  }
}
