import { EventEmitter } from 'node:events';
import { MediaError } from './errors.ts';
import type { Logger } from './logger.ts';
import { StreamRouter } from './StreamRouter.ts';
import { parseOffer } from './sdp/offer.ts';
import type { ProgramOptions, SourceRole } from './stable/StableProgram.ts';
import { WhepSession } from './WhepSession.ts';
import { WhipSession } from './WhipSession.ts';
import type { WorkerPool } from './WorkerPool.ts';

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
}

/** The node configuration's `program` section: stable-stream switching and WHIP takeover. */
export interface MediaOptions extends Partial<ProgramOptions> {
  /** A publisher that delivered media this recently is still publishing (a second one gets 409). */
  takeoverSilenceMs?: number;
}

export class MediaService extends EventEmitter<MediaServiceEvents> {
  readonly pool: WorkerPool;
  readonly #log: Logger;
  readonly #streams = new Map<string, StreamRouter>();
  readonly #creating = new Map<string, Promise<StreamRouter>>();
  readonly whip = new Map<string, WhipSession>();
  readonly whep = new Map<string, WhepSession>();
  /** WHIP sessions started per stream after the first one: origin reconnects (ops, metrics). */
  readonly reconnects = new Map<string, number>();
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

  stream(id: string): StreamRouter | undefined {
    const s = this.#streams.get(id);
    return s && !s.closed ? s : undefined;
  }

  async getOrCreateStream(id: string): Promise<StreamRouter> {
    const existing = this.stream(id);
    if (existing) return existing;
    let pending = this.#creating.get(id);
    if (!pending) {
      const { takeoverSilenceMs: _, ...program } = this.#options;
      pending = StreamRouter.create(this.pool, id, this.#log, program).then((stream) => {
        this.#streams.set(id, stream);
        stream.once('close', () => this.#forget(id, stream));
        this.#log.info({ stream: id, worker: stream.pooled.index }, 'stream router created');
        return stream;
      });
      this.#creating.set(id, pending);
      // The caller awaits `pending` and sees its rejection; this branch only tidies the map.
      pending.finally(() => this.#creating.delete(id)).catch(() => {});
    }
    return pending;
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

  async play(streamId: string, offerSdp: string): Promise<WhepSession> {
    parseOffer(offerSdp);
    const stream = this.stream(streamId);
    if (!stream?.live) throw new MediaError('stream_not_live', `stream "${streamId}" is not being published`);
    const session = await WhepSession.create(stream, offerSdp);
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

  #forget(id: string, stream: StreamRouter): void {
    if (this.#streams.get(id) === stream) this.#streams.delete(id);
  }
}
