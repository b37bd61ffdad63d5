import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { MEDIA_CODECS } from './codecs.ts';
import type { BoothOptions } from './commentary/CommentaryBooth.ts';
import { MediaError } from './errors.ts';
import { DEFAULT_LAYER_GOVERNOR, type LayerGovernorOptions } from './LayerGovernor.ts';
import type { Logger } from './logger.ts';
import type { StreamOutlet } from './StreamOutlet.ts';
import { StreamRouter } from './StreamRouter.ts';
import { parseOffer } from './sdp/offer.ts';
import type { ProgramOptions, SourceRole } from './stable/StableProgram.ts';
import { WhepSession } from './WhepSession.ts';
import { WhipSession } from './WhipSession.ts';
import type { WorkerLoad, WorkerPool } from './WorkerPool.ts';

/**
 * The node's media state: one StreamRouter per stream, plus the WHIP and
 * WHEP sessions attached to them. Creation of a stream's router is
 * de-duplicated so a burst of joins creates exactly one.
 */
interface MediaServiceEvents {
  /** A publisher started feeding `stream` on this node. */
  published: [stream: string, role: SourceRole];
  /** The publisher of `stream` went away (it may be back: the stable program outlives it). */
  unpublished: [stream: string, role: SourceRole];
  /** A stream's router was created here (ingest or region copy): its program's switches can be followed. */
  created: [stream: StreamRouter];
}

/** The node configuration's `program` section: stable-stream switching and WHIP takeover. */
export interface MediaOptions extends Partial<ProgramOptions> {
  /** A publisher that delivered media this recently is still publishing (a second one gets 409). */
  takeoverSilenceMs?: number;
  /** Most simulcast layers a WHIP offer may send (MM_SIMULCAST_MAX_LAYERS); more is 422. Default 3. */
  simulcastMaxLayers?: number;
  /** Close a fan-out router after this long without a viewer. */
  fanoutLingerMs?: number;
  /** The commentary mixers (MM_COMMENTARY_*). */
  commentary?: Partial<BoothOptions>;
  /** How each viewer's simulcast layer is governed (MM_LAYER_*). */
  layerGovernor?: Partial<LayerGovernorOptions>;
}

/**
 * One viewer's (or commentator's) place on this node: a slot of a worker's
 * capacity and the stream's outlet on that worker. `release()` gives both back.
 */
export interface Seat {
  readonly outlet: StreamOutlet;
  readonly worker: number;
  /** How the viewer's program video layer is governed here (default: DEFAULT_LAYER_GOVERNOR). */
  readonly layerGovernor?: LayerGovernorOptions;
  release(): void;
}

export interface SeatRequest {
  /** A commentator produces on the source router, so it sits on the source worker, full or not. */
  commentator?: boolean;
  /** A WHEP player's router codecs (its payload types). */
  mediaCodecs?: types.RouterRtpCodecCapability[];
}

export class MediaService extends EventEmitter<MediaServiceEvents> {
  readonly pool: WorkerPool;
  readonly #log: Logger;
  readonly #streams = new Map<string, StreamRouter>();
  #capabilities: types.RtpCapabilities | undefined;
  readonly #creating = new Map<string, Promise<StreamRouter>>();
  readonly whip = new Map<string, WhipSession>();
  readonly whep = new Map<string, WhepSession>();
  /** WHIP sessions started per stream after the first one: origin reconnects (ops, metrics). */
  readonly reconnects = new Map<string, number>();
  /** Streams a WHIP publisher ever fed on this node (an ingest of theirs). */
  readonly #everPublished = new Set<string>();
  readonly #options: MediaOptions;

