import { EventEmitter } from 'node:events';
import { BilliardsScore, type ScoreUpdate, StreamId } from '@matchmesh/protocol';
import { Backoff, sleep } from './backoff.ts';
import { VIDEO_CLOCK_RATE } from './codecs.ts';
import { TESTPATTERN } from './ffmpeg-args.ts';
import { type Logger, quietLogger } from './log.ts';
import { type MediaKind, MediaSource } from './media-source.ts';
import { PATTERN_FPS } from './pattern-layout.ts';
import { MediaClock } from './rtp.ts';
import { ScoreGenerator } from './score-generator.ts';
import { ScoreOutbox } from './score-outbox.ts';
import { PublishSession } from './session.ts';
import { WhipHttpError, whipEndpoint } from './whip-client.ts';

/*
 * The origin agent: one media source, one WHIP session at a time (rebuilt
 * whenever it dies), one ordered stream of score updates.
 */

export interface OriginAgentOptions {
  /** Base URL of the ingest node, e.g. http://127.0.0.1:8080 (we POST to /whip/:stream). */
  ingestUrl: string;
  stream: string;
  /** Publisher token (Bearer) for the WHIP endpoint. */
  token: string;
  /** 'testpattern' (default) or an ffmpeg input: file path, rtmp://..., srt://... */
  source?: string;
  videoBitrateKbps?: number;
  /** Burn the frame/clock strips on external sources too (always on for the test pattern). */
  burnStrips?: boolean;
  /** Files: loop forever (default true). */
  loop?: boolean;
  /** rtmp:// sources: be the RTMP server (ffmpeg -listen 1) so OBS can push (default true). */
  rtmpListen?: boolean;
  ffmpegPath?: string;
  /** Built-in score generator period; 0 = off. Default: 2000 for the test pattern, 0 otherwise. */
  scoreIntervalMs?: number;
  scoreSeed?: number;
  /** Max updates held while disconnected (oldest dropped beyond). */
  queueCapacity?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Delay after a non-transient rejection (401, 403, 404, 400...). */
  slowRetryMs?: number;
  /** Reset the backoff only after a session stayed up this long (stops flapping hot loops). */
  stableAfterMs?: number;
  connectTimeoutMs?: number;
  livenessTimeoutMs?: number;
  /** Re-send updates written this long before the ingest was last heard from. */
  replayMarginMs?: number;
  useIpv6?: boolean;
  logger?: Logger;
}

export interface ConnectedInfo {
  sessionUrl: string;
  etag: string | undefined;
  /** 0 for the first session, then 1, 2... */
  reconnects: number;
}

export interface AgentEvents {
  connected: [info: ConnectedInfo];
  disconnected: [info: { reason: string; requeued: number }];
  'score-sent': [update: ScoreUpdate, info: { replay: boolean }];
  /** A connection attempt failed (HTTP rejection, ICE timeout...); the agent retries. */
  'connect-failed': [info: { error: Error; retryInMs: number }];
}

export interface AgentStats {
  connected: boolean;
  sessionUrl: string | undefined;
  packetsSent: Record<MediaKind, number>;
  packetsFromSource: Record<MediaKind, number>;
  /** Packets read from ffmpeg while no session could carry them. */
  packetsDropped: Record<MediaKind, number>;
  connectAttempts: number;
  failedAttempts: number;
  reconnects: number;
  queueLength: number;
  lastSeq: number;
  scoresSent: number;
  scoresReplayed: number;
  scoresDropped: number;
  frame: number;
  mediaTimeMs: number;
  sourceRestarts: number;
  pliReceived: number;
  nackReceived: number;
}

/** Stop writing to the channel above this; 'writable' (bufferedamountlow) resumes. */
const CHANNEL_HIGH_WATER = 1024 * 1024;

