import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { Logger, StreamRouter } from '@matchmesh/sfu';
import { PlainTap } from '@matchmesh/sfu';
import { FfmpegPackager, PACKAGER_TS_OFFSET_S, reserveRtpPorts } from './FfmpegPackager.ts';
import type { Fragment, InitSegment, TrackInfo } from './fmp4.ts';
import { RtpRelay } from './RtpRelay.ts';
import { ScoreLog } from './ScoreLog.ts';
import { SegmentStore } from './SegmentStore.ts';

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

/** One ffmpeg run (a period): its tap, its packager and its timestamp mapping. */
interface Run {
  tap: PlainTap;
  packager: FfmpegPackager;
  producerIds: string;
  video?: TrackInfo;
  /** RTP timestamp of the key frame the run began with (from the relay). */
  rtp0?: number;
  /** Decode time of the relay's first packet (ffmpeg keeps demuxer timestamps, plus its fixed output offset). */
  decode0?: number;
  /** mediaTime (ms) of that frame. */
  mediaTime0?: number;
  keyFrameTimer?: NodeJS.Timeout;
}

interface HlsStreamEvents {
  close: [];
}

const TWO32 = 2 ** 32;

/**
 * HLS packaging of one stream on this node: consumes the stream's program
 * from its router (PlainTap → RtpRelay → ffmpeg), cuts ffmpeg's fMP4 into
 * parts and segments (SegmentStore), and keeps the score log with the
 * PDT → mediaTime anchors. A change of program producers starts a new run
 * (a new period after EXT-X-DISCONTINUITY).
 */
export class HlsStream extends EventEmitter<HlsStreamEvents> {
  readonly stream: StreamRouter;
  readonly store: SegmentStore;
  readonly scores = new ScoreLog();
  readonly #o: HlsStreamOptions;
  readonly #log: Logger;
  #relay: RtpRelay | undefined;
  #run: Run | undefined;
  #restarting: Promise<void> | undefined;
  #epochMs: number | undefined;
  #lastGopSeconds = 0;
  #sinceKeySeconds = 0;
  #closed = false;
  readonly #onProgram = (): void => void this.#maybeRestart();
  readonly #onScore = (u: Parameters<ScoreLog['add']>[0]): void => this.scores.add(u);
  /** Last time a viewer asked for anything (for the linger). */
  lastRequestAt = Date.now();
  videoTrack: TrackInfo | undefined;
  audioTrack: TrackInfo | undefined;
  restarts = 0;

