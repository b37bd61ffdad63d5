import { EventEmitter } from 'node:events';
import { BilliardsScore, type ScoreUpdate, StreamId } from '@matchmesh/protocol';
import { chooseEncoder, type ResolvedAgentOptions, withAgentDefaults } from './agent-defaults.ts';
import type { AgentEvents, AgentStats, OriginAgentOptions } from './agent-types.ts';
import { VIDEO_CLOCK_RATE } from './codecs.ts';
import { TESTPATTERN } from './ffmpeg-args.ts';
import { IngestLane } from './ingest-lane.ts';
import { KeyFrameGate } from './keyframe-gate.ts';
import { capLadderFps, describeLadder, type LadderLayer } from './ladder.ts';
import type { Logger } from './log.ts';
import { type MediaKind, MediaSource } from './media-source.ts';
import { PATTERN_FPS } from './pattern-layout.ts';
import { LayerTimeline, MediaClock } from './rtp.ts';
import { ScoreNumbering } from './score-epoch.ts';
import { ScoreGenerator } from './score-generator.ts';
import { type JournalState, ScoreJournal } from './score-journal.ts';
import { whipEndpoint } from './whip-client.ts';

// The agent's options, events and stats live in agent-types.ts; re-exported for the modules that import them from here.
export type { AgentEvents, AgentStats, OriginAgentOptions } from './agent-types.ts';
export type { ConnectedInfo } from './ingest-lane.ts';

/*
 * The origin agent: one media source, one ordered stream of score updates,
 * and one IngestLane per ingest it publishes to (the primary, and with
 * redundant ingest a backup on another node), each with one WHIP session at
 * a time, rebuilt whenever it dies.
 */

