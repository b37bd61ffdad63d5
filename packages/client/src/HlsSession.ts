import {
  HLS_DRAINING_HEADER,
  HlsScores,
  type HlsTimelineAnchor,
  hlsMediaTimeForDecodeTime,
  hlsMediaTimeForPdt,
  hlsMultivariantPath,
  hlsScoresPath,
} from '@matchmesh/protocol';
import { TypedEmitter } from './emitter.ts';
import { HLS_JS_CONFIG } from './hlsConfig.ts';
import { watchLanguages } from './hlsLanguages.ts';
import type { ReceivedScore, ScoreFeed } from './ScoreFeed.ts';
import { SessionLifecycle, type SessionState, type SessionStateChange } from './SessionLifecycle.ts';
import { baseStats, type SessionStats } from './sessionStats.ts';

/**
 * The smallest surface of hls.js this class uses, so tests can pass a fake
 * and the browser bundle loads hls.js only when a viewer falls back.
 */
export type HlsLike = {
  loadSource(url: string): void;
  attachMedia(media: HTMLMediaElement): void;
  on(event: string, listener: (event: string, data: unknown) => void): void;
  destroy(): void;
  /** Program date time of the position being played (hls.js `playingDate`). */
  readonly playingDate?: Date | null;
  /** Where hls.js would play live now, in media-element seconds. */
  readonly liveSyncPosition?: number | null;
  /** The multivariant playlist's audio group (hls.js `audioTracks`): venue only and each commentary language. */
  readonly audioTracks?: readonly HlsAudioTrack[];
  /** Index in `audioTracks` of the rendition playing; set to switch (hls.js `audioTrack`). */
  audioTrack?: number;
};

/** What the session reads of an hls.js audio track (EXT-X-MEDIA TYPE=AUDIO). */
export type HlsAudioTrack = { lang?: string; name: string; default?: boolean };

/**
 * The audio track for a language choice: `lang`'s rendition (tags compared
 * case-insensitively), the venue-only one (no LANGUAGE) for null, and for
 * undefined (no choice) or a language not on air, none (hls.js keeps its default: the venue).
 */
export function audioTrackFor(tracks: readonly HlsAudioTrack[], lang: string | null | undefined): number | undefined {
  if (lang === undefined || tracks.length === 0) return undefined;
  const i =
    lang === null
      ? tracks.findIndex((t) => !t.lang)
      : tracks.findIndex((t) => t.lang?.toLowerCase() === lang.toLowerCase());
  return i >= 0 ? i : undefined;
}
/** hls.js settings a session adds to HLS_JS_CONFIG (its request rewriting). */
export type HlsSessionConfig = { xhrSetup: (xhr: XMLHttpRequest, url: string) => void };
export type HlsFactory = (config?: HlsSessionConfig) => Promise<HlsLike | null>;

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

/** See HlsSessionOptions.languagesPollMs. */
const LANGUAGES_POLL_MS = 4000;

/** How often a draining relay's header is passed on again (see 'draining'). */
export const DRAIN_NOTICE_MS = 2000;

/** GET {node}/hls/{stream}/index.m3u8?token=… (packages/protocol/src/hls.ts): players cannot set headers. */
export function hlsUrl(nodeUrl: string, stream: string, token: string): string {
  return `${nodeUrl.replace(/\/+$/, '')}${hlsMultivariantPath(stream, token)}`;
}

/** How long one blocking score-log request may be held by the node. */
const SCORES_WAIT_MS = 5000;

async function loadHlsJs(config?: HlsSessionConfig): Promise<HlsLike | null> {
  const { default: Hls } = await import('hls.js');
  if (!Hls.isSupported()) return null;
  // hls.js types `on` per event name (its Events enum and listener map); HlsLike keeps a
  // string-keyed `on` so tests can pass a small fake. The three events used are hls.js's own names.
  return new Hls({ ...HLS_JS_CONFIG, ...config }) as unknown as HlsLike;
}