  constructor(stream: StreamRouter, o: HlsStreamOptions, log: Logger) {
    super();
    this.setMaxListeners(0);
    this.stream = stream;
    this.#o = o;
    this.#log = log;
    this.store = new SegmentStore({
      dir: o.dir,
      segmentSeconds: o.segmentMs / 1000,
      targetDuration: o.targetDuration,
      windowSeconds: o.windowMinutes * 60,
      maxBytes: o.maxBytes,
      partSegments: Math.max(4, Math.ceil((3 * o.targetDuration * 1000) / o.segmentMs) + 1),
      log,
    });
    this.store.setMaxListeners(0);
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

  async start(): Promise<void> {
    await mkdir(this.#o.dir, { recursive: true });
    await this.store.open();
    this.#relay = await RtpRelay.open();
    for (const u of this.stream.scoresSince(0)) this.scores.add(u);
    this.stream.on('score', this.#onScore);
    this.stream.on('programchanged', this.#onProgram);
    this.stream.once('close', () => this.close());
    await this.#maybeRestart();
  }

  /** Next part (msn, index) a player may preload: the open segment's next, or the next segment's first at a key frame. */
  preloadHint(): { msn: number; part: number } | undefined {
    const open = this.store.openSegment;
    if (!open) return this.store.period >= 0 ? { msn: this.store.lastMsn + 1, part: 0 } : undefined;
    const keyNext =
      open.duration >= this.#o.segmentMs / 1000 &&
      this.#lastGopSeconds > 0 &&
      this.#sinceKeySeconds + this.partTarget / 2 >= this.#lastGopSeconds;
    return keyNext ? { msn: open.msn + 1, part: 0 } : { msn: open.msn, part: open.parts.length };
  }

  /** Resolves true once `ready()` holds, false after `timeoutMs`. */
  waitFor(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.store.off('changed', check);
        this.off('close', closed);
        resolve(ok);
      };
      const check = (): void => {
        if (ready()) done(true);
      };
      const closed = (): void => done(false);
      const timer = setTimeout(() => done(ready()), timeoutMs);
      this.store.on('changed', check);
      this.once('close', closed);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.stream.off('score', this.#onScore);
    this.stream.off('programchanged', this.#onProgram);
    await this.#stopRun();
    this.#relay?.close();
    this.store.close();
    this.scores.releaseWaiters();
    this.emit('close');
    await this.store
      .destroy()
      .catch((err: unknown) => this.#log.warn({ err, dir: this.#o.dir }, 'HLS folder could not be removed'));
  }

  async #maybeRestart(): Promise<void> {
    if (this.#closed) return;
    const producers = this.stream.programProducers();
    const ids = producers
      .map((p) => p.id)
      .sort()
      .join(',');
    if (this.#run && this.#run.producerIds === ids && !this.#run.tap.closed) return;
    // Serialize: a burst of 'programchanged' starts one run at the end.
    const previous = this.#restarting ?? Promise.resolve();
    const next = previous.then(async () => {
      if (this.#closed || (this.#run && this.#run.producerIds === ids && !this.#run.tap.closed)) return;
      await this.#stopRun();
      if (!producers.some((p) => p.kind === 'video' && !p.closed)) return;
      await this.#startRun(
        producers.filter((p) => !p.closed),
        ids,
      );
    });
    this.#restarting = next.catch((err: unknown) => this.#log.warn({ err }, 'HLS packager run failed to start'));
    await this.#restarting;
  }

  async #startRun(producers: ReturnType<StreamRouter['programProducers']>, ids: string): Promise<void> {
    const relay = this.#relay!;
    const t0 = Date.now();
    const tap = await PlainTap.open(this.stream, producers, { ip: '127.0.0.1', port: relay.port });
    let packager: FfmpegPackager;
    try {
      this.#log.debug({ ms: Date.now() - t0 }, 'HLS tap open');
      const ports = await reserveRtpPorts(tap.tracks.length);
      this.#log.debug({ ms: Date.now() - t0, ports }, 'HLS ports reserved');
      const tracks = tap.tracks.map((t, i) => ({ ...t, port: ports[i]! }));
      packager = await FfmpegPackager.start(this.#o.dir, tracks, this.#o);
      this.#log.debug({ ms: Date.now() - t0 }, 'HLS ffmpeg bound its ports');
      relay.setTargets(tracks.map((t) => ({ ssrc: t.ssrc, kind: t.kind, port: t.port })));
    } catch (err) {
      tap.close();
      throw err;
    }
    const run: Run = { tap, packager, producerIds: ids };
    this.#run = run;
    relay.once('started', (rtp0) => {
      this.#log.debug({ rtp0, ms: Date.now() - t0 }, 'HLS relay forwarding from a key frame');
      if (this.#run === run) run.rtp0 = rtp0;
    });
    packager.on('init', (init) => this.#onInit(run, init));
    packager.on('fragment', (f) => this.#onFragment(run, f));
    packager.once('exit', (code, stderr) => {
      if (this.#run !== run || this.#closed) return;
      this.#log.warn({ code, stderr: stderr.slice(-500) }, 'HLS packager (ffmpeg) exited; restarting');
      this.restarts++;
      run.tap.close();
      this.#run = undefined;
      setTimeout(() => void this.#maybeRestart(), 1000).unref();
    });
    // Ask for a key frame now and until one arrives: the first picture must
    // not wait for the origin's next GOP.
    await tap.requestKeyFrame();
    run.keyFrameTimer = setInterval(() => {
      if (run.rtp0 !== undefined) clearInterval(run.keyFrameTimer);
      else void tap.requestKeyFrame();
    }, 500);
    this.#log.info(
      { pid: packager.pid, tracks: tap.tracks.length, ms: Date.now() - t0, relay: relay.packets },
      'HLS packager started',
    );
  }

  async #stopRun(): Promise<void> {
    const run = this.#run;
    this.#run = undefined;
    if (!run) return;
    clearInterval(run.keyFrameTimer);
    run.tap.close();
    await run.packager.stop();
  }

  #onInit(run: Run, init: InitSegment): void {
    if (this.#run !== run) return;
    run.video = init.tracks.find((t) => t.kind === 'video');
    this.videoTrack = run.video;
    this.audioTrack = init.tracks.find((t) => t.kind === 'audio');
    this.store.setInit(init.data);
  }

  #onFragment(run: Run, f: Fragment): void {
    if (this.#run !== run || !run.video) return;
    const video = f.runs.find((r) => r.trackId === run.video!.id);
    const main = video ?? f.runs[0];
    if (!main) return;
    const timescale = video ? run.video.timescale : 1000;
    // ffmpeg may emit audio while it still probes the video: a period starts
    // with the key frame the relay began with, so drop what comes before it.
    if (run.decode0 === undefined && !video?.firstSampleIsSync) return;
    if (video && run.decode0 === undefined) {
      this.#log.debug({ runs: f.runs, rtp0: run.rtp0 }, 'HLS first fragment');
      // Decode time (minus the output offset) 0 is the first packet the relay forwarded (see
      // FfmpegPackager's -copyts/frag_discont), whichever key frame ffmpeg
      // actually starts writing at.
      run.decode0 = PACKAGER_TS_OFFSET_S * run.video.timescale;
      run.mediaTime0 = this.#mediaTimeOf(
        run.rtp0 ?? 0,
        run.tap.tracks.find((t) => t.kind === 'video')?.clockRate ?? 90000,
      );
      const wall = Date.now();
      const lastEnd = this.store.segments.at(-1);
      const candidate = this.#epochMs === undefined ? undefined : this.#epochMs + run.mediaTime0;
      // Keep one epoch while media time moves forward with the wall clock;
      // otherwise (a publisher that restarted its clock) take a new one.
      if (
        candidate === undefined ||
        Math.abs(candidate - wall) > 30_000 ||
        (lastEnd && candidate < lastEnd.pdtMs + lastEnd.duration * 1000)
      ) {
        this.#epochMs = Math.round(wall - run.mediaTime0);
      }
      this.scores.addAnchor({
        pdt: Math.round(this.#epochMs! + run.mediaTime0),
        decodeTime: PACKAGER_TS_OFFSET_S,
        mediaTime: run.mediaTime0,
        msn: this.store.lastMsn + 1,
      });
    }
    const mediaTimeMs =
      video && run.decode0 !== undefined && run.mediaTime0 !== undefined
        ? run.mediaTime0 + ((video.baseMediaDecodeTime + video.firstCompositionOffset - run.decode0) * 1000) / timescale
        : (this.store.openSegment?.mediaTimeMs ?? 0);
    const duration = main.duration / (video ? timescale : (this.audioTrack?.timescale ?? 48000));
    const independent = video?.firstSampleIsSync ?? false;
    if (independent) {
      if (this.#sinceKeySeconds > 0) this.#lastGopSeconds = this.#sinceKeySeconds;
      this.#sinceKeySeconds = 0;
    }
    this.#sinceKeySeconds += duration;
    // PDT dates the segment's first video frame (the one the score timeline
    // is about); audio may start up to an AAC frame earlier or later.
    this.store.addFragment({
      data: f.data,
      duration,
      independent,
      mediaTimeMs,
      pdtMs: Math.round((this.#epochMs ?? Date.now()) + mediaTimeMs),
    });
    const first = this.store.segments[0];
    if (first) this.scores.prune(first.msn, first.mediaTimeMs);
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
