import { EventEmitter } from 'node:events';
import type { ScoreUpdate } from '@matchmesh/protocol';
import { parseScoreMessage, rtpMediaTime, SCORE_CHANNEL_LABEL } from '@matchmesh/protocol';
import type { types } from 'mediasoup';
import { closeRouter } from './closeRouter.ts';
import { MEDIA_CODECS } from './codecs.ts';
import { type BoothOptions, CommentaryBooth, DEFAULT_BOOTH_OPTIONS } from './commentary/CommentaryBooth.ts';
import { FanoutRouter } from './FanoutRouter.ts';
import type { Logger } from './logger.ts';
import { silentLogger } from './logger.ts';
import { ScoreGate, type ScoreStats, type ScoreVerdict } from './ScoreGate.ts';
import { createViewerTransport, type StreamOutlet } from './StreamOutlet.ts';
import { type ProgramOptions, type ProgramSource, StableProgram } from './stable/StableProgram.ts';
import type { PooledWorker, WorkerPool } from './WorkerPool.ts';

/** SCTP stream id the publisher's score DataChannel is negotiated on (mediasoup does not speak DCEP). */
export const SCORE_SCTP_STREAM_ID = 0;

/** How long a fan-out router nobody uses stays up by default (a viewer reloading the page finds it). */
export const DEFAULT_FANOUT_LINGER_MS = 30_000;

export interface StreamRouterOptions {
  program?: Partial<ProgramOptions>;
  /** Close a fan-out router after this long without a viewer. */
  fanoutLingerMs?: number;
  /** The commentary mixers (one per language, where commentators produce). */
  commentary?: Partial<BoothOptions>;
}

/** A commentary track's language (its producer's appData), undefined for a track from before languages. */
export function commentaryLanguage(producer: types.Producer): string | undefined {
  const lang = producer.appData.lang;
  return typeof lang === 'string' ? lang : undefined;
}

interface StreamRouterEvents {
  /** The program feed (the match's audio/video) appeared, changed or went away. */
  programchanged: [];
  /** A commentator's voice came into the booth or left it (talkback lists them). */
  voiceschanged: [];
  /** A score update passed validation and de-duplication and went out to viewers. */
  score: [update: ScoreUpdate];
  /** How late a language's commentary is against the picture moved (ms per language; the booth's). */
  commentarydelays: [delays: Record<string, number>];
  close: [];
}

export interface TransportRequest {
  /** Open an SCTP association (the score DataChannel). */
  sctp: boolean;
  /** Offer only the TCP candidate (for networks that block UDP). */
  forceTcp?: boolean;
  appData?: types.AppData;
}

/**
 * Everything one stream is made of on one node: a mediasoup Router, the
 * stream's program producers (match video and audio), commentary producers,
 * and the score channel.
 *
 * The score channel is deliberately not a pass-through: the publisher's
 * DataProducer is consumed here over a DirectTransport, each message is
 * validated, duplicates and replays (seq not above the last) are dropped and
 * counted, and what survives is re-sent on a DataProducer that belongs to the
 * stream rather than to one publisher session. Viewers therefore consume a
 * score channel that outlives any origin reconnect, and a late joiner gets the
 * latest update as a snapshot.
 *
 * It is also the stream's first outlet: viewers seated on its worker consume
 * here; viewers seated on another worker get that worker's FanoutRouter
 * (`outlet()`), fed from this router once per worker.
 */
export class StreamRouter extends EventEmitter<StreamRouterEvents> implements StreamOutlet {
  readonly stream: string;
  readonly router: types.Router;
  readonly pooled: PooledWorker;
  /** The stream's exactly-once score gate, keyed by (epoch, seq). */
  readonly scores: ScoreGate;
  readonly #log: Logger;
  readonly #direct: types.DirectTransport;
  readonly #scoreOut: types.DataProducer;
  /** The match feed with a stable identity: what viewers and pipes consume. */
  readonly program: StableProgram;
  /** One mixed track per language (made here by the booth, or piped in from upstream). */
  readonly #commentary = new Set<types.Producer>();
  /** The commentators' voices on this router (mixed by the booth; talkback consumes them as they are). */
  readonly #voices = new Set<types.Producer>();
  /** The commentators' voices and their mixers, built on the first voice. */
  #booth: CommentaryBooth | undefined;
  /** On a relay: each language's delay against the picture, as the upstream pipe last said. */
  #relayedDelays: Record<string, number> = {};
  readonly #boothOptions: BoothOptions;
  /** Recent updates, oldest first, so a viewer joining between two updates misses none. */
  /** Fan-out routers by worker and codec set (in flight while pending). */
  readonly #outlets = new Map<string, Promise<FanoutRouter>>();
  readonly #fanoutLingerMs: number;
  #closed = false;

