import { mkdir } from 'node:fs/promises';
import type { Logger } from '@matchmesh/sfu';
import { PlainTap } from '@matchmesh/sfu';
import { FfmpegPackager, reserveRtpPorts } from './FfmpegPackager.ts';
import type { InitSegment } from './fmp4.ts';
import type { HlsSource, HlsStreamOptions } from './HlsStream.ts';
import type { Rendition, RenditionRun } from './Rendition.ts';
import { RtpRelay } from './RtpRelay.ts';
import type { SegmentStore } from './SegmentStore.ts';
import type { SharedTimeline } from './SharedTimeline.ts';

/** What RenditionLifecycle needs of its HlsStream. */
export interface RenditionLifecycleHost {
  stream: HlsSource;
  options: HlsStreamOptions;
  log: Logger;
  timeline: SharedTimeline;
  closed(): boolean;
  /** The video renditions, lowest layer first. */
  renditions(): readonly Rendition[];
  /** A segment store in `<stream dir>/<folder>` (not opened). */
  newStore(folder: string): SegmentStore;
  /** Something changed that blocked requests may wait for. */
  changed(): void;
}

/**
 * The life of a video rendition's tap and packager runs: tap its layer
 * (again while the consumer starts elsewhere), relay to a fresh ffmpeg run
 * once both are ready, drop the rendition when its layer stops and start it
 * afresh when the layer returns, restart a run whose ffmpeg exits, and stop.
 * Fragments go to the SharedTimeline; which renditions exist (per program
 * generation) is HlsStream's.
 */
export class RenditionLifecycle {
  readonly #host: RenditionLifecycleHost;
  readonly #o: HlsStreamOptions;
  readonly #log: Logger;
  readonly #timeline: SharedTimeline;

  constructor(host: RenditionLifecycleHost) {
    this.#host = host;
    this.#o = host.options;
    this.#log = host.log;
    this.#timeline = host.timeline;
  }

  get #closed(): boolean {
    return this.#host.closed();
  }

  #newStore(folder: string): SegmentStore {
    return this.#host.newStore(folder);
  }

  #notify(): void {
    this.#host.changed();
  }

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
  async start(r: Rendition, producers: ReturnType<HlsSource['programProducers']>, simulcast: boolean): Promise<void> {
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
  async #openTap(
    r: Rendition,
    producers: ReturnType<HlsSource['programProducers']>,
    simulcast: boolean,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const tap = await PlainTap.open(
        this.#host.stream,
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
    const generation = this.#timeline.current.generation;
    const run = r.run;
    r.run = undefined;
    r.relay?.setTargets([]);
    if (run) {
      clearInterval(run.keyFrameTimer);
      await run.packager.stop();
    }
    r.tap?.close();
    if (this.#closed || this.#timeline.current.generation !== generation) return;
    this.#log.info({ rendition: r.index }, 'HLS rendition tapped again (its consumer never reached its layer)');
    try {
      await this.#openTap(r, producers, true);
      if (!this.#closed && this.#timeline.current.generation === generation && !r.run) await this.#startRun(r);
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
      store.discontinuitySequence = this.#timeline.current.cc;
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

  async #startRun(r: Rendition): Promise<void> {
    const tap = r.tap!;
    const relay = r.relay!;
    const t0 = Date.now();
    const generation = this.#timeline.current.generation;
    const dir = r.store.o.dir;
    await mkdir(dir, { recursive: true });
    const ports = await reserveRtpPorts(tap.tracks.length);
    const tracks = tap.tracks.map((t, i) => ({ ...t, port: ports[i]! }));
    const packager = await FfmpegPackager.start(dir, tracks, this.#o);
    if (this.#closed || r.tap !== tap || tap.closed || this.#timeline.current.generation !== generation) {
      await packager.stop();
      return;
    }
    const run: RenditionRun = {
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
    packager.on('fragment', (f) => this.#timeline.placeFragment(r, run, f));
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
      const fresh = this.#host.renditions().length > 1;
      if (fresh) {
        r.dropped = true;
        this.#notify();
      }
      setTimeout(() => {
        if (this.#closed || r.run || r.tap !== tap || tap.closed) return;
        if (this.#timeline.current.generation !== generation) return;
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

  /** Stop the rendition's tap and packager (its relay too once the stream is closed); its store stays. */
  async stop(r: Rendition): Promise<void> {
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

  #onInit(r: Rendition, run: RenditionRun, init: InitSegment): void {
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
}
