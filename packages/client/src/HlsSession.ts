import { HLS_DRAINING_HEADER } from '@matchmesh/protocol';
import { TypedEmitter } from './emitter.ts';
import type { HlsSessionEvents, HlsSessionOptions } from './HlsSessionTypes.ts';
import { audioTrackFor, type HlsLike, loadHlsJs } from './hlsJs.ts';
import { watchLanguages } from './hlsLanguages.ts';
import { followScoreLog } from './hlsScoreLog.ts';
import { liveEdgeOf, seekBehind, seekElement } from './hlsSeeking.ts';
import { type HlsClockState, HlsStreamClock } from './hlsStreamClock.ts';
import { hlsUrl, withHlsToken } from './hlsUrls.ts';
import { SessionLifecycle, type SessionState } from './SessionLifecycle.ts';
import { baseStats, type SessionStats } from './sessionStats.ts';

// The session's vocabulary and helpers, in their own files since the split; re-exported for existing importers.
export type { HlsSessionEvents, HlsSessionOptions } from './HlsSessionTypes.ts';
export { audioTrackFor, type HlsAudioTrack, type HlsFactory, type HlsLike, type HlsSessionConfig } from './hlsJs.ts';
export { hlsUrl, withHlsToken } from './hlsUrls.ts';

/** See HlsSessionOptions.languagesPollMs. */
const LANGUAGES_POLL_MS = 4000;

/** How often a draining relay's header is passed on again (see 'draining'). */
export const DRAIN_NOTICE_MS = 2000;

/**
 * The HLS rung of the ladder: plays the relay's HLS rendition in a video
 * element with hls.js (or natively). Scores: the node's score log
 * (`scores.json`: updates + anchors tying the fMP4 decode time and
 * EXT-X-PROGRAM-DATE-TIME to the stream's mediaTime) is polled into the
 * shared ScoreFeed; `mediaTimeOf` places each presented frame on the
 * stream's timeline, so the Player's ScreenScore shows the score of that
 * frame — never ahead of the picture, and the right one after a rewind.
 * 'connected' means a frame played (currentTime advanced).
 * This file keeps the lifecycle and the hls.js wiring; the score log is
 * followed in hlsScoreLog.ts, frames placed in hlsStreamClock.ts, seeking in
 * hlsSeeking.ts, the hls.js surface in hlsJs.ts, URLs in hlsUrls.ts.
 */