  constructor(pool: WorkerPool, logger: Logger, options: MediaOptions = {}) {
    super();
    this.pool = pool;
    this.#log = logger;
    this.#options = options;
    // A dead worker took its routers with it: forget them so the next
    // publisher or viewer builds the stream again on a live worker.
    pool.on('workerdied', () => {
      for (const [id, stream] of this.#streams) if (stream.router.closed) this.#forget(id, stream);
    });
  }

  get streams(): ReadonlyMap<string, StreamRouter> {
    return this.#streams;
  }

  /** The router of a stream published on this node (its ingest), through a publisher's reconnect gaps too. */
  publishedHere(stream: string): StreamRouter | undefined {
    return this.#everPublished.has(stream) ? this.stream(stream) : undefined;
  }

  stream(id: string): StreamRouter | undefined {
    const s = this.#streams.get(id);
    return s && !s.closed ? s : undefined;
  }

  /**
   * The RTP capabilities of this node's viewer routers (every one is made
   * with the same codecs), for a page's bootstrap: read once from a router
   * made for it (loadCapabilities), else from any live stream's.
   */
  routerCapabilities(): types.RtpCapabilities | undefined {
    if (this.#capabilities) return this.#capabilities;
    for (const stream of this.#streams.values()) if (!stream.closed) return stream.rtpCapabilities;
    return undefined;
  }

  /**
   * Learn the viewer routers' capabilities before any stream exists: a page
   * opened before its stream's origin published (a viewer waiting for the
   * match) then joins in one round trip too. A router is made and closed.
   */
  async loadCapabilities(): Promise<void> {
    const pooled = this.pool.workers[0];
    if (!pooled || this.#capabilities) return;
    const router = await pooled.worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    this.#capabilities = router.rtpCapabilities;
    router.close();
  }

  async getOrCreateStream(id: string): Promise<StreamRouter> {
    const existing = this.stream(id);
    if (existing) return existing;
    let pending = this.#creating.get(id);
    if (!pending) {
      const {
        takeoverSilenceMs: _,
        simulcastMaxLayers: __,
        layerGovernor: ___,
        fanoutLingerMs,
        commentary,
        ...program
      } = this.#options;
      pending = StreamRouter.create(this.pool, id, this.#log, { program, fanoutLingerMs, commentary }).then(
        (stream) => {
          this.#streams.set(id, stream);
          stream.once('close', () => this.#forget(id, stream));
          this.#log.info({ stream: id, worker: stream.pooled.index }, 'stream router created');
          this.emit('created', stream);
          return stream;
        },
      );
      this.#creating.set(id, pending);
      // The caller awaits `pending` and sees its rejection; this branch only tidies the map.
      pending.finally(() => this.#creating.delete(id)).catch(() => {});
    }
    return pending;
  }

  /**
   * Seat a viewer of `stream` on the least-loaded worker with room, on that
   * worker's outlet of the stream. Refuses with `node_full` (503) when every
   * worker is at capacity; the check and the slot are taken synchronously, so
   * a burst of joins can never overfill a worker.
   */
  async seat(stream: StreamRouter, request: SeatRequest = {}): Promise<Seat> {
    let pooled = request.commentator ? stream.pooled : this.pool.workerForViewer(stream.pooled);
    if (!pooled) {
      // Full, but a crashed worker may be coming back: wait for it, then choose again.
      await this.pool.whenRespawned();
      pooled = this.pool.workerForViewer(stream.pooled);
    }
    if (!pooled) throw this.#full();
    // Counted in the same tick as the choice: concurrent joins never overfill a worker.
    pooled.viewers++;
    let outlet: StreamOutlet;
    try {
      outlet = await stream.outlet(pooled, request.mediaCodecs);
    } catch (err) {
      pooled.viewers--;
      throw err;
    }
    const releaseOutlet = outlet.acquire();
    let released = false;
    return {
      outlet,
      worker: pooled.index,
      layerGovernor: { ...DEFAULT_LAYER_GOVERNOR, ...this.#options.layerGovernor },
      release: () => {
        if (released) return;
        released = true;
        pooled.viewers--;
        releaseOutlet();
      },
    };
  }

  /** Each worker's load, with how many streams enter there (their source routers). */
  workerLoads(): (WorkerLoad & { sources: number })[] {
    return this.pool.workerLoads().map((w) => ({
      ...w,
      sources: [...this.#streams.values()].filter((s) => !s.closed && s.pooled.index === w.index).length,
    }));
  }

  async publish(streamId: string, offerSdp: string, role: SourceRole = 'primary'): Promise<WhipSession> {
    // Reject a malformed offer before a router exists for the stream.
    parseOffer(offerSdp);
    const stream = await this.getOrCreateStream(streamId);
    // WhipSession checks the offer first (400/422), then that nobody else publishes (409).
    const session = await WhipSession.create(stream, offerSdp, {
      role,
      logger: this.#log,
      takeoverSilenceMs: this.#options.takeoverSilenceMs,
      simulcastMaxLayers: this.#options.simulcastMaxLayers,
    });
    this.whip.set(session.id, session);
    const key = `${streamId}`;
    if (this.#everPublished.has(key)) this.reconnects.set(key, (this.reconnects.get(key) ?? 0) + 1);
    this.#everPublished.add(key);
    this.emit('published', streamId, role);
    session.once('close', (reason) => {
      this.whip.delete(session.id);
      this.emit('unpublished', streamId, role);
      this.#log.info({ stream: streamId, session: session.id, reason }, 'WHIP session closed');
    });
    this.#log.info({ stream: streamId, session: session.id }, 'WHIP session started');
    return session;
  }

  /**
   * A WHEP player. `lang`: the commentary its second audio section gets (null: none; undefined: `defaultLanguage`
   * when on air, else the first language on air).
   */
  async play(
    streamId: string,
    offerSdp: string,
    opts: { lang?: string | null; defaultLanguage?: string } = {},
  ): Promise<WhepSession> {
    parseOffer(offerSdp);
    const stream = this.stream(streamId);
    if (!stream?.live) throw new MediaError('stream_not_live', `stream "${streamId}" is not being published`);
    // Refuse a full node before anything is built for the player.
    if (!this.pool.hasRoom()) throw this.#full();
    const onAir = stream.languages();
    const fallback = opts.defaultLanguage && onAir.includes(opts.defaultLanguage) ? opts.defaultLanguage : onAir[0];
    const lang = opts.lang === undefined ? (fallback ?? null) : opts.lang;
    const session = await WhepSession.create(
      stream,
      offerSdp,
      (codecs) => this.seat(stream, { mediaCodecs: codecs }),
      lang,
      // Only a language the player named is aligned (its delay line); the default one plays as it comes.
      opts.lang !== undefined,
    );
    this.whep.set(session.id, session);
    session.once('close', () => this.whep.delete(session.id));
    return session;
  }

  close(): void {
    for (const s of this.whip.values()) s.close('node closing');
    for (const s of this.whep.values()) s.close('node closing');
    for (const s of this.#streams.values()) s.close();
    this.pool.close();
  }

  #full(): MediaError {
    return new MediaError(
      'node_full',
      `every worker of this node is at capacity (${this.pool.viewersPerWorker} viewers each)`,
    );
  }

  #forget(id: string, stream: StreamRouter): void {
    if (this.#streams.get(id) === stream) this.#streams.delete(id);
  }
}
