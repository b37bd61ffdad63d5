import { EventEmitter } from 'node:events';
import { Backoff, type ScoreUpdate } from '@matchmesh/protocol';
import type { LadderLayer } from './ladder.ts';
import type { Logger } from './log.ts';
import type { MediaKind } from './media-source.ts';
import type { ScoreNumbering } from './score-epoch.ts';
import { ScoreOutbox } from './score-outbox.ts';
import { PublishSession } from './session.ts';
import { sleep } from './sleep.ts';
import { WhipHttpError } from './whip-client.ts';

/*
 * One ingest the agent publishes to: a WHIP endpoint, one session at a time
 * (rebuilt whenever it dies), and the score updates not yet surely delivered
 * there. The agent runs one lane for the primary ingest and, with redundant
 * ingest, a second for the backup; media and scores go to both.
 */

export interface LaneOptions {
  name: 'primary' | 'backup';
  endpoint: string;
  token: string;
  logger: Logger;
  queueCapacity: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  firstRetryJitterMs: number;
  slowRetryMs: number;
  stableAfterMs: number;
  connectTimeoutMs: number;
  livenessTimeoutMs: number;
  replayMarginMs: number;
  extraHostAddresses: string[];
  useIpv6: boolean;
  /** Simulcast layers (lowest first); undefined = one video layer. */
  ladder?: readonly LadderLayer[];
  /** The agent's score numbering: updates wait until it is settled, and go out in its wire form. */
  numbering: ScoreNumbering;
  /** This lane's ingest settled the numbering (the agent records it in its journal). */
  onNumberingSettled?(): void;
  /** The ingest asked for a key frame (a viewer joined, lost packets, or a new session is being spliced in). */
  onKeyFrameRequest?(): void;
}

export interface ConnectedInfo {
  sessionUrl: string;
  etag: string | undefined;
  /** 0 for the first session, then 1, 2... */
  reconnects: number;
  lane: 'primary' | 'backup';
}

export interface LaneEvents {
  connected: [info: ConnectedInfo];
  disconnected: [info: { reason: string; requeued: number; lane: 'primary' | 'backup' }];
  'score-sent': [update: ScoreUpdate, info: { replay: boolean }];
  'connect-failed': [info: { error: Error; retryInMs: number }];
}

/** Stop writing to the channel above this; 'writable' (bufferedamountlow) resumes. */
const CHANNEL_HIGH_WATER = 1024 * 1024;

export class IngestLane extends EventEmitter<LaneEvents> {
  readonly name: 'primary' | 'backup';
  readonly outbox: ScoreOutbox;
  readonly #o: LaneOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  #session: PublishSession | undefined;
  /** The next session's peer connection, offer ready, so a reconnect skips werift's set-up. */
  #warm: PublishSession | undefined;
  #highestWrittenSeq = 0;
  #delivered = 0;
  readonly counters = {
    packetsSent: { audio: 0, video: 0 },
    packetsDropped: { audio: 0, video: 0 },
    /** Video packets sent per layer (lowest first). */
    layerPacketsSent: [] as number[],
    connectAttempts: 0,
    failedAttempts: 0,
    reconnects: 0,
    scoresSent: 0,
    pli: 0,
    nack: 0,
  };

  constructor(o: LaneOptions) {
    super();
    this.#o = o;
    this.name = o.name;
    this.#log = o.logger.child({ lane: o.name });
    this.outbox = new ScoreOutbox(o.queueCapacity);
    // Equal jitter: a fleet of origins that lost the same ingest does not reconnect in lockstep.
    this.#backoff = new Backoff({ initialDelayMs: o.backoffBaseMs, maxDelayMs: o.backoffCapMs, jitter: 'equal' });
  }

  get session(): PublishSession | undefined {
    return this.#session;
  }

  get connected(): boolean {
    return this.#session?.mediaReady ?? false;
  }

  /**
   * Highest seq this ingest surely has: written to a session's channel
   * before the ingest was last heard from on it (less the replay margin),
   * with nothing older still queued.
   */
  deliveredSeq(): number {
    const session = this.#session;
    if (session) {
      const confirmed = this.outbox.confirmedBefore(session.lastInbound - this.#o.replayMarginMs);
      const oldestQueued = this.outbox.peek()?.seq;
      const bound = oldestQueued === undefined ? confirmed : Math.min(confirmed, oldestQueued - 1);
      this.#delivered = Math.max(this.#delivered, bound);
    }
    return this.#delivered;
  }

  sendRtp(kind: MediaKind, packet: Buffer, layer = 0): void {
    const session = this.#session;
    if (!session?.mediaReady) {
      this.counters.packetsDropped[kind]++;
      return;
    }
    const sent = session.sendRtp(kind, packet, layer);
    if (!sent) return; // a layer this session does not carry
    sent.then(
      () => {
        this.counters.packetsSent[kind]++;
        if (kind === 'video') this.counters.layerPacketsSent[layer] = (this.counters.layerPacketsSent[layer] ?? 0) + 1;
      },
      (err: unknown) => this.#log.debug({ err, kind }, 'sendRtp failed'),
    );
  }

  sourceRestarted(): void {
    this.#session?.sourceRestarted();
  }

  push(update: ScoreUpdate): void {
    this.outbox.push(update);
    this.flush();
  }

  flush(): void {
    const session = this.#session;
    const numbering = this.#o.numbering;
    if (!session?.channelWritable || !numbering.settled) return;
    for (let update = this.outbox.peek(); update; update = this.outbox.peek()) {
      if (session.channel.bufferedAmount > CHANNEL_HIGH_WATER) return;
      const wire = numbering.toWire(update);
      try {
        session.sendScoreText(JSON.stringify(wire));
      } catch (err) {
        this.#log.warn({ err }, 'score channel send failed; will retry on the next session');
        return;
      }
      this.outbox.markSent();
      const replay = update.seq <= this.#highestWrittenSeq;
      if (!replay) {
        this.#highestWrittenSeq = update.seq;
        this.counters.scoresSent++;
      }
      this.emit('score-sent', wire, { replay });
    }
  }

  #newSession(): PublishSession {
    return new PublishSession({
      endpoint: this.#o.endpoint,
      token: this.#o.token,
      logger: this.#log,
      connectTimeoutMs: this.#o.connectTimeoutMs,
      livenessTimeoutMs: this.#o.livenessTimeoutMs,
      extraHostAddresses: this.#o.extraHostAddresses,
      useIpv6: this.#o.useIpv6,
      ladder: this.#o.ladder,
      onKeyFrameRequest: this.#o.onKeyFrameRequest,
    });
  }

