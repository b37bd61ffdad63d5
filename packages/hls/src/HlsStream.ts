import { EventEmitter } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger, StreamRouter } from '@matchmesh/sfu';
import { spatialLayersOf } from '@matchmesh/sfu';
import { type AudioRendition, AudioRenditions } from './AudioRenditions.ts';
import type { TrackInfo } from './fmp4.ts';
import type { AudioRenditionInfo, VariantInfo } from './playlist.ts';
import { Rendition } from './Rendition.ts';
import { RenditionLifecycle } from './RenditionLifecycle.ts';
import { ScoreLog } from './ScoreLog.ts';
import { SegmentStore } from './SegmentStore.ts';
import { SharedTimeline } from './SharedTimeline.ts';

export interface HlsStreamOptions {
  dir: string;
  ffmpegPath: string;
  partMs: number;
  segmentMs: number;
  targetDuration: number;
  windowMinutes: number;
  maxBytes: number;
  audioBitrateKbps: number;
}

/** What HlsStream uses of a stream's router (StreamRouter; a stand-in in tests, which may have no commentary). */
export type HlsSource = Pick<
  StreamRouter,
  'stream' | 'router' | 'programProducers' | 'scoresSince' | 'latestScore' | 'on' | 'off' | 'once'
> &
  Partial<Pick<StreamRouter, 'commentaryProducers' | 'commentaryDelays'>>;

interface HlsStreamEvents {
  close: [];
}

/**
 * HLS packaging of one stream on this node: consumes the stream's program
 * from its router — per simulcast layer of the video, a rendition (PlainTap
 * pinned to the layer → RtpRelay → ffmpeg, video copied) — cuts each
 * ffmpeg's fMP4 into parts and segments (SegmentStore) on one shared
 * timeline, and keeps the score log with the PDT → mediaTime anchors (one set
 * for all renditions). A change of program producers starts a new generation
 * (a new period after EXT-X-DISCONTINUITY in every rendition).
 *
 * Audio: every rendition muxes its own AAC (encoded by its ffmpeg from the
 * same Opus producer). Chosen over one EXT-X-MEDIA audio group because the
 * audio/video alignment then stays inside one ffmpeg (audio is aligned by
 * arrival there, and shifted with the same per-track offset as the
 * reference rendition, so all renditions agree), players switch muxed
 * renditions with no second playlist to block on, and a layer that stops
 * takes nothing else with it. The cost: one AAC encode per rendition (about
 * 1 % of a core each) and the audio bytes (MM_HLS_AUDIO_KBPS) once per rendition.
 */
export class HlsStream extends EventEmitter<HlsStreamEvents> {
  readonly stream: HlsSource;
  readonly scores = new ScoreLog();
  readonly #o: HlsStreamOptions;
  readonly #log: Logger;
  /** By spatial layer; the last is the top rendition (served at the token folder's root too). */
  #renditions: Rendition[] = [];
  #producerIds: string | undefined;
  /** Segment numbers, decode-time shifts and PDT anchors shared by every rendition. */
  readonly #timeline: SharedTimeline;
  /** Taps, relays and ffmpeg runs of the video renditions. */
  readonly #lifecycle: RenditionLifecycle;
  #restarting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;
  // The audio renditions follow the video's generation: synced once the restart (if any) is done.
  readonly #onProgram = (): void => void this.#maybeRestart().then(() => this.audio.sync());
  /** The audio group (commentary languages): audio-only renditions while a language is on air. */
  readonly audio: AudioRenditions;
  readonly #onScore = (u: Parameters<ScoreLog['add']>[0]): void => this.scores.add(u);
  /** Last time a viewer asked for anything (for the linger). */
  lastRequestAt = Date.now();