export class HlsSession extends TypedEmitter<HlsSessionEvents> {
  readonly options: Readonly<HlsSessionOptions>;
  readonly #life = new SessionLifecycle(
    (change) => this.emit('state', change),
    () => this.#teardown(),
  );
  #hls: HlsLike | null = null;
  #video: HTMLVideoElement | null = null;
  readonly #cleanups: (() => void)[] = [];
  /** Places the element's frames on the stream's timeline (score log anchors + hls.js fragment data). */
  readonly #clock = new HlsStreamClock();

  /** The session credential requests carry now (setToken replaces it when the page renews). */
  #token: string;
  #started = false;
  /** When 'draining' was last emitted. */
  #drainNoticeAt = Number.NEGATIVE_INFINITY;

  constructor(options: HlsSessionOptions) {
    super();
    this.options = { ...options };
    this.#token = options.token;
  }

  /**
   * Use `token` from the next request on. hls.js keeps resolving segment and
   * playlist URLs against the playlists it fetched with the old one, so every
   * request it makes is rewritten in xhrSetup (opened here on the rewritten
   * URL; hls.js opens only an unopened request): playback goes on across a
   * renewal, and the old token may expire.
   */
  setToken(token: string): void {
    this.#token = token;
  }

  readonly #xhrSetup = (xhr: XMLHttpRequest, url: string): void => {
    xhr.open('GET', withHlsToken(url, this.#token), true);
    // Playlist reloads come every part (LL-HLS): the quickest way to hear that the relay drains.
    xhr.addEventListener('readystatechange', () => {
      if (xhr.readyState === 2 /* HEADERS_RECEIVED */) this.#noticeDrain(xhr.getResponseHeader(HLS_DRAINING_HEADER));
    });
  };

  /** A relay's drain header (null: not draining) → 'draining', throttled. */
  #noticeDrain(target: string | null): void {
    if (!target || this.closed) return;
    const now = Date.now();
    if (now - this.#drainNoticeAt < DRAIN_NOTICE_MS) return;
    this.#drainNoticeAt = now;
    this.emit('draining', target);
  }

  get state(): SessionState {
    return this.#life.state;
  }

  get reason(): string {
    return this.#life.reason;
  }

  get closed(): boolean {
    return this.#life.closed;
  }

  /** start() was called (a drain move's session is started in a spare element, or in the old one's). */
  get started(): boolean {
    return this.#started;
  }

  get url(): string {
    return hlsUrl(this.options.nodeUrl, this.options.stream, this.#token);
  }

  /** Starts playback in `video`; state 'connected' once a frame has played. */
  async start(video: HTMLVideoElement): Promise<void> {
    this.#video = video;
    this.#started = true;
    this.#life.set('connecting', 'loading');
    let hls: HlsLike | null;
    try {
      hls = await (this.options.hlsFactory ?? loadHlsJs)({ xhrSetup: this.#xhrSetup });
    } catch (error) {
      this.#life.fail({ kind: 'hls-unavailable' }, error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (this.closed) {
      hls?.destroy();
      return;
    }
    this.#followScores();
    const startedAt = video.currentTime;
    const onTime = () => {
      if (this.state === 'connecting' && video.currentTime > startedAt) this.#life.set('connected', 'playing');
    };
    video.addEventListener('timeupdate', onTime);
    this.#cleanups.push(() => video.removeEventListener('timeupdate', onTime));
    const timer = setTimeout(() => {
      if (this.state === 'connecting') this.#life.fail({ kind: 'hls-timeout' });
    }, this.options.startTimeoutMs ?? 10_000);
    this.#cleanups.push(() => clearTimeout(timer));
    if (hls) {
      this.#hls = hls;
      hls.on('hlsError', (_event, data) => {
        const { fatal, details } = data as { fatal?: boolean; details?: string };
        if (fatal) this.#life.fail({ kind: 'hls-error', details: details ?? 'fatal' });
        else this.emit('warning', new Error(`hls: ${details ?? 'error'}`));
        // A language that left the air: its playlist is gone, the venue sound plays on.
        if (!fatal && details === 'audioTrackLoadError') this.#selectAudio(null);
      });
      // The viewer's language, as soon as hls.js knows the audio group (the multivariant playlist's).
      hls.on('hlsAudioTracksUpdated', () => this.#selectAudio(this.options.language?.()));
      this.#clock.follow(hls);
      hls.attachMedia(video);
      hls.loadSource(this.url);
      this.#cleanups.push(
        watchLanguages({
          url: () => this.url,
          // Compared once playing: hls.js has read the playlist's audio group (none: no commentary).
          current: () => (this.state === 'connected' ? this.languages : null),
          changed: (languages) => this.emit('languages', languages),
          intervalMs: this.options.languagesPollMs ?? LANGUAGES_POLL_MS,
          fetch: this.options.fetch ?? globalThis.fetch.bind(globalThis),
        }),
      );
    } else {
      video.src = this.url;
    }
    video.play().catch(() => {
      // Autoplay refused: the page shows its play button; state stays 'connecting'.
    });
  }

  /**
   * Hear `lang`'s commentary (null: the venue sound only): switches hls.js to
   * that audio rendition. Answers whether the multivariant playlist has it
   * (a language that came on air after the session started is not there).
   */
  setLanguage(lang: string | null): boolean {
    return this.#selectAudio(lang);
  }

  /** The commentary languages of the audio group hls.js plays from (empty: no commentary). */
  get languages(): string[] {
    return (this.#hls?.audioTracks ?? []).flatMap((t) => (t.lang ? [t.lang] : []));
  }

  /** The language of the audio rendition playing (null: venue only or no audio group). */
  get language(): string | null {
    const hls = this.#hls;
    const track = hls?.audioTrack !== undefined ? hls.audioTracks?.[hls.audioTrack] : undefined;
    return track?.lang ?? null;
  }

  #selectAudio(lang: string | null | undefined): boolean {
    const hls = this.#hls;
    const index = audioTrackFor(hls?.audioTracks ?? [], lang);
    if (!hls || index === undefined) return false;
    if (hls.audioTrack !== index) hls.audioTrack = index;
    return true;
  }

  /** The live edge in element seconds: where a live player sits (hls.js live sync, else the end of what is seekable). */
  liveEdge(): number | null {
    return liveEdgeOf(this.#video, this.#hls);
  }

  /**
   * Seeks `seconds` behind the live edge (clamped to the start of the rewind
   * window); 0 returns to live. Resolves once the element has seeked, with
   * how far behind live it now plays, or null when nothing is loaded yet.
   */
  async seekBehindLive(seconds: number): Promise<number | null> {
    const video = this.#video;
    const edge = this.liveEdge();
    if (!video || edge === null) return null;
    return seekBehind(video, edge, seconds);
  }

  /** Seeks `seconds` from where the element plays (negative: back); resolves once it has seeked. */
  async seekBy(seconds: number): Promise<void> {
    const video = this.#video;
    if (video) await seekElement(video, Math.max(0, video.currentTime + seconds));
  }

  /** How the session places frames on the stream's timeline now (diagnostics). */
  get clockState(): HlsClockState {
    return this.#clock.state;
  }

  /** The stream's mediaTime (ms) at the element's playhead now (as mediaTimeOf places a frame), if known. */
  streamTimeNow(): number | undefined {
    const video = this.#video;
    return video ? this.#clock.streamTimeAt(video.currentTime, this.#hls) : undefined;
  }

  /** The figures a WebRTC session reports, as far as HLS has them (the player shows one stats panel). */
  stats(video: HTMLVideoElement | null): SessionStats {
    const feed = this.options.scoreFeed;
    return {
      ...baseStats(this.state, 'new', feed, 0),
      ...(video?.getVideoPlaybackQuality ? { framesDecoded: video.getVideoPlaybackQuality().totalVideoFrames } : {}),
      ...(video?.videoWidth ? { frameWidth: video.videoWidth, frameHeight: video.videoHeight } : {}),
    };
  }

  close(reason = 'closed'): void {
    this.#life.close(reason);
  }

  #teardown(): void {
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    this.#hls?.destroy();
    this.#hls = null;
    const video = this.#video;
    if (video && !this.options.hlsFactory && video.src.includes('/hls/')) {
      video.removeAttribute('src');
      video.load();
    }
  }

  /** The score log (hlsScoreLog.ts) into the shared ScoreFeed and the clock, until the session ends. */
  #followScores(): void {
    this.#cleanups.push(
      followScoreLog({
        nodeUrl: this.options.nodeUrl,
        stream: this.options.stream,
        token: () => this.#token,
        scoreFeed: this.options.scoreFeed,
        fetch: this.options.fetch ?? globalThis.fetch.bind(globalThis),
        retryMs: this.options.scoresPollMs ?? 1000,
        closed: () => this.closed,
        timeline: (anchors) => this.#clock.setTimeline(anchors),
        score: (score) => this.emit('score', score),
        drainHeader: (target) => this.#noticeDrain(target),
      }),
    );
  }

  /**
   * mediaTime (ms) of the frame `meta` describes. Exact: presentation time +
   * hls.js initPTS = the fMP4 decode time the packager wrote, mapped through
   * the anchor of the playing segment. Else (native HLS, no initPTS yet)
   * from the program date time at the playhead, within about a frame.
   */
  mediaTimeOf(meta: VideoFrameCallbackMetadata): number | undefined {
    return this.#clock.streamTimeAt(meta.mediaTime, this.#hls);
  }
}