  private constructor(
    stream: string,
    pooled: PooledWorker,
    router: types.Router,
    direct: types.DirectTransport,
    scoreOut: types.DataProducer,
    log: Logger,
    options: StreamRouterOptions,
  ) {
    super();
    // Every viewer listens to its outlet, and every fan-out router to this one.
    this.setMaxListeners(0);
    this.#fanoutLingerMs = options.fanoutLingerMs ?? DEFAULT_FANOUT_LINGER_MS;
    this.#boothOptions = { ...DEFAULT_BOOTH_OPTIONS, ...options.commentary };
    this.stream = stream;
    this.scores = new ScoreGate(stream);
    this.pooled = pooled;
    this.router = router;
    this.#direct = direct;
    this.#scoreOut = scoreOut;
    this.#log = log;
    this.program = new StableProgram(direct, router.rtpCapabilities, { stream }, options.program ?? {});
    this.program.on('changed', () => this.emit('programchanged'));
    this.program.on('switched', (record) => this.#log.info({ ...record }, 'program source switched'));
    // A re-based splice moves the output timeline: the score mapping of WebRTC overlays and HLS
    // (both read mediaTime from RTP timestamps) is then off by the re-base, so it is worth a warning.
    this.program.on('spliced', (info) =>
      info.rebased
        ? this.#log.warn({ ...info }, 'program timeline re-based at a splice')
        : this.#log.debug({ ...info }, 'program spliced'),
    );
    router.observer.once('close', () => this.close());
  }

  static async create(
    pool: WorkerPool,
    stream: string,
    logger: Logger = silentLogger,
    options: StreamRouterOptions = {},
  ): Promise<StreamRouter> {
    const { router, pooled } = await pool.createRouter(MEDIA_CODECS, { stream });
    try {
      const direct = await router.createDirectTransport({
        maxSendMessageSize: 64 * 1024,
        maxReceiveMessageSize: 64 * 1024,
      });
      const scoreOut = await direct.produceData({ label: SCORE_CHANNEL_LABEL, appData: { stream } });
      const log = logger.child?.({ stream }) ?? logger;
      return new StreamRouter(stream, pooled, router, direct, scoreOut, log, options);
    } catch (err) {
      router.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** This router is its own source. */
  get source(): StreamRouter {
    return this;
  }

  /** The source router lives as long as the stream: its users never close it. */
  acquire(): () => void {
    return () => {};
  }

  /**
   * Where a viewer seated on `pooled` is served: this router on its own worker,
   * else that worker's fan-out router, created once however many viewers ask
   * at the same time. `mediaCodecs` asks for a router with those codecs (a
   * WHEP player's payload types), one per worker and codec set.
   */
  async outlet(pooled: PooledWorker, mediaCodecs?: types.RouterRtpCodecCapability[]): Promise<StreamOutlet> {
    if (this.#closed) throw new Error(`stream "${this.stream}" is closed`);
    if (!mediaCodecs && pooled === this.pooled) return this;
    const key = `${pooled.index}/${mediaCodecs ? JSON.stringify(mediaCodecs) : 'default'}`;
    let pending = this.#outlets.get(key);
    if (!pending) {
      pending = FanoutRouter.create(this, pooled, {
        mediaCodecs: mediaCodecs ?? MEDIA_CODECS,
        keepIds: !mediaCodecs && pooled !== this.pooled,
        lingerMs: this.#fanoutLingerMs,
      });
      const created = pending;
      this.#outlets.set(key, created);
      const forget = (): void => {
        if (this.#outlets.get(key) === created) this.#outlets.delete(key);
      };
      created.then((fanout) => {
        fanout.once('close', forget);
        this.#log.debug({ worker: pooled.index, key }, 'fan-out router created');
      }, forget);
    }
    const fanout = await pending;
    // Closed between creation and now (its worker died, it lingered out): build it again.
    return fanout.closed ? this.outlet(pooled, mediaCodecs) : fanout;
  }

  /** The fan-out routers that are up (tests, metrics). */
  async fanouts(): Promise<FanoutRouter[]> {
    const settled = await Promise.allSettled(this.#outlets.values());
    return settled.flatMap((s) => (s.status === 'fulfilled' && !s.value.closed ? [s.value] : []));
  }

  get rtpCapabilities(): types.RtpCapabilities {
    return this.router.rtpCapabilities;
  }

  /** True while the match feed has its stable producers (through a publisher's reconnects). */
  get live(): boolean {
    return this.program.live;
  }

  get latestScore(): ScoreUpdate | null {
    return this.scores.latest;
  }

  get scoreStats(): ScoreStats {
    return this.scores.stats;
  }

  /** The stable producer viewers consume for scores. */
  get scoreProducer(): types.DataProducer {
    return this.#scoreOut;
  }

  /** The stable program producers: the only ones viewers, WHEP sessions and pipes consume. */
  programProducers(): types.Producer[] {
    return this.program.producers();
  }

  /** The commentary tracks, one per language: what viewers, WHEP players and pipes consume. */
  commentaryProducers(): types.Producer[] {
    return [...this.#commentary];
  }

  copyOf(producer: types.Producer): Promise<types.Producer | undefined> {
    return Promise.resolve(producer.closed ? undefined : producer);
  }

  /** The languages on air here, in the order they went on air. */
  languages(): string[] {
    return [...new Set([...this.#commentary].flatMap((p) => commentaryLanguage(p) ?? []))];
  }

  /** The booth's mixers (ops, bench); none before the first commentator. */
  get booth(): CommentaryBooth | undefined {
    return this.#booth;
  }

  /**
   * A commentator's voice (`lang`: their token's language): mixed into that
   * language's track, never consumed by viewers itself.
   */
  async addVoice(voice: types.Producer, lang: string): Promise<void> {
    if (this.#closed) throw new Error(`stream "${this.stream}" is closed`);
    if (!this.#booth) {
      this.#booth = new CommentaryBooth(this.router, this.#boothOptions, this.#log, (track) =>
        this.addCommentary(track),
      );
      this.#booth.onDelays = (delays) => this.emit('commentarydelays', delays);
    }
    await this.#booth.addVoice(voice, lang);
    if (voice.closed) return;
    this.#voices.add(voice);
    voice.observer.once('close', () => {
      this.#voices.delete(voice);
      if (!this.#closed) this.emit('voiceschanged');
    });
    this.emit('voiceschanged');
  }

  /**
   * The commentators' voices in the booth, raw (appData: source 'voice', lang, commentator, name): what
   * talkback consumes, on this router itself — no mixer on the way, conversation wants the least delay.
   */
  voices(): types.Producer[] {
    return [...this.#voices];
  }

  /**
   * How late each language's commentary reaches viewers against the picture it reacts to (ms): the booth's
   * measure on the stream's ingest; none elsewhere (alignment.ts).
   */
  commentaryDelays(): Record<string, number> {
    return this.#booth?.delays() ?? { ...this.#relayedDelays };
  }

  /** A relay's copy: the delays its upstream pipe brought (the ingest's booth measures them). */
  setRelayedDelays(delays: Record<string, number>): void {
    if (this.#booth) return;
    this.#relayedDelays = { ...delays };
    this.emit('commentarydelays', { ...delays });
  }

  /**
   * Splice a live feed (a WHIP session's or a pipe's producers) into the
   * stream's stable program. The feed leaving later closes nothing viewers
   * hold: its producers closing only detach it.
   */
  async attachProgram(source: ProgramSource): Promise<void> {
    await this.program.attach(source);
  }

  addCommentary(producer: types.Producer): void {
    this.#commentary.add(producer);
    producer.observer.once('close', () => {
      this.#commentary.delete(producer);
      this.emit('programchanged');
    });
    this.emit('programchanged');
  }

  /**
   * Take scores from a publisher's (or a pipe's) DataProducer in this router.
   * Returns a function that detaches the source again.
   */
  async attachScoreSource(dataProducer: types.DataProducer): Promise<() => void> {
    const consumer = await this.#direct.consumeData({ dataProducerId: dataProducer.id });
    consumer.on('message', (message) => this.#onScoreMessage(message));
    return () => consumer.close();
  }

  /**
   * Validate, de-duplicate and forward one score update (the ScoreGate's
   * rules). Exactly-once for viewers: a redelivery after a reconnect is a
   * duplicate; an older origin host's update is refused.
   */
  ingestScore(update: ScoreUpdate): ScoreVerdict {
    const verdict = this.scores.admit(update);
    if (verdict === 'forwarded') {
      this.#scoreOut.send(JSON.stringify(update));
      this.emit('score', update);
    } else if (verdict === 'stale-epoch' || verdict === 'seq-taken') {
      this.#log.warn(
        { seq: update.seq, epoch: update.epoch ?? 0, position: this.scores.position, verdict },
        'score refused',
      );
    }
    return verdict;
  }

  /**
   * mediaTime (ms) of the newest video frame the program forwarded: the
   * origin's 90 kHz timeline, which splices keep (see rtpMediaTime). Stamps a
   * score posted without one. Undefined before the first video packet.
   */
  liveMediaTimeMs(): number | undefined {
    const layers = this.program.track('video')?.layers ?? [];
    const newest = [...layers].reverse().find((l) => l.output.packets > 0);
    if (!newest) return undefined;
    return rtpMediaTime(newest.output.ts, this.latestScore?.mediaTime ?? 0, newest.clockRate);
  }

  /** Updates newer than `seq` that are still in the recent buffer, oldest first. */
  scoresSince(seq: number): ScoreUpdate[] {
    return this.scores.since(seq);
  }

  createWebRtcTransport(request: TransportRequest): Promise<types.WebRtcTransport> {
    return createViewerTransport(this.router, this.pooled.webRtcServer, this.stream, request);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.program.close();
    this.#booth?.close();
    closeRouter(this.router);
    this.#commentary.clear();
    this.#voices.clear();
    this.emit('close');
  }

  #onScoreMessage(message: Buffer): void {
    const parsed = parseScoreMessage(message.toString('utf8'));
    if (!parsed.success) {
      this.scores.stats.received++;
      this.scores.stats.invalid++;
      this.#log.warn({ reason: parsed.error.issues[0]?.message }, 'invalid score message dropped');
      return;
    }
    this.ingestScore(parsed.data);
  }
}
