import { EventEmitter } from 'node:events';
import type { ScoreUpdate } from '@matchmesh/protocol';
import { SCORE_CHANNEL_LABEL } from '@matchmesh/protocol';
import type { types } from 'mediasoup';
import { closeRouter } from './closeRouter.ts';
import { createViewerTransport, type StreamOutlet, type StreamOutletEvents } from './StreamOutlet.ts';
import type { StreamRouter, TransportRequest } from './StreamRouter.ts';
import { createRouterOn, type PooledWorker } from './WorkerPool.ts';

export interface FanoutOptions {
  /** Router codecs; a WHEP player's payload types make a router of their own (default: the stream's). */
  mediaCodecs: types.RouterRtpCodecCapability[];
  /**
   * Keep the source producers' ids on the pipe producers, so a viewer sees the
   * same producer ids on every worker. Impossible on the source's own worker
   * (ids are unique per worker) and for a second router on one worker.
   */
  keepIds: boolean;
  /** Close after nobody has used this router for this long. */
  lingerMs: number;
}

/**
 * A stream's viewers on one more worker: a router fed from the stream's
 * source router by `pipeToRouter` — once per producer per worker, not per
 * viewer — so one match uses every core of a relay. The score channel is not
 * piped: the source re-sends each accepted update to this router's own
 * DataProducer, so a viewer's backlog and live updates travel on one worker
 * channel, in order, exactly as on the source.
 *
 * Lifecycle: closes with the source stream, with its worker (a crash moves
 * only the viewers seated here), or after `lingerMs` without a user.
 */
export class FanoutRouter extends EventEmitter<StreamOutletEvents> implements StreamOutlet {
  readonly source: StreamRouter;
  readonly pooled: PooledWorker;
  readonly router: types.Router;
  readonly #direct: types.DirectTransport;
  readonly #scoreOut: types.DataProducer;
  readonly #options: FanoutOptions;
  /** Source producer id → its pipe producer here (in flight while the promise is pending). */
  readonly #piped = new Map<string, Promise<types.Producer | undefined>>();
  readonly #ready = new Map<string, types.Producer>();
  #users = 0;
  #linger: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #onSourceChanged = (): void => void this.#sync();
  readonly #onScore = (update: ScoreUpdate): void => this.#scoreOut.send(JSON.stringify(update));
  readonly #onSourceClosed = (): void => this.close();

  private constructor(
    source: StreamRouter,
    pooled: PooledWorker,
    router: types.Router,
    direct: types.DirectTransport,
    scoreOut: types.DataProducer,
    options: FanoutOptions,
  ) {
    super();
    this.source = source;
    this.pooled = pooled;
    this.router = router;
    this.#direct = direct;
    this.#scoreOut = scoreOut;
    this.#options = options;
    source.on('programchanged', this.#onSourceChanged);
    source.on('score', this.#onScore);
    source.once('close', this.#onSourceClosed);
    router.observer.once('close', () => this.close());
    // Born for a user who is about to acquire; if none does, it lingers out like an emptied one.
    this.#armLinger();
  }

  /** Build the router on `pooled` and pipe in everything the stream has now. */
  static async create(source: StreamRouter, pooled: PooledWorker, options: FanoutOptions): Promise<FanoutRouter> {
    const router = await createRouterOn(pooled, options.mediaCodecs, { stream: source.stream, fanout: true });
    try {
      const direct = await router.createDirectTransport({ maxSendMessageSize: 64 * 1024 });
      const scoreOut = await direct.produceData({ label: SCORE_CHANNEL_LABEL, appData: { stream: source.stream } });
      const fanout = new FanoutRouter(source, pooled, router, direct, scoreOut, options);
      await fanout.#sync();
      return fanout;
    } catch (err) {
      closeRouter(router);
      throw err;
    }
  }

  get stream(): string {
    return this.source.stream;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get rtpCapabilities(): types.RtpCapabilities {
    return this.router.rtpCapabilities;
  }

  get latestScore(): ScoreUpdate | null {
    return this.source.latestScore;
  }

  get scoreProducer(): types.DataProducer {
    return this.#scoreOut;
  }

  /** How many users (seated viewers) hold this router open. */
  get users(): number {
    return this.#users;
  }

  scoresSince(seq: number): ScoreUpdate[] {
    return this.source.scoresSince(seq);
  }

  programProducers(): types.Producer[] {
    return this.#here(this.source.programProducers());
  }

  commentaryProducers(): types.Producer[] {
    return this.#here(this.source.commentaryProducers());
  }

  copyOf(producer: types.Producer): Promise<types.Producer | undefined> {
    return this.#pipe(producer);
  }

  createWebRtcTransport(request: TransportRequest): Promise<types.WebRtcTransport> {
    return createViewerTransport(this.router, this.pooled.webRtcServer, this.stream, request);
  }

  acquire(): () => void {
    this.#users++;
    clearTimeout(this.#linger);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#users--;
      if (this.#users === 0) this.#armLinger();
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#linger);
    this.source.off('programchanged', this.#onSourceChanged);
    this.source.off('score', this.#onScore);
    this.source.off('close', this.#onSourceClosed);
    closeRouter(this.router);
    this.emit('close');
  }

  #armLinger(): void {
    clearTimeout(this.#linger);
    this.#linger = setTimeout(() => {
      if (this.#users === 0) this.close();
    }, this.#options.lingerMs);
    this.#linger.unref();
  }

  /** The pipe producers here for these source producers (those piped already). */
  #here(producers: types.Producer[]): types.Producer[] {
    const out: types.Producer[] = [];
    for (const p of producers) {
      const piped = this.#ready.get(p.id);
      if (piped && !piped.closed) out.push(piped);
    }
    return out;
  }

  /**
   * Pipe every source producer not piped yet, then tell this router's viewers.
   * Concurrent calls share each pipe's promise, so a producer is piped once.
   */
  async #sync(): Promise<void> {
    const wanted = [...this.source.programProducers(), ...this.source.commentaryProducers()];
    await Promise.all(wanted.map((p) => this.#pipe(p)));
    if (!this.#closed) this.emit('programchanged');
  }

  #pipe(producer: types.Producer): Promise<types.Producer | undefined> {
    let pending = this.#piped.get(producer.id);
    if (pending) return pending;
    pending = this.source.router
      .pipeToRouter({ producerId: producer.id, router: this.router, keepId: this.#options.keepIds })
      .then(({ pipeProducer }) => {
        if (!pipeProducer || pipeProducer.closed) {
          this.#piped.delete(producer.id);
          return undefined;
        }
        this.#ready.set(producer.id, pipeProducer);
        // The source producer closing closes its pipe consumer and this pipe producer (mediasoup).
        pipeProducer.observer.once('close', () => {
          this.#piped.delete(producer.id);
          this.#ready.delete(producer.id);
        });
        return pipeProducer;
      })
      .catch(() => {
        // The source producer or one of the routers closed meanwhile: nothing to serve.
        this.#piped.delete(producer.id);
        return undefined;
      });
    this.#piped.set(producer.id, pending);
    return pending;
  }
}
