import { EventEmitter } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger, StreamRouter } from '@matchmesh/sfu';
import { PlainTap, spatialLayersOf } from '@matchmesh/sfu';
import { type AudioRendition, AudioRenditions } from './AudioRenditions.ts';
import { FfmpegPackager, PACKAGER_TS_OFFSET_S, reserveRtpPorts } from './FfmpegPackager.ts';
import { type Fragment, type InitSegment, shiftFragment, type TrackInfo } from './fmp4.ts';
import type { AudioRenditionInfo, VariantInfo } from './playlist.ts';
import { RtpRelay } from './RtpRelay.ts';
import { ScoreLog } from './ScoreLog.ts';
import { FIRST_MSN, SegmentStore } from './SegmentStore.ts';

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

/** One ffmpeg run of one rendition: its packager and its timestamp mapping onto the stream's timeline. */
interface Run {
  packager: FfmpegPackager;
  generation: number;
  tracks: { ssrc: number; kind: 'audio' | 'video'; port: number }[];
  /** The relay sends to this run's ports. */
  forwarding?: boolean;
  video?: TrackInfo;
  audio?: TrackInfo;
  /** RTP timestamp of the key frame the run began with (from the relay). */
  rtp0?: number;
  /** Ticks (per track id) added to ffmpeg's decode times to put them on the stream's timeline. */
  shifts?: Map<number, number>;
  keyFrameTimer?: NodeJS.Timeout;
}

/**
 * The stream's media timeline for one set of program producers (a
 * generation; a new one follows EXT-X-DISCONTINUITY). The first rendition to
 * start sets its reference: decode time PACKAGER_TS_OFFSET_S is video RTP
 * time `rtpRef` (mediaTime `mediaTime0`) in every rendition, and segment
 * boundaries (with their numbers) are shared, so a player switching
 * renditions finds the same msn at the same media time, and one score
 * anchor serves all of them.
 */
interface Timeline {
  generation: number;
  rtpRef?: number;
  videoClockRate: number;
  audioRef?: number;
  audioClockRate: number;
  mediaTime0?: number;
  /** Segment starts (s, on the shared decode timeline), oldest first; a few recent ones. */
  boundaries: { msn: number; t: number }[];
  /** EXT-X-DISCONTINUITY-SEQUENCE value of this generation's segments. */
  cc: number;
  hadOutput: boolean;
}

const TWO32 = 2 ** 32;
/** Two renditions' key frames at the same media time differ by less than this (s). */
const SAME_TIME_S = 0.004;
/** Segments measured for BANDWIDTH / AVERAGE-BANDWIDTH. */
const MEASURED_SEGMENTS = 30;

/**
 * One HLS rendition: one simulcast layer of the program video (or the only
 * one), copied as is — never transcoded — with the program audio as AAC,
 * its own PlainTap consumer (pinned to the layer), relay, ffmpeg, segment
 * store and LL-HLS media playlist.
 */
export class Rendition {
  /** Spatial layer (0 = lowest); also the rendition's number in URLs (`r<index>/`). */
  readonly index: number;
  store: SegmentStore;
  tap: PlainTap | undefined;
  relay: RtpRelay | undefined;
  run: Run | undefined;
  /** Its layer stopped arriving (the consumer moved to another layer): not listed until it is back. */
  dropped = false;
  /** The consumer forwards this rendition's layer (always true without simulcast). */
  layerOk = false;
  /** Generation of the store's last init segment. */
  initGeneration = -1;
  videoTrack: TrackInfo | undefined;
  audioTrack: TrackInfo | undefined;
  lastGopSeconds = 0;
  sinceKeySeconds = 0;
  restarts = 0;
  /** Re-asks the consumer for its layer while it is on another (see #startRendition). */
  nudge: NodeJS.Timeout | undefined;
  /** Recent video (samples, seconds) per fragment, for FRAME-RATE. */
  readonly #frames: { samples: number; seconds: number }[] = [];

