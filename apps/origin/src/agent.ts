import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { BilliardsScore, type ScoreUpdate, StreamId } from '@matchmesh/protocol';
import { VIDEO_CLOCK_RATE } from './codecs.ts';
import { FULL_SIZE, TESTPATTERN, type VideoSize, type X264Preset } from './ffmpeg-args.ts';
import { gstreamerAvailable } from './gst-encoder.ts';
import type { OriginEncoder } from './gst-pipeline.ts';
import { type ConnectedInfo, IngestLane } from './ingest-lane.ts';
import { KeyFrameGate } from './keyframe-gate.ts';
import { capLadderFps, describeLadder, type LadderLayer } from './ladder.ts';
import { type Logger, quietLogger } from './log.ts';
import { type MediaKind, MediaSource } from './media-source.ts';
import { PATTERN_FPS } from './pattern-layout.ts';
import { LayerTimeline, MediaClock } from './rtp.ts';
import { ScoreNumbering } from './score-epoch.ts';
import { ScoreGenerator } from './score-generator.ts';
import { type JournalState, ScoreJournal } from './score-journal.ts';
import { whipEndpoint } from './whip-client.ts';

export type { ConnectedInfo } from './ingest-lane.ts';

/*
 * The origin agent: one media source, one ordered stream of score updates,
 * and one IngestLane per ingest it publishes to (the primary, and with
 * redundant ingest a backup on another node), each with one WHIP session at
 * a time, rebuilt whenever it dies.
 */