  constructor(stream: HlsSource, o: HlsStreamOptions, log: Logger) {
    super();
    this.setMaxListeners(0);
    this.stream = stream;
    this.#o = o;
    this.#log = log;
    this.#timeline = new SharedTimeline({
      stream,
      options: o,
      log,
      scores: this.scores,
      renditions: () => this.#renditions,
    });
    this.#lifecycle = new RenditionLifecycle({
      stream,
      options: o,
      log,
      timeline: this.#timeline,
      closed: () => this.#closed,
      renditions: () => this.#renditions,
      newStore: (folder) => this.#newStore(folder),
      changed: () => this.#notify(),
    });
    // The top rendition exists from the start (its store answers before the first run).
    this.#renditions = [new Rendition(0, this.#newStore('r0'))];
    this.audio = new AudioRenditions({
      stream,
      options: o,
      log,
      timeline: () => this.#timeline.current,
      epochMs: () => this.#timeline.epochMs,
      newStore: (folder) => this.#newStore(folder),
      changed: () => this.#notify(),
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get partTarget(): number {
    return this.#o.partMs / 1000;
  }

  get targetDuration(): number {
    return this.#o.targetDuration;
  }

  /** Renditions, lowest layer first. */
  get renditions(): readonly Rendition[] {
    return this.#renditions;
  }

  /** The top rendition (highest layer): the one the token folder's root `media.m3u8` serves. */
  get top(): Rendition {
    return this.#renditions.at(-1)!;
  }

  rendition(index: number): Rendition | undefined {
    return this.#renditions.find((r) => r.index === index);
  }

  /** The top rendition's store (the single rendition without simulcast). */
  get store(): SegmentStore {
    return this.top.store;
  }

  get videoTrack(): TrackInfo | undefined {
    return this.top.videoTrack;
  }

  get audioTrack(): TrackInfo | undefined {
    return this.top.audioTrack;
  }

  get restarts(): number {
    return this.#renditions.reduce((n, r) => n + r.restarts, 0);
  }

  /** Some rendition has a segment to list. */
  hasOutput(): boolean {
    return this.#renditions.some((r) => r.listed);
  }

  /**
   * The multivariant playlist's entries, highest rendition first (`videoOnly`: their video-only URIs) (a player
   * starts with the first listed). One rendition keeps today's single
   * `media.m3u8`; several are `r<i>/media.m3u8`. A dropped rendition (its
   * layer stopped) is left out; the others are unchanged.
   */
  variants(prefix = '', videoOnly = false): VariantInfo[] {
    const listed = this.#renditions.filter((r) => r.listed);
    const single = this.#renditions.length === 1;
    return listed.reverse().map((r) => {
      const rates = r.bitrates;
      return {
        bandwidth: rates ? rates.peak * 1.1 : 2_500_000,
        averageBandwidth: rates?.average,
        codecs: [r.videoTrack?.codec, r.audioTrack?.codec].filter((c): c is string => !!c),
        width: r.videoTrack?.width,
        height: r.videoTrack?.height,
        frameRate: r.frameRate,
        // Beside an audio group: the video-only view of the same files (v<L>/, see demux.ts).
        uri: videoOnly
          ? `${prefix}v${r.index}/media.m3u8`
          : single
            ? `${prefix}media.m3u8`
            : `${prefix}r${r.index}/media.m3u8`,
      };
    });
  }

  /** The audio group's entries (venue only first, then each language): none while no language is on air. */
  audioRenditions(prefix = ''): AudioRenditionInfo[] {
    return this.audio.infos(prefix);
  }

  async start(): Promise<void> {
    await mkdir(this.#o.dir, { recursive: true });
    await this.top.store.open();
    for (const u of this.stream.scoresSince(0)) this.scores.add(u);
    this.stream.on('score', this.#onScore);
    this.stream.on('programchanged', this.#onProgram);
    this.stream.once('close', () => void this.close());
    await this.#maybeRestart();
    void this.audio.sync();
  }

  /** Next part (msn, index) a player may preload in a rendition (default: the top one). */
  preloadHint(r: Rendition | AudioRendition = this.top): { msn: number; part: number } | undefined {
    if (!(r instanceof Rendition)) return this.audio.preloadHint(r);
    return r.preloadHint(this.#o.segmentMs / 1000, this.partTarget);
  }

  /** Resolves true once `ready()` holds, false after `timeoutMs`; re-checked when any rendition changes. */
  waitFor(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const stores = [...this.#renditions, ...this.audio.renditions].map((r) => r.store);
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        for (const s of stores) s.off('changed', check);
        this.off('close', closed);
        resolve(ok);
      };
      const check = (): void => {
        if (ready()) done(true);
      };
      const closed = (): void => done(false);
      const timer = setTimeout(() => done(ready()), timeoutMs);
      for (const s of stores) s.on('changed', check);
      this.once('close', closed);
    });
  }

  /**
   * Stop packaging and remove the folder; resolves once every ffmpeg has exited. A second call (the node
   * closing HLS after the stream's router closed this one) waits for the first: the node exits right after,
   * and an ffmpeg not yet gone would outlive it.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.stream.off('score', this.#onScore);
    this.stream.off('programchanged', this.#onProgram);
    await Promise.all([...this.#renditions.map((r) => this.#lifecycle.stop(r)), this.audio.close()]);
    for (const r of this.#renditions) r.store.close();
    this.scores.releaseWaiters();
    this.emit('close');
    await Promise.all(this.#renditions.map((r) => r.store.destroy().catch(() => undefined)));
    await rm(this.#o.dir, { recursive: true, force: true }).catch((err: unknown) =>
      this.#log.warn({ err, dir: this.#o.dir }, 'HLS folder could not be removed'),
    );
  }

  /** A store in the stream's folder: `r<layer>` for a video rendition, `audio…` for an audio one. */
  #newStore(folder: string): SegmentStore {
    const store = new SegmentStore({
      dir: path.join(this.#o.dir, folder),
      segmentSeconds: this.#o.segmentMs / 1000,
      targetDuration: this.#o.targetDuration,
      windowSeconds: this.#o.windowMinutes * 60,
      maxBytes: this.#o.maxBytes,
      partSegments: Math.max(4, Math.ceil((3 * this.#o.targetDuration * 1000) / this.#o.segmentMs) + 1),
      log: this.#log,
    });
    store.setMaxListeners(0);
    return store;
  }

  async #maybeRestart(): Promise<void> {
    if (this.#closed) return;
    const producers = this.stream.programProducers();
    const ids = producers
      .map((p) => p.id)
      .sort()
      .join(',');
    if (this.#producerIds === ids && this.#renditions.every((r) => r.tap && !r.tap.closed)) return;
    // Serialize: a burst of 'programchanged' starts one generation at the end.
    const previous = this.#restarting ?? Promise.resolve();
    const next = previous.then(async () => {
      if (this.#closed) return;
      if (this.#producerIds === ids && this.#renditions.every((r) => r.tap && !r.tap.closed)) return;
      await Promise.all(this.#renditions.map((r) => this.#lifecycle.stop(r)));
      this.#producerIds = undefined;
      const live = producers.filter((p) => !p.closed);
      const video = live.find((p) => p.kind === 'video');
      if (!video) return;
      this.#producerIds = ids;
      this.#timeline.newGeneration();
      const layers = spatialLayersOf(video);
      // Renditions by layer: existing stores are kept (their playlists continue after a discontinuity).
      const renditions: Rendition[] = [];
      for (let i = 0; i < layers; i++) {
        let r = this.#renditions.find((x) => x.index === i);
        if (!r) {
          r = new Rendition(i, this.#newStore(`r${i}`));
          await r.store.open();
          r.store.discontinuitySequence = this.#timeline.current.cc;
        }
        renditions.push(r);
      }
      // MM_HLS_MAX_BYTES bounds the stream's folder: each rendition gets an equal share.
      for (const r of renditions) r.store.o.maxBytes = Math.floor(this.#o.maxBytes / layers);
      for (const old of this.#renditions) if (!renditions.includes(old)) old.store.close();
      this.#renditions = renditions;
      await Promise.all(
        renditions.map((r) =>
          this.#lifecycle
            .start(r, live, layers > 1)
            .catch((err: unknown) => this.#log.warn({ err, rendition: r.index }, 'HLS rendition failed to start')),
        ),
      );
    });
    this.#restarting = next.catch((err: unknown) => this.#log.warn({ err }, 'HLS packager run failed to start'));
    await this.#restarting;
  }

  #notify(): void {
    for (const r of [...this.#renditions, ...this.audio.renditions]) r.store.emit('changed');
  }
}