  constructor(index: number, store: SegmentStore) {
    this.index = index;
    this.store = store;
  }

  /** Listed in the multivariant playlist: its layer flows and it has output. */
  get listed(): boolean {
    return !this.dropped && !!this.run && this.store.segments.length > 0 && !!this.videoTrack;
  }

  noteVideo(samples: number, seconds: number): void {
    this.#frames.push({ samples, seconds });
    if (this.#frames.length > 100) this.#frames.shift();
  }

  /** Measured frames per second (snapped to a common rate within 1.5 %). */
  get frameRate(): number | undefined {
    const samples = this.#frames.reduce((n, f) => n + f.samples, 0);
    const seconds = this.#frames.reduce((n, f) => n + f.seconds, 0);
    if (seconds < 0.5 || samples < 2) return undefined;
    const measured = samples / seconds;
    for (const r of [15, 24, 25, 30, 48, 50, 60, 24000 / 1001, 30000 / 1001, 60000 / 1001]) {
      if (Math.abs(measured - r) / r < 0.015) return r;
    }
    return Math.round(measured * 1000) / 1000;
  }

  /** Peak and average segment bit rate (bits/s) over the recent complete segments (the open one when none). */
  get bitrates(): { peak: number; average: number } | undefined {
    const complete = this.store.segments.filter((s) => s.complete && s.duration > 0.1).slice(-MEASURED_SEGMENTS);
    const open = this.store.openSegment;
    const list = complete.length > 0 ? complete : open && open.duration > 0.1 ? [open] : [];
    if (list.length === 0) return undefined;
    const seconds = list.reduce((n, s) => n + s.duration, 0);
    const bytes = list.reduce((n, s) => n + s.bytes, 0);
    const peak = Math.max(...list.map((s) => (s.bytes * 8) / s.duration));
    return { peak, average: (bytes * 8) / seconds };
  }

  /** Next part (msn, index) a player may preload: the open segment's next, or the next segment's first at a key frame. */
  preloadHint(segmentSeconds: number, partTarget: number): { msn: number; part: number } | undefined {
    const open = this.store.openSegment;
    if (!open) return this.store.period >= 0 ? { msn: this.store.lastMsn + 1, part: 0 } : undefined;
    const keyNext =
      open.duration >= segmentSeconds &&
      this.lastGopSeconds > 0 &&
      this.sinceKeySeconds + partTarget / 2 >= this.lastGopSeconds;
    return keyNext ? { msn: open.msn + 1, part: 0 } : { msn: open.msn, part: open.parts.length };
  }
}

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
  #timeline: Timeline = {
    generation: 0,
    videoClockRate: 90000,
    audioClockRate: 48000,
    boundaries: [],
    cc: 0,
    hadOutput: false,
  };
  /** Shared by every rendition (their segments are cut at the same media times with the same numbers). */
  #nextMsn = FIRST_MSN;
  #restarting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #epochMs: number | undefined;
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
    // The top rendition exists from the start (its store answers before the first run).
    this.#renditions = [new Rendition(0, this.#newStore('r0'))];
    this.audio = new AudioRenditions({
      stream,
      options: o,
      log,
      timeline: () => this.#timeline,
      epochMs: () => this.#epochMs,
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
    await Promise.all([...this.#renditions.map((r) => this.#stopRendition(r)), this.audio.close()]);
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
      await Promise.all(this.#renditions.map((r) => this.#stopRendition(r)));
      this.#producerIds = undefined;
      const live = producers.filter((p) => !p.closed);
      const video = live.find((p) => p.kind === 'video');
      if (!video) return;
      this.#producerIds = ids;
      this.#newGeneration();
      const layers = spatialLayersOf(video);
      // Renditions by layer: existing stores are kept (their playlists continue after a discontinuity).
      const renditions: Rendition[] = [];
      for (let i = 0; i < layers; i++) {
        let r = this.#renditions.find((x) => x.index === i);
        if (!r) {
          r = new Rendition(i, this.#newStore(`r${i}`));
          await r.store.open();
          r.store.discontinuitySequence = this.#timeline.cc;
        }
        renditions.push(r);
      }
      // MM_HLS_MAX_BYTES bounds the stream's folder: each rendition gets an equal share.
      for (const r of renditions) r.store.o.maxBytes = Math.floor(this.#o.maxBytes / layers);
      for (const old of this.#renditions) if (!renditions.includes(old)) old.store.close();
      this.#renditions = renditions;
      await Promise.all(
        renditions.map((r) =>
          this.#startRendition(r, live, layers > 1).catch((err: unknown) =>
            this.#log.warn({ err, rendition: r.index }, 'HLS rendition failed to start'),
          ),
        ),
      );
    });
    this.#restarting = next.catch((err: unknown) => this.#log.warn({ err }, 'HLS packager run failed to start'));
    await this.#restarting;
  }

  #newGeneration(): void {
    const t = this.#timeline;
    this.#timeline = {
      generation: t.generation + 1,
      videoClockRate: 90000,
      audioClockRate: 48000,
      boundaries: [],
      cc: t.hadOutput ? t.cc + 1 : t.cc,
      hadOutput: false,
    };
  }

  /** Tap the rendition's layer (and the audio), then start its packager. */
  /**
   * Tap the rendition's layer (and the audio), then start its packager.
   *
   * How mediasoup's simulcast consumer behaves on a PlainTransport (measured
   * in renditions.test.ts, read in SimulcastConsumer.cpp): with no bandwidth
   * estimation its target is simply the preferred layer, so it stays there
   * while the layer flows — but the first layer it forwards becomes its RTP
   * timestamp reference, and it may move to another layer only if both
   * streams have RTCP Sender Reports (it re-bases timestamps through them).
   * A consumer created while the higher layers have no score yet (a fresh
   * program) starts on a lower layer and, without Sender Reports, never
   * climbs. So a tap whose consumer does not start on its layer is opened
   * again (up to 4 times, then watched): one that starts there keeps the
   * producer's timestamps untouched — what the shared timeline relies on. A
   * layer that stops makes the consumer leave it (another layer, or none):
   * the rendition is dropped; when the layer returns, the consumer goes back
   * to it (it is its timestamp reference) and the rendition is listed again.
   */
  async #startRendition(r: Rendition, producers: ReturnType<HlsSource['programProducers']>, simulcast: boolean) {
    r.relay ??= await RtpRelay.open();
    r.dropped = false;
    await this.#openTap(r, producers, simulcast);
    if (simulcast) {
      clearInterval(r.nudge);
      let notOkSince = Date.now();
      r.nudge = setInterval(() => {
        if (this.#closed || !r.tap) return clearInterval(r.nudge);
        if (r.layerOk || r.dropped || r.store.segments.length > 0) {
          notOkSince = Date.now();
          return;
        }
        // Never on its layer yet: if the layer flows, tap it afresh.
        const video = producers.find((p) => p.kind === 'video');
        const flowing = video?.score.some((x) => x.encodingIdx === r.index && x.score > 0);
        if (!flowing || Date.now() - notOkSince < 3000) return;
        notOkSince = Date.now();
        void this.#retap(r, producers);
      }, 1000);
      r.nudge.unref();
    }
    await this.#startRun(r);
  }

  /** Open the rendition's tap until its video consumer starts on the rendition's layer (or attempts run out). */
  async #openTap(r: Rendition, producers: ReturnType<HlsSource['programProducers']>, simulcast: boolean) {
    for (let attempt = 0; ; attempt++) {
      const tap = await PlainTap.open(
        this.stream,
        producers,
        { ip: '127.0.0.1', port: r.relay!.port },
        { spatialLayer: r.index },
      );
      r.tap = tap;
      r.layerOk = !simulcast;
      const consumer = tap.consumers.find((c) => c.kind === 'video');
      if (!simulcast || !consumer) return;
      const layer = await new Promise<number | undefined>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          consumer.off('layerschange', check);
          resolve(consumer.currentLayers?.spatialLayer);
        };
        const check = (): void => {
          if (consumer.currentLayers) done();
        };
        const timer = setTimeout(done, 2000);
        consumer.on('layerschange', check);
        check();
      });
      if (layer === r.index || attempt >= 3 || this.#closed) {
        const onLayers = (layers?: { spatialLayer: number } | null): void => {
          if (r.tap !== tap || this.#closed) return;
          const ok = !!layers && layers.spatialLayer === r.index;
          if (ok === r.layerOk) return;
          r.layerOk = ok;
          if (ok) this.#layerBack(r);
          else this.#layerGone(r);
        };
        consumer.on('layerschange', onLayers);
        onLayers(consumer.currentLayers);
        return;
      }
      this.#log.debug({ rendition: r.index, layer, attempt }, 'HLS tap started on another layer; tapping again');
      tap.close();
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }

  /** A new tap and packager for a rendition whose consumer never reached its layer. */
  async #retap(r: Rendition, producers: ReturnType<HlsSource['programProducers']>): Promise<void> {
    const generation = this.#timeline.generation;
    const run = r.run;
    r.run = undefined;
    r.relay?.setTargets([]);
    if (run) {
      clearInterval(run.keyFrameTimer);
      await run.packager.stop();
    }
    r.tap?.close();
    if (this.#closed || this.#timeline.generation !== generation) return;
    this.#log.info({ rendition: r.index }, 'HLS rendition tapped again (its consumer never reached its layer)');
    try {
      await this.#openTap(r, producers, true);
      if (!this.#closed && this.#timeline.generation === generation && !r.run) await this.#startRun(r);
    } catch (err) {
      this.#log.warn({ err, rendition: r.index }, 'HLS rendition could not be tapped again');
    }
  }

  /** The consumer moved off this rendition's layer (the layer stopped): drop the rendition, keep the others. */
  #layerGone(r: Rendition): void {
    r.relay?.setTargets([]);
    if (!r.run) return;
    this.#log.warn({ rendition: r.index }, 'HLS rendition dropped: its simulcast layer stopped arriving');
    r.dropped = true;
    const run = r.run;
    r.run = undefined;
    clearInterval(run.keyFrameTimer);
    void run.packager.stop();
    this.#notify();
  }

  /** The layer flows again: a fresh store (the playlist restarts at the stream's current msn) and packager. */
  #layerBack(r: Rendition): void {
    if (r.run) {
      this.#forward(r);
      return;
    }
    if (!r.dropped) return;
    this.#log.info({ rendition: r.index }, 'HLS rendition back: its simulcast layer arrives again');
    this.#restartFresh(r);
  }

  /**
   * Start a dropped rendition again with an empty store: its media playlist
   * restarts at the stream's current msn (segment numbers are shared, and a
   * playlist cannot skip one), in the generation's discontinuity sequence.
   */
  #restartFresh(r: Rendition): void {
    const old = r.store;
    const store = this.#newStore(`r${r.index}`);
    store.o.maxBytes = old.o.maxBytes;
    void (async () => {
      old.close();
      await old.flushed();
      await store.open();
      store.discontinuitySequence = this.#timeline.cc;
      if (this.#closed || !r.layerOk || r.run) return;
      r.store = store;
      r.initGeneration = -1;
      r.videoTrack = undefined;
      r.dropped = false;
      await this.#startRun(r);
    })().catch((err: unknown) => this.#log.warn({ err, rendition: r.index }, 'HLS rendition failed to restart'));
  }

  /** Relay to ffmpeg once both are ready: the packager bound its ports and the consumer sends this layer. */
  #forward(r: Rendition): void {
    if (!r.run || !r.layerOk || r.run.forwarding) return;
    r.run.forwarding = true;
    r.relay?.setTargets(r.run.tracks);
  }

  #notify(): void {
    for (const r of [...this.#renditions, ...this.audio.renditions]) r.store.emit('changed');
  }

  async #startRun(r: Rendition): Promise<void> {
    const tap = r.tap!;
    const relay = r.relay!;
    const t0 = Date.now();
    const generation = this.#timeline.generation;
    const dir = r.store.o.dir;
    await mkdir(dir, { recursive: true });
    const ports = await reserveRtpPorts(tap.tracks.length);
    const tracks = tap.tracks.map((t, i) => ({ ...t, port: ports[i]! }));
    const packager = await FfmpegPackager.start(dir, tracks, this.#o);
    if (this.#closed || r.tap !== tap || tap.closed || this.#timeline.generation !== generation) {
      await packager.stop();
      return;
    }
    const run: Run = {
      packager,
      generation,
      tracks: tracks.map((t) => ({ ssrc: t.ssrc, kind: t.kind, port: t.port })),
    };
    r.run = run;
    this.#forward(r);
    const onStarted = (rtp0: number): void => {
      if (r.run === run) run.rtp0 = rtp0;
    };
    relay.on('started', onStarted);
    packager.on('init', (init) => this.#onInit(r, run, init));
    packager.on('fragment', (f) => this.#onFragment(r, run, f));
    packager.once('exit', (code, stderr) => {
      relay.off('started', onStarted);
      if (r.run !== run || this.#closed) return;
      this.#log.warn(
        { code, stderr: stderr.slice(-500), rendition: r.index },
        'HLS packager (ffmpeg) exited; restarting',
      );
      r.restarts++;
      clearInterval(run.keyFrameTimer);
      r.run = undefined;
      relay.setTargets([]);
      // The same generation: the new run continues the shared timeline (a
      // new init, no discontinuity). With several renditions the others may
      // have numbered segments meanwhile, so it restarts with a fresh store
      // (unlisted until it has output); alone, it continues its playlist.
      const fresh = this.#renditions.length > 1;
      if (fresh) {
        r.dropped = true;
        this.#notify();
      }
      setTimeout(() => {
        if (this.#closed || r.run || r.tap !== tap || tap.closed) return;
        if (this.#timeline.generation !== generation) return;
        if (fresh) this.#restartFresh(r);
        else
          void this.#startRun(r).catch((err: unknown) =>
            this.#log.warn({ err, rendition: r.index }, 'HLS packager failed to restart'),
          );
      }, 1000).unref();
    });
    // Ask for a key frame now and until one arrives: the first picture must
    // not wait for the origin's next GOP.
    await tap.requestKeyFrame();
    run.keyFrameTimer = setInterval(() => {
      if (run.rtp0 !== undefined || r.run !== run) clearInterval(run.keyFrameTimer);
      else void tap.requestKeyFrame();
    }, 500);
    this.#log.info(
      { pid: packager.pid, rendition: r.index, tracks: tap.tracks.length, ms: Date.now() - t0 },
      'HLS packager started',
    );
  }

  async #stopRendition(r: Rendition): Promise<void> {
    clearInterval(r.nudge);
    const run = r.run;
    r.run = undefined;
    r.tap?.close();
    r.tap = undefined;
    r.relay?.setTargets([]);
    if (this.#closed) {
      r.relay?.close();
      r.relay = undefined;
    }
    if (!run) return;
    clearInterval(run.keyFrameTimer);
    await run.packager.stop();
  }

  #onInit(r: Rendition, run: Run, init: InitSegment): void {
    if (r.run !== run) return;
    run.video = init.tracks.find((t) => t.kind === 'video');
    run.audio = init.tracks.find((t) => t.kind === 'audio');
    r.videoTrack = run.video;
    r.audioTrack = run.audio;
    // A new generation follows a discontinuity; a packager restarted within one continues its timeline.
    const discontinuity = r.store.period >= 0 && r.initGeneration !== run.generation;
    r.initGeneration = run.generation;
    r.store.setInit(init.data, discontinuity);
  }

  /** Offsets that put this run's decode times on the generation's timeline (set by the first run to output). */
  #shiftsFor(r: Rendition, run: Run): Map<number, number> | undefined {
    if (run.shifts) return run.shifts;
    if (run.rtp0 === undefined || !run.video) return undefined;
    const tl = this.#timeline;
    const videoClock = r.tap?.tracks.find((t) => t.kind === 'video')?.clockRate ?? 90000;
    const audioClock = r.tap?.tracks.find((t) => t.kind === 'audio')?.clockRate ?? 48000;
    const a0 = r.relay?.firstAudioTimestamp;
    if (tl.rtpRef === undefined) {
      tl.rtpRef = run.rtp0;
      tl.videoClockRate = videoClock;
      tl.audioRef = a0;
      tl.audioClockRate = audioClock;
      tl.mediaTime0 = this.#mediaTimeOf(run.rtp0, videoClock);
      this.#log.debug({ rendition: r.index, rtpRef: tl.rtpRef, audioRef: a0 }, 'HLS timeline reference');
    } else if (tl.audioRef === undefined && a0 !== undefined) {
      tl.audioRef = a0;
    }
    const shifts = new Map<number, number>();
    // Signed 32-bit differences: RTP timestamps wrap.
    const dv = ((run.rtp0 - tl.rtpRef) | 0) / tl.videoClockRate;
    shifts.set(run.video.id, Math.round(dv * run.video.timescale));
    if (run.audio && a0 !== undefined && tl.audioRef !== undefined) {
      const da = ((a0 - tl.audioRef) | 0) / tl.audioClockRate;
      shifts.set(run.audio.id, Math.round(da * run.audio.timescale));
    }
    run.shifts = shifts;
    return shifts;
  }

  /**
   * The segment a fragment starting at `t` (s, shared timeline) begins, or
   * undefined when it continues the open one, or null when it must wait (a
   * rendition joining mid-segment starts at the next boundary). The first
   * rendition to reach a key frame that ends a segment (≥ 0.75 segment after
   * the last boundary; or none within the target duration) registers the
   * boundary; the others cut at the same time with the same number.
   */
  #segmentFor(r: Rendition, t: number, independent: boolean, duration: number): number | undefined | null {
    const tl = this.#timeline;
    const open = r.store.openSegment;
    const cur = open && r.initGeneration === tl.generation ? open.msn : undefined;
    const last = tl.boundaries.at(-1);
    if (cur !== undefined) {
      const next = tl.boundaries.find((b) => b.msn === cur + 1);
      if (next) return t + SAME_TIME_S >= next.t ? next.msn : undefined;
      const segmentStart = tl.boundaries.find((b) => b.msn === cur)?.t ?? t - open!.duration;
      const longEnough = t - segmentStart >= (this.#o.segmentMs / 1000) * 0.75;
      const tooLong = t + duration - segmentStart > this.#o.targetDuration;
      if ((independent && longEnough) || tooLong) return this.#boundary(t);
      return undefined;
    }
    if (!independent) return null;
    const same = tl.boundaries.find((b) => Math.abs(b.t - t) < SAME_TIME_S);
    if (same) return same.msn;
    if (!last || t - last.t >= (this.#o.segmentMs / 1000) * 0.75) return this.#boundary(t);
    return null;
  }

  #boundary(t: number): number {
    const tl = this.#timeline;
    const msn = this.#nextMsn++;
    tl.boundaries.push({ msn, t });
    if (tl.boundaries.length > 64) tl.boundaries.shift();
    if (!tl.hadOutput) {
      tl.hadOutput = true;
      // One anchor per generation, for every rendition: decode time
      // PACKAGER_TS_OFFSET_S is the reference key frame, mediaTime0.
      const wall = Date.now();
      const lastEnd = this.#renditions
        .map((x) => x.store.segments.at(-1))
        .filter((s) => !!s)
        .sort((a, b) => b.pdtMs + b.duration * 1000 - (a.pdtMs + a.duration * 1000))[0];
      const mediaTime0 = tl.mediaTime0 ?? 0;
      const candidate = this.#epochMs === undefined ? undefined : this.#epochMs + mediaTime0;
      // Keep one epoch while media time moves forward with the wall clock;
      // otherwise (a publisher that restarted its clock) take a new one.
      if (
        candidate === undefined ||
        Math.abs(candidate - wall) > 30_000 ||
        (lastEnd && candidate < lastEnd.pdtMs + lastEnd.duration * 1000)
      ) {
        this.#epochMs = Math.round(wall - mediaTime0);
      }
      this.scores.addAnchor({
        pdt: Math.round(this.#epochMs! + mediaTime0),
        decodeTime: PACKAGER_TS_OFFSET_S,
        mediaTime: mediaTime0,
        msn,
      });
    }
    return msn;
  }

  #onFragment(r: Rendition, run: Run, f: Fragment): void {
    if (r.run !== run || !run.video) return;
    const video = f.runs.find((x) => x.trackId === run.video!.id);
    const main = video ?? f.runs[0];
    if (!main) return;
    // ffmpeg may emit audio while it still probes the video: a period starts
    // with the key frame the relay began with, so drop what comes before it.
    if (!run.shifts && !video?.firstSampleIsSync) return;
    const shifts = this.#shiftsFor(r, run);
    if (!shifts) return;
    try {
      shiftFragment(f, shifts);
    } catch (err) {
      this.#log.warn({ err, rendition: r.index }, 'HLS fragment could not be placed on the timeline');
      return;
    }
    const tl = this.#timeline;
    const timescale = run.video.timescale;
    const duration = main.duration / (video ? timescale : (run.audio?.timescale ?? 48000));
    const independent = video?.firstSampleIsSync ?? false;
    let mediaTimeMs: number;
    let msn: number | undefined | null;
    if (video) {
      const t = (video.baseMediaDecodeTime + video.firstCompositionOffset) / timescale;
      mediaTimeMs = (tl.mediaTime0 ?? 0) + (t - PACKAGER_TS_OFFSET_S) * 1000;
      msn = this.#segmentFor(r, t, independent, duration);
      if (msn === null) return;
      r.noteVideo(video.sampleCount, duration);
    } else {
      if (!r.store.openSegment) return;
      mediaTimeMs = r.store.openSegment.mediaTimeMs;
      msn = undefined;
    }
    if (independent) {
      if (r.sinceKeySeconds > 0) r.lastGopSeconds = r.sinceKeySeconds;
      r.sinceKeySeconds = 0;
    }
    r.sinceKeySeconds += duration;
    // PDT dates the segment's first video frame (the one the score timeline
    // is about); audio may start up to an AAC frame earlier or later.
    r.store.addFragment({
      data: f.data,
      duration,
      independent,
      mediaTimeMs,
      pdtMs: Math.round((this.#epochMs ?? Date.now()) + mediaTimeMs),
      msn,
      clocked: true,
    });
    // The score log covers the oldest segment any rendition still lists.
    const firsts = this.#renditions.map((x) => x.store.segments[0]).filter((s) => !!s);
    const oldest = firsts.sort((a, b) => a.msn - b.msn)[0];
    if (oldest) this.scores.prune(oldest.msn, oldest.mediaTimeMs);
  }

  /**
   * mediaTime (ms) of a video RTP timestamp: the origin writes its media
   * clock into it (frame n = 3000 n at 90 kHz). The 32-bit value wraps every
   * ~13 h; the wrap count is the one that lands nearest the latest score.
   */
  #mediaTimeOf(rtp: number, clockRate: number): number {
    const hint = (this.stream.latestScore?.mediaTime ?? 0) * (clockRate / 1000);
    const wraps = Math.max(0, Math.round((hint - rtp) / TWO32));
    return ((rtp + wraps * TWO32) * 1000) / clockRate;
  }
}