export interface OriginAgentOptions {
  /** Base URL of the ingest node, e.g. http://127.0.0.1:8080 (we POST to /whip/:stream). */
  ingestUrl: string;
  stream: string;
  /** Publisher token (Bearer) for the WHIP endpoint. */
  token: string;
  /** Redundant ingest: also publish to this node, with a token that has the `backup` claim. */
  backupIngestUrl?: string;
  backupToken?: string;
  /** On-disk score queue (survives an agent restart); undefined = memory only. */
  scoreQueueFile?: string;
  /** 'testpattern' (default) or an ffmpeg input: file path, rtmp://..., srt://... */
  source?: string;
  videoBitrateKbps?: number;
  /** Encoded picture size (default 1280x720). */
  videoSize?: VideoSize;
  /**
   * Simulcast ladder (ladder.ts `parseLadder`): these layers are encoded by
   * one ffmpeg and published as RFC 8853 simulcast. Undefined (the library
   * default) publishes one layer of `videoSize` / `videoBitrateKbps`; a
   * one-layer ladder publishes that layer without simulcast.
   */
  ladder?: LadderLayer[];
  /** x264 preset of the ladder's layers (default 'ultrafast'). */
  x264Preset?: X264Preset;
  /**
   * Key frame interval. The ingest can splice a new session into the stream
   * only from a key frame, and ffmpeg cannot honour a PLI, so after a
   * reconnect viewers wait up to this long (default 1000).
   */
  keyframeIntervalMs?: number;
  /**
   * Video encoder: 'gstreamer' (ffmpeg draws or decodes, GStreamer's x264
   * encodes and forces a key frame on every request the ingest sends), 'ffmpeg'
   * (ffmpeg encodes: key frames only every `keyframeIntervalMs`), or 'auto'
   * (default): GStreamer where it covers the source (the test pattern, any
   * single-layer source) and is installed, ffmpeg otherwise (an external
   * source with a ladder: its frame rate is the source's, which raw frames
   * to GStreamer cannot carry).
   */
  encoder?: OriginEncoder;
  /** Requests within this long of a forwarded one are answered by its key frame (keyframe-gate.ts; default 100). */
  keyFrameMergeMs?: number;
  /** python3 with GStreamer's bindings (default /usr/bin/python3). */
  pythonPath?: string;
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
  /** First retry after a stable session died: uniformly random in [0, this] ms (default 50). */
  firstRetryJitterMs?: number;
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

export interface AgentEvents {
  connected: [info: ConnectedInfo];
  disconnected: [info: { reason: string; requeued: number; lane: 'primary' | 'backup' }];
  'score-sent': [update: ScoreUpdate, info: { replay: boolean }];
  /** A connection attempt failed (HTTP rejection, ICE timeout...); the agent retries. */
  'connect-failed': [info: { error: Error; retryInMs: number }];
}

export interface AgentStats {
  connected: boolean;
  sessionUrl: string | undefined;
  packetsSent: Record<MediaKind, number>;
  packetsFromSource: Record<MediaKind, number>;
  /** Per video layer (lowest first; one entry without a ladder): packets read from ffmpeg and sent on the primary lane. */
  layers: {
    rid: string | undefined;
    size: string;
    maxFps: number;
    kbps: number;
    packetsFromSource: number;
    packetsSent: number;
  }[];
  /** Packets read from ffmpeg while no session could carry them. */
  packetsDropped: Record<MediaKind, number>;
  connectAttempts: number;
  failedAttempts: number;
  reconnects: number;
  queueLength: number;
  lastSeq: number;
  /** This agent's score epoch (score-epoch.ts). */
  epoch: number;
  scoresSent: number;
  scoresReplayed: number;
  scoresDropped: number;
  frame: number;
  mediaTimeMs: number;
  sourceRestarts: number;
  pliReceived: number;
  nackReceived: number;
  /** The encoder in use ('gstreamer' honours key-frame requests). */
  encoder: 'gstreamer' | 'ffmpeg';
  /**
   * Key frames on request: requests from the ingests (received), passed to the
   * encoder (forwarded), answered by one already in flight (merged); key
   * frames the encoder produced on request (forced) and by its GOP
   * (periodic), per layer (lowest first).
   */
  keyFrames: {
    received: number;
    forwarded: number;
    merged: number;
    forced: number[];
    periodic: number[];
    /** Wall clock (ms) of the encoder's newest key frame; of its newest forced ones (the last 64). */
    lastAtMs: number | undefined;
    forcedAtMs: number[];
  };
  /** Per ingest (primary, and backup with redundant ingest). */
  lanes: {
    name: string;
    connected: boolean;
    sessionUrl: string | undefined;
    reconnects: number;
    queueLength: number;
  }[];
  /** Updates re-queued from the on-disk journal at start (left undelivered by a previous run). */
  scoresRecovered: number;
}

function isLoopbackHost(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export class OriginAgent extends EventEmitter<AgentEvents> {
  readonly stream: string;
  private readonly opts: Required<
    Omit<OriginAgentOptions, 'scoreSeed' | 'backupIngestUrl' | 'backupToken' | 'scoreQueueFile' | 'ladder'>
  > &
    Pick<OriginAgentOptions, 'scoreSeed' | 'backupIngestUrl' | 'backupToken' | 'scoreQueueFile' | 'ladder'>;
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
    this.opts = {
      source,
      videoBitrateKbps: 1500,
      videoSize: FULL_SIZE,
      keyframeIntervalMs: 1000,
      burnStrips: false,
      loop: true,
      rtmpListen: true,
      ffmpegPath: 'ffmpeg',
      scoreIntervalMs: source === TESTPATTERN ? 2000 : 0,
      queueCapacity: 10_000,
      backoffBaseMs: 200,
      backoffCapMs: 5000,
      firstRetryJitterMs: 50,
      slowRetryMs: 15_000,
      stableAfterMs: 5000,
      connectTimeoutMs: 10_000,
      livenessTimeoutMs: 800,
      replayMarginMs: 2000,
      useIpv6: true,
      x264Preset: 'ultrafast',
      encoder: 'auto',
      keyFrameMergeMs: 100,
      // Debian's python3, where python3-gst-1.0 lives (a pyenv or venv python3 earlier on PATH lacks it).
      pythonPath: existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3',
      logger: quietLogger(),
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as typeof this.opts;
    this.stream = StreamId.parse(options.stream);
    this.log = this.opts.logger.child({ stream: this.stream });
    this.endpoint = whipEndpoint(this.opts.ingestUrl, this.stream);
    // The test pattern is drawn at 30 fps: its layers say so (rid max-fps, level).
    this.ladder =
      this.opts.ladder && (source === TESTPATTERN ? capLadderFps(this.opts.ladder, PATTERN_FPS) : this.opts.ladder);
    this.timeline = new LayerTimeline(this.ladder?.length ?? 1);
    this.encoder = this.chooseEncoder(source);
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

  private chooseEncoder(source: string): 'gstreamer' | 'ffmpeg' {
    const wanted = this.opts.encoder;
    if (wanted === 'ffmpeg') return 'ffmpeg';
    const covered = source === TESTPATTERN || !this.ladder || this.ladder.length === 1;
    if (wanted === 'auto' && !covered) return 'ffmpeg';
    if (gstreamerAvailable(this.opts.pythonPath)) return 'gstreamer';
    if (wanted === 'gstreamer')
      throw new Error('MM_ORIGIN_ENCODER=gstreamer: python3 with GStreamer (gi, x264enc) is not available');
    this.log.warn(
      'GStreamer (python3-gst-1.0, x264enc) not found: encoding with ffmpeg, key-frame requests are not honoured',
    );
    return 'ffmpeg';
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