/** The token of an HLS URL: the `/t/<token>/` folder or the multivariant's `?token=`. */
const TOKEN_FOLDER = /\/t\/[^/?#]+\//;
const TOKEN_QUERY = /([?&]token=)[^&#]*/;

/** `url` with its token replaced by `token` (the URLs hls.js resolved from playlists fetched with an older one). */
export function withHlsToken(url: string, token: string): string {
  return url
    .replace(TOKEN_FOLDER, `/t/${encodeURIComponent(token)}/`)
    .replace(TOKEN_QUERY, `$1${encodeURIComponent(token)}`);
}

/**
 * The HLS rung of the ladder: plays the relay's HLS rendition in a video
 * element with hls.js (or natively). Scores: the node's score log
 * (`scores.json`: updates + anchors tying the fMP4 decode time and
 * EXT-X-PROGRAM-DATE-TIME to the stream's mediaTime) is polled into the
 * shared ScoreFeed; `mediaTimeOf` places each presented frame on the
 * stream's timeline, so the Player's ScreenScore shows the score of that
 * frame — never ahead of the picture, and the right one after a rewind.
 * 'connected' means a frame played (currentTime advanced).
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
  #timeline: HlsTimelineAnchor[] = [];
  #since = 0;
  /** hls.js initPTS (seconds) per discontinuity counter: presentation time + initPTS = fMP4 decode time. */
  readonly #initPts = new Map<number, number>();
  /** The fragment at the playhead (hls.js FRAG_CHANGED). */
  #playing: { cc: number; sn: number } | undefined;

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
    this.#pollScores();
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
      hls.on('hlsInitPtsFound', (_event, data) => {
        const { frag, initPTS, timescale } = data as { frag?: { cc?: number }; initPTS?: number; timescale?: number };
        if (typeof initPTS === 'number' && typeof timescale === 'number' && timescale > 0) {
          this.#initPts.set(frag?.cc ?? 0, initPTS / timescale);
        }
      });
      hls.on('hlsFragChanged', (_event, data) => {
        const frag = (data as { frag?: { cc?: number; sn?: number | string } }).frag;
        if (frag && typeof frag.sn === 'number') this.#playing = { cc: frag.cc ?? 0, sn: frag.sn };
      });
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
    const video = this.#video;
    const sync = this.#hls?.liveSyncPosition;
    if (typeof sync === 'number' && Number.isFinite(sync)) return sync;
    if (video && video.seekable.length > 0) return video.seekable.end(video.seekable.length - 1);
    return null;
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
    const start = video.seekable.length > 0 ? video.seekable.start(0) : 0;
    const target = Math.max(start, edge - Math.max(0, seconds));
    await seekElement(video, target);
    return edge - target;
  }

  /** Seeks `seconds` from where the element plays (negative: back); resolves once it has seeked. */
  async seekBy(seconds: number): Promise<void> {
    const video = this.#video;
    if (video) await seekElement(video, Math.max(0, video.currentTime + seconds));
  }

  /** The stream's mediaTime (ms) at the element's playhead now (as mediaTimeOf places a frame), if known. */
  streamTimeNow(): number | undefined {
    const video = this.#video;
    return video ? this.#streamTimeAt(video.currentTime) : undefined;
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

  /**
   * Follows the score log while the session lives: the first request takes
   * the whole window (history for a rewind), then each request blocks on the
   * node until a newer update exists (`wait`), so an update reaches the
   * player about as fast as on WebRTC — well before the HLS picture shows
   * its frame.
   */
  #pollScores(): void {
    const doFetch = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    const base = this.options.nodeUrl.replace(/\/+$/, '');
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let first = true;
    const poll = async () => {
      if (this.closed) return;
      let ok = false;
      const sinceBefore = this.#since;
      const startedAt = Date.now();
      try {
        const path = first
          ? hlsScoresPath(this.options.stream, this.#token)
          : hlsScoresPath(this.options.stream, this.#token, this.#since, SCORES_WAIT_MS);
        const res = await doFetch(`${base}${path}`, { cache: 'no-store', signal: abort.signal });
        this.#noticeDrain(res.headers.get(HLS_DRAINING_HEADER));
        if (res.ok) {
          const parsed = HlsScores.safeParse(await res.json());
          if (parsed.success) {
            ok = true;
            first = false;
            this.#timeline = parsed.data.timeline;
            // Older updates of the window (before this viewer joined) serve a rewind; newer ones go live.
            this.options.scoreFeed.backfill(parsed.data.updates);
            for (const update of parsed.data.updates) {
              const result = this.options.scoreFeed.push(update);
              if (result.accepted) this.emit('score', result.score);
            }
            this.#since = Math.max(this.#since, parsed.data.latestSeq);
          }
        }
      } catch {
        // Next attempt after a pause.
      }
      if (this.closed) return;
      // A node that answers at once with nothing new (it does not block) is polled, not hammered.
      const idle = ok && !first && this.#since === sinceBefore && Date.now() - startedAt < 100;
      if (ok && !idle) void poll();
      else timer = setTimeout(() => void poll(), this.options.scoresPollMs ?? 1000);
    };
    void poll();
    this.#cleanups.push(() => {
      clearTimeout(timer);
      abort.abort();
    });
  }

  /**
   * mediaTime (ms) of the frame `meta` describes. Exact: presentation time +
   * hls.js initPTS = the fMP4 decode time the packager wrote, mapped through
   * the anchor of the playing segment. Else (native HLS, no initPTS yet)
   * from the program date time at the playhead, within about a frame.
   */
  mediaTimeOf(meta: VideoFrameCallbackMetadata): number | undefined {
    return this.#streamTimeAt(meta.mediaTime);
  }

  /** mediaTime (ms) of element time `seconds` in the fragment playing now (see mediaTimeOf). */
  #streamTimeAt(seconds: number): number | undefined {
    const playing = this.#playing;
    const initPts = playing ? this.#initPts.get(playing.cc) : undefined;
    if (playing && initPts !== undefined) {
      let anchor: HlsTimelineAnchor | undefined;
      for (const a of this.#timeline) if (a.msn <= playing.sn) anchor = a;
      if (anchor) return hlsMediaTimeForDecodeTime(anchor, seconds + initPts);
    }
    const pdt = this.#hls?.playingDate?.getTime();
    if (pdt === undefined || !Number.isFinite(pdt)) return undefined;
    return hlsMediaTimeForPdt(this.#timeline, pdt);
  }
}

/** Seeks `video` to `target` seconds; resolves once it has seeked (or after 5 s), and plays on. */
async function seekElement(video: HTMLVideoElement, target: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      video.removeEventListener('seeked', done);
      resolve();
    };
    const timer = setTimeout(done, 5000);
    video.addEventListener('seeked', done);
    video.currentTime = target;
  });
  void video.play().catch(() => {});
}
