import { parseScoreMessage } from '@matchmesh/protocol';
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
};

export type HlsSessionEvents = {
  state: [SessionStateChange];
  score: [ReceivedScore];
  warning: [Error];
};

/** GET {node}/hls/{stream}/index.m3u8?token=… (LL-HLS, fMP4): the token rides in the query, players cannot set headers. */
export function hlsUrl(nodeUrl: string, stream: string, token: string): string {
  return `${nodeUrl.replace(/\/+$/, '')}/hls/${encodeURIComponent(stream)}/index.m3u8?token=${encodeURIComponent(token)}`;
}

async function loadHlsJs(): Promise<HlsLike | null> {
  const { default: Hls } = await import('hls.js');
  if (!Hls.isSupported()) return null;
  return new Hls({
    lowLatencyMode: true,
    // Score updates travel as timed metadata; as TextTrack cues they fire
    // when their media time plays, never ahead of the picture.
    enableDateRangeMetadataCues: true,
    enableID3MetadataCues: true,
    backBufferLength: 30,
  }) as unknown as HlsLike;
}

/**
 * The HLS rung of the ladder: plays the relay's HLS rendition in a video
 * element with hls.js (or natively), and feeds the score updates carried as
 * timed metadata into the shared ScoreFeed as their cues become active.
 * 'connected' means a frame played (currentTime advanced).
 */
export class HlsSession extends TypedEmitter<HlsSessionEvents> {
  readonly options: Readonly<HlsSessionOptions>;
  #state: SessionState = 'connecting';
  #reason = 'new';
  #hls: HlsLike | null = null;
  #video: HTMLVideoElement | null = null;
  readonly #cleanups: (() => void)[] = [];

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
    this.#watchCues(video);
    const startedAt = video.currentTime;
    const onTime = () => {
      if (this.#state === 'connecting' && video.currentTime > startedAt) this.#set('connected', 'playing');
    };
    video.addEventListener('timeupdate', onTime);
    this.#cleanups.push(() => video.removeEventListener('timeupdate', onTime));
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

  /** Metadata tracks (ID3 or EXT-X-DATERANGE cues): a ScoreUpdate JSON in a cue is pushed when the cue starts. */
  #watchCues(video: HTMLVideoElement): void {
    const tracks = video.textTracks;
    if (!tracks) return;
    const hook = (track: TextTrack) => {
      if (track.kind !== 'metadata') return;
      track.mode = 'hidden';
      const onCue = () => {
        for (const cue of Array.from(track.activeCues ?? [])) this.#onCue(cue);
      };
      track.addEventListener('cuechange', onCue);
      this.#cleanups.push(() => track.removeEventListener('cuechange', onCue));
    };
    for (const track of Array.from(tracks)) hook(track);
    const onAdd = (event: TrackEvent) => event.track && hook(event.track as TextTrack);
    tracks.addEventListener('addtrack', onAdd as EventListener);
    this.#cleanups.push(() => tracks.removeEventListener('addtrack', onAdd as EventListener));
  }

  #onCue(cue: TextTrackCue): void {
    const value = (
      cue as TextTrackCue & { value?: { data?: unknown; info?: string; key?: string }; text?: string }
    ).value;
    const raw = value?.data ?? (cue as { text?: string }).text;
    const text =
      typeof raw === 'string'
        ? raw
        : raw instanceof ArrayBuffer || ArrayBuffer.isView(raw)
          ? new TextDecoder().decode(raw as ArrayBuffer)
          : null;
    if (!text || !text.includes('"seq"')) return;
    const parsed = parseScoreMessage(text);
    if (!parsed.success) return;
    const result = this.options.scoreFeed.push(parsed.data);
    if (result.accepted) this.emit('score', result.score);
  }
}