  /** Prepare the next session's offer in the background (errors: it is simply rebuilt later). */
  #prewarm(): void {
    if (this.#warm) return;
    const warm = this.#newSession();
    this.#warm = warm;
    warm.prepare().catch(() => {
      if (this.#warm === warm) this.#warm = undefined;
      void warm.close(false);
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    let everConnected = false;
    while (!signal.aborted) {
      this.counters.connectAttempts++;
      const session = this.#warm ?? this.#newSession();
      this.#warm = undefined;
      let delay: number;
      try {
        const dead = new Promise<string>((resolve) => session.once('dead', resolve));
        await session.connect(signal);
        if (signal.aborted) {
          await session.close(true);
          break;
        }
        if (everConnected) this.counters.reconnects++;
        everConnected = true;
        this.#session = session;
        // The first ingest to answer tells a fresh agent where the stream's scores stand (before any is sent).
        if (this.#o.numbering.settle(session.lastScore)) this.#o.onNumberingSettled?.();
        session.on('writable', () => this.flush());
        this.#log.info({ sessionUrl: session.sessionUrl, reconnects: this.counters.reconnects }, 'publishing');
        this.emit('connected', {
          sessionUrl: session.sessionUrl!,
          etag: session.etag,
          reconnects: this.counters.reconnects,
          lane: this.name,
        });
        this.flush();
        this.#prewarm();

        const reason = await Promise.race([
          dead,
          new Promise<string>((r) => signal.addEventListener('abort', () => r('stopped'), { once: true })),
        ]);
        this.#session = undefined;
        this.counters.pli += session.feedback.pli;
        this.counters.nack += session.feedback.nack;
        if (reason === 'stopped') {
          await session.close(true);
          break;
        }
        // Anything written after the ingest was last heard from may be lost.
        const requeued = this.outbox.requeueSentSince(session.lastInbound - this.#o.replayMarginMs);
        this.emit('disconnected', { reason, requeued, lane: this.name });
        // A session that had been up for a while died: retry at once (a blip
        // must cost viewers a fraction of a second), with a little jitter so
        // a fleet of origins that lost the same ingest does not stampede it.
        // A flapping one goes through the exponential backoff.
        const wasStable = Date.now() - (session.connectedAt ?? 0) >= this.#o.stableAfterMs;
        if (wasStable) this.#backoff.reset();
        delay = wasStable ? Math.round(Math.random() * this.#o.firstRetryJitterMs) : this.#backoff.next();
        this.#log.warn({ reason, requeued, retryInMs: delay }, 'session lost; reconnecting');
        // DELETE the dead session first so the ingest does not see two
        // publishers. When the ingest ended it itself, the DELETE is only
        // tidiness: send it without waiting for the answer.
        if (session.endedByIngest) void session.close(true, 1000);
        else await session.close(true, 1000);
      } catch (err) {
        await session.close(true, 1000);
        if (signal.aborted) break;
        this.counters.failedAttempts++;
        const error = err instanceof Error ? err : new Error(String(err));
        if (error instanceof WhipHttpError && error.retryClass === 'slow') {
          delay = Math.max(this.#o.slowRetryMs, error.retryAfterMs ?? 0);
          this.#log.error(
            { status: error.status, problem: error.problem, retryInMs: delay },
            'ingest rejected the offer',
          );
        } else {
          delay = Math.max(
            this.#backoff.next(),
            Math.min(error instanceof WhipHttpError ? (error.retryAfterMs ?? 0) : 0, 60_000),
          );
          const detail = error instanceof WhipHttpError ? { status: error.status, problem: error.problem } : {};
          this.#log.warn({ err: error.message, ...detail, retryInMs: delay }, 'connect attempt failed');
        }
        this.emit('connect-failed', { error, retryInMs: delay });
      }
      await sleep(delay, signal);
    }
    const warm = this.#warm;
    this.#warm = undefined;
    await warm?.close(false);
  }
}