function isLoopbackHost(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export class OriginAgent extends EventEmitter<AgentEvents> {
  readonly stream: string;
  private readonly opts: ResolvedAgentOptions;
  private readonly log: Logger;
  private readonly endpoint: string;
  private readonly clock: MediaClock;
  /** The video layers as published (lowest first); undefined = one layer without simulcast. */
  readonly ladder: readonly LadderLayer[] | undefined;
  private readonly timeline: LayerTimeline;
  /** lanes[0] is the primary ingest; lanes[1] the backup, with redundant ingest. */
  private readonly lanes: IngestLane[];
  private readonly journal: ScoreJournal | undefined;
  /** The agent's epoch and its offset into the stream's seq (score-epoch.ts). */
  private readonly numbering: ScoreNumbering;
  private media: MediaSource | undefined;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private generatorTimer: NodeJS.Timeout | undefined;
  private journalTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private latest: ScoreUpdate | undefined;
  private running = false;
  private recovered = 0;
  private readonly counters = { sourceRestarts: 0 };
  /** The encoder chosen at start (auto resolved). */
  readonly encoder: 'gstreamer' | 'ffmpeg';
  private readonly keyFrameGate: KeyFrameGate;

  constructor(options: OriginAgentOptions) {
    super();
    const source = options.source ?? TESTPATTERN;
    this.opts = withAgentDefaults(options, source);
    this.stream = StreamId.parse(options.stream);
    this.log = this.opts.logger.child({ stream: this.stream });
    this.endpoint = whipEndpoint(this.opts.ingestUrl, this.stream);
    // The test pattern is drawn at 30 fps: its layers say so (rid max-fps, level).
    this.ladder =
      this.opts.ladder && (source === TESTPATTERN ? capLadderFps(this.opts.ladder, PATTERN_FPS) : this.opts.ladder);
    this.timeline = new LayerTimeline(this.ladder?.length ?? 1);
    this.encoder = chooseEncoder(this.opts.encoder, source, this.ladder, this.opts.pythonPath, this.log);
    this.keyFrameGate = new KeyFrameGate(this.opts.keyFrameMergeMs, () => this.media?.requestKeyFrame() ?? false);
    // Frame counting follows the fastest layer (30 fps for the pattern and the single layer).
    this.clock = new MediaClock(VIDEO_CLOCK_RATE, Math.max(...(this.ladder?.map((l) => l.maxFps) ?? [PATTERN_FPS])));
    // The score journal first: it says whether this agent resumes an epoch or starts a new one.
    let recovered: JournalState | undefined;
    if (this.opts.scoreQueueFile) {
      this.journal = new ScoreJournal(this.opts.scoreQueueFile, this.opts.queueCapacity);
      recovered = this.journal.load();
      this.seq = recovered.lastSeq;
      this.latest = recovered.pending.at(-1);
      this.recovered = recovered.pending.length;
      if (recovered.lastSeq > 0) {
        this.log.info(
          { lastSeq: recovered.lastSeq, requeued: recovered.pending.length, skipped: recovered.skipped },
          'score journal recovered',
        );
      }
    }
    this.numbering = recovered?.numbering ? ScoreNumbering.resumed(recovered.numbering) : ScoreNumbering.fresh();
    if (!recovered?.numbering) this.journal?.recordNumbering(this.numbering.state);
    this.log.info(this.numbering.state, recovered?.numbering ? 'score epoch resumed' : 'score epoch begins');
    const lane = (name: 'primary' | 'backup', url: string, token: string) =>
      new IngestLane({
        name,
        endpoint: whipEndpoint(url, this.stream),
        token,
        logger: this.log,
        queueCapacity: this.opts.queueCapacity,
        backoffBaseMs: this.opts.backoffBaseMs,
        backoffCapMs: this.opts.backoffCapMs,
        firstRetryJitterMs: this.opts.firstRetryJitterMs,
        slowRetryMs: this.opts.slowRetryMs,
        stableAfterMs: this.opts.stableAfterMs,
        connectTimeoutMs: this.opts.connectTimeoutMs,
        livenessTimeoutMs: this.opts.livenessTimeoutMs,
        replayMarginMs: this.opts.replayMarginMs,
        extraHostAddresses: isLoopbackHost(url) ? ['127.0.0.1'] : [],
        useIpv6: this.opts.useIpv6,
        ladder: this.ladder,
        numbering: this.numbering,
        onKeyFrameRequest: () => this.keyFrameGate.request(),
        onNumberingSettled: () => {
          this.journal?.recordNumbering(this.numbering.state);
          this.log.info({ ...this.numbering.state, lane: name }, 'score numbering settled by the ingest');
        },
      });
    this.lanes = [lane('primary', this.opts.ingestUrl, this.opts.token)];
    if (this.opts.backupIngestUrl) {
      this.lanes.push(lane('backup', this.opts.backupIngestUrl, this.opts.backupToken ?? this.opts.token));
    }
    // The agent's events are the primary lane's (the backup's are in the logs and stats).
    const primary = this.lanes[0]!;
    primary.on('connected', (i) => this.emit('connected', i));
    primary.on('disconnected', (i) => this.emit('disconnected', i));
    primary.on('score-sent', (u, i) => this.emit('score-sent', u, i));
    primary.on('connect-failed', (i) => this.emit('connect-failed', i));
    for (const l of this.lanes) {
      l.on('connected', (i) => this.log.info(i, 'lane connected'));
      l.on('disconnected', (i) => this.log.warn(i, 'lane disconnected'));
    }
    for (const update of recovered?.pending ?? []) for (const l of this.lanes) l.outbox.push(update);
  }

  private get primary(): IngestLane {
    return this.lanes[0]!;
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
        size: this.opts.videoSize,
        gopFrames: Math.max(1, Math.round((this.opts.keyframeIntervalMs * PATTERN_FPS) / 1000)),
        burnStrips: this.opts.burnStrips,
        ladder: this.ladder,
        keyframeIntervalMs: this.opts.keyframeIntervalMs,
        preset: this.opts.x264Preset,
        encoder: this.encoder,
        pythonPath: this.opts.pythonPath,
        loop: this.opts.loop,
        listen: this.opts.rtmpListen,
        ffmpegPath: this.opts.ffmpegPath,
        restartDelayMs: 1000,
        logger: this.log,
      },
      (kind, packet, _header, layer) => this.forward(kind, packet, layer),
    );
    this.media.on('started', (incarnation) => {
      if (incarnation === 1) return;
      this.counters.sourceRestarts++;
      this.clock.sourceRestarted();
      this.timeline.sourceRestarted();
      for (const l of this.lanes) l.sourceRestarted();
    });
    await this.media.start();
    this.log.info(
      {
        endpoint: this.endpoint,
        backup: this.opts.backupIngestUrl,
        source: this.opts.source,
        ladder: this.ladder ? describeLadder(this.ladder) : 'off',
        encoder: this.encoder,
      },
      'origin agent started',
    );
    const signal = this.abort.signal;
    this.loop = Promise.all(this.lanes.map((l) => l.run(signal))).then(() => undefined);
    if (this.journal) {
      // Mark on disk what every ingest surely has, so a restart re-sends only the rest.
      this.journalTimer = setInterval(() => this.markDelivered(), 500);
      this.journalTimer.unref();
    }

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
    clearInterval(this.journalTimer);
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
    this.journal?.append(update);
    for (const l of this.lanes) l.push(update);
    return this.onWire(update);
  }

  /** The newest update, as the ingest gets it once an ingest settled the numbering (own count before). */
  get latestScore(): ScoreUpdate | undefined {
    return this.latest && this.onWire(this.latest);
  }

  private onWire(update: ScoreUpdate): ScoreUpdate {
    return this.numbering.settled ? this.numbering.toWire(update) : update;
  }

  get mediaTimeMs(): number {
    return this.clock.mediaTimeMs;
  }

  get connected(): boolean {
    return this.primary.connected;
  }

  /** The SDP offer/answer of the current session (diagnostics, tests). */
  get currentSdp(): { offer: string | undefined; answer: string | undefined } {
    const s = this.primary.session;
    return { offer: s?.offerSdp, answer: s?.answerSdp };
  }

  get stats(): AgentStats {
    const p = this.primary;
    const s = p.session;
    const c = p.counters;
    return {
      connected: this.connected,
      sessionUrl: s?.sessionUrl,
      packetsSent: { ...c.packetsSent },
      packetsFromSource: { ...(this.media?.packetsIn ?? { audio: 0, video: 0 }) },
      layers: (this.ladder ?? [undefined]).map((l, i) => ({
        rid: l?.rid,
        size: l ? `${l.width}x${l.height}` : `${this.opts.videoSize.width}x${this.opts.videoSize.height}`,
        maxFps: l?.maxFps ?? PATTERN_FPS,
        kbps: l?.kbps ?? this.opts.videoBitrateKbps,
        packetsFromSource: this.media?.layerPacketsIn[i] ?? 0,
        packetsSent: p.counters.layerPacketsSent[i] ?? 0,
      })),
      packetsDropped: { ...c.packetsDropped },
      connectAttempts: c.connectAttempts,
      failedAttempts: c.failedAttempts,
      reconnects: c.reconnects,
      queueLength: p.outbox.length,
      /** The stream's seq of the newest update (the agent's own count until an ingest settled the numbering). */
      lastSeq: this.seq + (this.numbering.state.offset ?? 0),
      epoch: this.numbering.state.epoch,
      scoresSent: c.scoresSent,
      scoresReplayed: p.outbox.replayed,
      scoresDropped: p.outbox.dropped,
      frame: this.clock.frame,
      mediaTimeMs: this.clock.mediaTimeMs,
      sourceRestarts: this.counters.sourceRestarts,
      pliReceived: c.pli + (s?.feedback.pli ?? 0),
      nackReceived: c.nack + (s?.feedback.nack ?? 0),
      encoder: this.encoder,
      keyFrames: {
        ...this.keyFrameGate.counts,
        forced: [...(this.media?.keyFrames.forced ?? [])],
        periodic: [...(this.media?.keyFrames.periodic ?? [])],
        lastAtMs: this.media?.keyFrames.lastAtMs,
        forcedAtMs: [...(this.media?.keyFrames.forcedAtMs ?? [])],
      },
      lanes: this.lanes.map((l) => ({
        name: l.name,
        connected: l.connected,
        sessionUrl: l.session?.sessionUrl,
        reconnects: l.counters.reconnects,
        queueLength: l.outbox.length,
      })),
      scoresRecovered: this.recovered,
    };
  }

  /** The ffmpeg child's pid (tests check it is gone after stop()). */
  get ffmpegPid(): number | undefined {
    return this.media?.pid;
  }

  // ------------------------------------------------------------------ media

  private forward(kind: MediaKind, packet: Buffer, layer: number): void {
    // The clock runs whether or not we are connected: mediaTime of scores
    // produced during an outage must still match the video frames.
    if (kind === 'video') {
      // Sequence numbers continuous per layer; the timestamp on the timeline all layers share.
      const shared = this.timeline.map(layer, packet);
      this.clock.update(shared);
      // Outgoing video RTP timestamps are the media clock's ticks (frame n =
      // 3000 n at 30 fps), the same in every layer for the same frame, so HLS
      // packagers and players map frames to score mediaTimes exactly.
      packet.writeUInt32BE(this.clock.ticksOf(shared), 4);
    }
    // Each lane's werift sender gets its own copy (it may rewrite the header).
    for (const [i, l] of this.lanes.entries()) l.sendRtp(kind, i === 0 ? packet : Buffer.from(packet), layer);
  }

  // ----------------------------------------------------------------- scores

  private markDelivered(): void {
    const seq = Math.min(...this.lanes.map((l) => l.deliveredSeq()));
    if (seq > 0) this.journal?.delivered(seq);
  }
}