function isLoopbackHost(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export class OriginAgent extends EventEmitter<AgentEvents> {
  readonly stream: string;
  private readonly opts: Required<Omit<OriginAgentOptions, 'scoreSeed'>> & { scoreSeed?: number };
  private readonly log: Logger;
  private readonly endpoint: string;
  private readonly clock = new MediaClock(VIDEO_CLOCK_RATE, PATTERN_FPS);
  private readonly outbox: ScoreOutbox;
  private readonly backoff: Backoff;
  private media: MediaSource | undefined;
  private session: PublishSession | undefined;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private generatorTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private highestWrittenSeq = 0;
  private latest: ScoreUpdate | undefined;
  private running = false;
  private readonly counters = {
    packetsSent: { audio: 0, video: 0 },
    packetsDropped: { audio: 0, video: 0 },
    connectAttempts: 0,
    failedAttempts: 0,
    reconnects: 0,
    scoresSent: 0,
    sourceRestarts: 0,
    pli: 0,
    nack: 0,
  };

  constructor(options: OriginAgentOptions) {
    super();
    const source = options.source ?? TESTPATTERN;
    this.opts = {
      source,
      videoBitrateKbps: 1500,
      burnStrips: false,
      loop: true,
      rtmpListen: true,
      ffmpegPath: 'ffmpeg',
      scoreIntervalMs: source === TESTPATTERN ? 2000 : 0,
      queueCapacity: 10_000,
      backoffBaseMs: 200,
      backoffCapMs: 5000,
      slowRetryMs: 15_000,
      stableAfterMs: 5000,
      connectTimeoutMs: 10_000,
      livenessTimeoutMs: 4000,
      replayMarginMs: 2000,
      useIpv6: true,
      logger: quietLogger(),
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as typeof this.opts;
    this.stream = StreamId.parse(options.stream);
    this.log = this.opts.logger.child({ stream: this.stream });
    this.endpoint = whipEndpoint(this.opts.ingestUrl, this.stream);
    this.outbox = new ScoreOutbox(this.opts.queueCapacity);
    this.backoff = new Backoff(this.opts.backoffBaseMs, this.opts.backoffCapMs);
  }

  /** Start the media source and the (re)connect loop. Resolves once ffmpeg is running, not when connected. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.media = new MediaSource(
      {
        source: this.opts.source,
        videoBitrateKbps: this.opts.videoBitrateKbps,
        burnStrips: this.opts.burnStrips,
        loop: this.opts.loop,
        listen: this.opts.rtmpListen,
        ffmpegPath: this.opts.ffmpegPath,
        restartDelayMs: 1000,
        logger: this.log,
      },
      (kind, packet, header) => this.forward(kind, packet, header.timestamp),
    );
    this.media.on('started', (incarnation) => {
      if (incarnation === 1) return;
      this.counters.sourceRestarts++;
      this.clock.sourceRestarted();
      this.session?.sourceRestarted();
    });
    await this.media.start();
    this.log.info({ endpoint: this.endpoint, source: this.opts.source }, 'origin agent started');
    this.loop = this.connectLoop(this.abort.signal);

    if (this.opts.scoreIntervalMs > 0) {
      const generator = new ScoreGenerator({ seed: this.opts.scoreSeed });
      this.sendScore(generator.current('Match starting'));
      this.generatorTimer = setInterval(() => this.sendScore(generator.next()), this.opts.scoreIntervalMs);
    }
  }

  /** Clean shutdown: DELETE the WHIP session, close the peer connection, stop ffmpeg. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.generatorTimer);
    this.abort.abort();
    await this.loop;
    await this.media?.stop();
    this.log.info({ stats: this.stats }, 'origin agent stopped');
  }

  /** Synchronous last resort for process 'exit' hooks: no DELETE, just make sure ffmpeg dies. */
  kill(): void {
    clearInterval(this.generatorTimer);
    this.abort.abort();
    this.media?.killNow();
  }

  /**
   * Queue a score update; it is sent at once when connected, otherwise when
   * the next session is up. Throws (ZodError) on an invalid score.
   */
  sendScore(score: BilliardsScore, mediaTime?: number): ScoreUpdate {
    const update: ScoreUpdate = {
      stream: this.stream,
      seq: ++this.seq,
      mediaTime: mediaTime ?? this.clock.mediaTimeMs,
      sentAt: Date.now(),
      score: BilliardsScore.parse(score),
    };
    this.latest = update;
    this.outbox.push(update);
    this.flush();
    return update;
  }

  get latestScore(): ScoreUpdate | undefined {
    return this.latest;
  }

  get mediaTimeMs(): number {
    return this.clock.mediaTimeMs;
  }

  get connected(): boolean {
    return this.session?.mediaReady ?? false;
  }

  /** The SDP offer/answer of the current session (diagnostics, tests). */
  get currentSdp(): { offer: string | undefined; answer: string | undefined } {
    return { offer: this.session?.offerSdp, answer: this.session?.answerSdp };
  }

  get stats(): AgentStats {
    const s = this.session;
    return {
      connected: this.connected,
      sessionUrl: s?.sessionUrl,
      packetsSent: { ...this.counters.packetsSent },
      packetsFromSource: { ...(this.media?.packetsIn ?? { audio: 0, video: 0 }) },
      packetsDropped: { ...this.counters.packetsDropped },
      connectAttempts: this.counters.connectAttempts,
      failedAttempts: this.counters.failedAttempts,
      reconnects: this.counters.reconnects,
      queueLength: this.outbox.length,
      lastSeq: this.seq,
      scoresSent: this.counters.scoresSent,
      scoresReplayed: this.outbox.replayed,
      scoresDropped: this.outbox.dropped,
      frame: this.clock.frame,
      mediaTimeMs: this.clock.mediaTimeMs,
      sourceRestarts: this.counters.sourceRestarts,
      pliReceived: this.counters.pli + (s?.feedback.pli ?? 0),
      nackReceived: this.counters.nack + (s?.feedback.nack ?? 0),
    };
  }

  /** The ffmpeg child's pid (tests check it is gone after stop()). */
  get ffmpegPid(): number | undefined {
    return this.media?.pid;
  }

  // ------------------------------------------------------------------ media

  private forward(kind: MediaKind, packet: Buffer, rtpTimestamp: number): void {
    // The clock runs whether or not we are connected: mediaTime of scores
    // produced during an outage must still match the video frames.
    if (kind === 'video') {
      this.clock.update(rtpTimestamp);
      // Outgoing video RTP timestamps are the media clock's ticks (frame n =
      // 3000 n), so HLS packagers can map frames to score mediaTimes exactly.
      packet.writeUInt32BE(this.clock.ticksOf(rtpTimestamp), 4);
    }
    const session = this.session;
    if (!session?.mediaReady) {
      this.counters.packetsDropped[kind]++;
      return;
    }
    session.sendRtp(kind, packet).then(
      () => {
        this.counters.packetsSent[kind]++;
      },
      (err: unknown) => this.log.debug({ err, kind }, 'sendRtp failed'),
    );
  }

  // ----------------------------------------------------------------- scores

  private flush(): void {
    const session = this.session;
    if (!session?.channelWritable) return;
    for (let update = this.outbox.peek(); update; update = this.outbox.peek()) {
      if (session.channel.bufferedAmount > CHANNEL_HIGH_WATER) return;
      try {
        session.sendScoreText(JSON.stringify(update));
      } catch (err) {
        this.log.warn({ err }, 'score channel send failed; will retry on the next session');
        return;
      }
      this.outbox.markSent();
      const replay = update.seq <= this.highestWrittenSeq;
      if (!replay) {
        this.highestWrittenSeq = update.seq;
        this.counters.scoresSent++;
      }
      this.emit('score-sent', update, { replay });
    }
  }

  // ------------------------------------------------------------- connection

  private async connectLoop(signal: AbortSignal): Promise<void> {
    let everConnected = false;
    while (!signal.aborted) {
      this.counters.connectAttempts++;
      const session = new PublishSession({
        endpoint: this.endpoint,
        token: this.opts.token,
        logger: this.log,
        connectTimeoutMs: this.opts.connectTimeoutMs,
        livenessTimeoutMs: this.opts.livenessTimeoutMs,
        extraHostAddresses: isLoopbackHost(this.opts.ingestUrl) ? ['127.0.0.1'] : [],
        useIpv6: this.opts.useIpv6,
      });
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
        this.session = session;
        session.on('writable', () => this.flush());
        this.log.info({ sessionUrl: session.sessionUrl, reconnects: this.counters.reconnects }, 'publishing');
        this.emit('connected', {
          sessionUrl: session.sessionUrl!,
          etag: session.etag,
          reconnects: this.counters.reconnects,
        });
        this.flush();

        const reason = await Promise.race([
          dead,
          new Promise<string>((r) => signal.addEventListener('abort', () => r('stopped'), { once: true })),
        ]);
        this.session = undefined;
        this.counters.pli += session.feedback.pli;
        this.counters.nack += session.feedback.nack;
        if (reason === 'stopped') {
          await session.close(true);
          break;
        }
        // Anything written after the ingest was last heard from may be lost.
        const requeued = this.outbox.requeueSentSince(session.lastInbound - this.opts.replayMarginMs);
        this.emit('disconnected', { reason, requeued });
        if (Date.now() - (session.connectedAt ?? 0) >= this.opts.stableAfterMs) this.backoff.reset();
        delay = this.backoff.next();
        this.log.warn({ reason, requeued, retryInMs: delay }, 'session lost; reconnecting');
        // DELETE the dead session first so the ingest does not see two publishers.
        await session.close(true, 1000);
      } catch (err) {
        await session.close(true, 1000);
        if (signal.aborted) break;
        this.counters.failedAttempts++;
        const error = err instanceof Error ? err : new Error(String(err));
        if (error instanceof WhipHttpError && error.retryClass === 'slow') {
          delay = Math.max(this.opts.slowRetryMs, error.retryAfterMs ?? 0);
          this.log.error(
            { status: error.status, problem: error.problem, retryInMs: delay },
            'ingest rejected the offer',
          );
        } else {
          delay = Math.max(
            this.backoff.next(),
            Math.min(error instanceof WhipHttpError ? (error.retryAfterMs ?? 0) : 0, 60_000),
          );
          const detail =
            error instanceof WhipHttpError ? { status: error.status, problem: error.problem } : {};
          this.log.warn({ err: error.message, ...detail, retryInMs: delay }, 'connect attempt failed');
        }
        this.emit('connect-failed', { error, retryInMs: delay });
      }
      await sleep(delay, signal);
    }
  }
}
