import {
  HlsScores,
  type HlsTimelineAnchor,
  hlsMediaTimeForPdt,
  hlsMultivariantPath,
  hlsScoresPath,
  type ScoreUpdate,
} from '@matchmesh/protocol';
import { TypedEmitter } from './emitter.ts';
import type { ReceivedScore, ScoreFeed } from './ScoreFeed.ts';
import type { SessionState, SessionStateChange } from './WebRtcSession.ts';

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
};
export type HlsFactory = () => Promise<HlsLike | null>;

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
  /** How often the score log (`scores.json`) is polled. */
  scoresPollMs?: number;
  fetch?: typeof fetch;
};

export type HlsSessionEvents = {
  state: [SessionStateChange];
  score: [ReceivedScore];
  warning: [Error];
};

/** GET {node}/hls/{stream}/index.m3u8?token=… (packages/protocol/src/hls.ts): players cannot set headers. */
export function hlsUrl(nodeUrl: string, stream: string, token: string): string {
  return `${nodeUrl.replace(/\/+$/, '')}${hlsMultivariantPath(stream, token)}`;
}

/** Frame number of a media time (30 fps), absorbing PDT's sub-millisecond rounding. */
const frameOf = (mediaTime: number) => Math.round((mediaTime * 30) / 1000);

async function loadHlsJs(): Promise<HlsLike | null> {
  const { default: Hls } = await import('hls.js');
  if (!Hls.isSupported()) return null;
  return new Hls({
    lowLatencyMode: true,
    backBufferLength: 30,
  }) as unknown as HlsLike;
}

/**
 * The HLS rung of the ladder: plays the relay's HLS rendition in a video
 * element with hls.js (or natively). Scores: the node's score log
 * (`scores.json`: updates + anchors mapping EXT-X-PROGRAM-DATE-TIME to the
 * stream's mediaTime) is polled, and an update is pushed into the shared
 * ScoreFeed only once the picture on screen has reached its mediaTime —
 * never ahead of the picture.
 * 'connected' means a frame played (currentTime advanced).
 */
export class HlsSession extends TypedEmitter<HlsSessionEvents> {
  readonly options: Readonly<HlsSessionOptions>;
  #state: SessionState = 'connecting';
  #reason = 'new';
  #hls: HlsLike | null = null;
  #video: HTMLVideoElement | null = null;
  readonly #cleanups: (() => void)[] = [];
  #timeline: HlsTimelineAnchor[] = [];
  /** Updates not shown yet, by seq. */
  #pending: ScoreUpdate[] = [];
  #since = 0;

  constructor(options: HlsSessionOptions) {
    super();
    this.options = { ...options };
  }

  get state(): SessionState {
    return this.#state;
  }

  get reason(): string {
    return this.#reason;
  }

  get closed(): boolean {
    return this.#state === 'closed' || this.#state === 'failed';
  }

  get url(): string {
    return hlsUrl(this.options.nodeUrl, this.options.stream, this.options.token);
  }

  /** Starts playback in `video`; state 'connected' once a frame has played. */
  async start(video: HTMLVideoElement): Promise<void> {
    this.#video = video;
    this.#set('connecting', 'loading');
    let hls: HlsLike | null;
    try {
      hls = await (this.options.hlsFactory ?? loadHlsJs)();
    } catch (error) {
      this.#fail('hls-unavailable', error as Error);
      return;
    }
    if (this.closed) {
      hls?.destroy();
      return;
    }
    this.#pollScores();
    const startedAt = video.currentTime;
    const onTime = () => {
      if (this.#state === 'connecting' && video.currentTime > startedAt) this.#set('connected', 'playing');
      this.#releaseScores();
    };
    video.addEventListener('timeupdate', onTime);
    this.#cleanups.push(() => video.removeEventListener('timeupdate', onTime));
    // Per presented frame where the browser can tell us: the score changes on its frame.
    if (typeof video.requestVideoFrameCallback === 'function') {
      let handle = 0;
      const onFrame = () => {
        this.#releaseScores();
        handle = video.requestVideoFrameCallback(onFrame);
      };
      handle = video.requestVideoFrameCallback(onFrame);
      this.#cleanups.push(() => video.cancelVideoFrameCallback(handle));
    }
    const timer = setTimeout(() => {
      if (this.#state === 'connecting') this.#fail('hls-timeout');
    }, this.options.startTimeoutMs ?? 10_000);
    this.#cleanups.push(() => clearTimeout(timer));
    if (hls) {
      this.#hls = hls;
      hls.on('hlsError', (_event, data) => {
        const { fatal, details } = data as { fatal?: boolean; details?: string };
        if (fatal) this.#fail(`hls-error: ${details ?? 'fatal'}`);
        else this.emit('warning', new Error(`hls: ${details ?? 'error'}`));
      });
      hls.attachMedia(video);
      hls.loadSource(this.url);
    } else {
      video.src = this.url;
    }
    video.play().catch(() => {
      // Autoplay refused: the page shows its play button; state stays 'connecting'.
    });
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.#teardown();
    this.#set('closed', reason);
  }

  #fail(reason: string, error?: Error): void {
    if (this.closed) return;
    this.#teardown();
    this.#set('failed', reason, error);
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

  #set(state: SessionState, reason: string, error?: Error): void {
    if (this.#state === state && this.#reason === reason) return;
    this.#state = state;
    this.#reason = reason;
    this.emit('state', error ? { state, reason, error } : { state, reason });
  }

  /** Polls the score log while the session lives. */
  #pollScores(): void {
    const doFetch = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    const base = this.options.nodeUrl.replace(/\/+$/, '');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      if (this.closed) return;
      try {
        const res = await doFetch(
          `${base}${hlsScoresPath(this.options.stream, this.options.token, this.#since || undefined)}`,
          { cache: 'no-store' },
        );
        if (res.ok) {
          const parsed = HlsScores.safeParse(await res.json());
          if (parsed.success) {
            this.#timeline = parsed.data.timeline;
            const known = new Set(this.#pending.map((u) => u.seq));
            for (const u of parsed.data.updates) if (!known.has(u.seq)) this.#pending.push(u);
            this.#pending.sort((x, y) => x.seq - y.seq);
            this.#since = Math.max(this.#since, parsed.data.latestSeq);
            this.#releaseScores();
          }
        }
      } catch {
        // Next poll.
      }
      if (!this.closed) timer = setTimeout(() => void poll(), this.options.scoresPollMs ?? 1000);
    };
    void poll();
    this.#cleanups.push(() => clearTimeout(timer));
  }

  /** Pushes the updates whose mediaTime the picture on screen has reached. */
  #releaseScores(): void {
    const pdt = this.#hls?.playingDate?.getTime();
    if (pdt === undefined || !Number.isFinite(pdt)) return;
    const now = hlsMediaTimeForPdt(this.#timeline, pdt);
    if (now === undefined) return;
    const due = this.#pending.filter((u) => frameOf(u.mediaTime) <= frameOf(now));
    if (due.length === 0) return;
    this.#pending = this.#pending.filter((u) => frameOf(u.mediaTime) > frameOf(now));
    // Only the latest due update matters on screen; older ones go into the log in order.
    for (const update of due) {
      const result = this.options.scoreFeed.push(update);
      if (result.accepted) this.emit('score', result.score);
    }
  }
}
