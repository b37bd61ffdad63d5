import type {
  ConsumerInfo,
  JoinResponse,
  RelayAlternative,
  RtpCapabilities,
  SignalingNotification,
  TransportInfo,
  VideoLayersInfo,
} from '@matchmesh/protocol';
import type { Device, types as ms } from 'mediasoup-client';
import { programPlayoutMs, RecentAverage, TARGET_STEP_MS } from './commentaryAlignment.ts';
import { TypedEmitter } from './emitter.ts';
import { SignalingRequestError } from './errors.ts';
import { failureOf } from './failure.ts';
import { clientRtpCapabilities, clientRtpParameters } from './mediaTypes.ts';
import { playoutDelayOf, setPlayoutDelay, toError } from './receivers.ts';
import { ScoreChannel } from './ScoreChannel.ts';
import { type ReceivedScore, ScoreFeed } from './ScoreFeed.ts';
import { SessionLifecycle, type SessionState, type SessionStateChange } from './SessionLifecycle.ts';
import {
  SignalingClient,
  type SignalingResponseData,
  signalingUrl,
  type WebSocketConstructor,
} from './SignalingClient.ts';
import { audioBufferOf, audioPacketsBySource, baseStats, type SessionStats, summarizeStats } from './sessionStats.ts';
import { markStep } from './timing.ts';
import { loadDevice } from './warmDevice.ts';

export type { SessionState, SessionStateChange } from './SessionLifecycle.ts';
export { type SessionStats, summarizeStats } from './sessionStats.ts';

export type WebRtcSessionOptions = {
  /** HTTP base URL of the node, e.g. http://127.0.0.1:8080 (a ws(s) URL is used as is). */
  nodeUrl: string;
  stream: string;
  token: string;
  role?: 'viewer' | 'commentator';
  /** Ask the node for ICE over TCP only (the ladder's second rung). */
  forceTcp?: boolean;
  iceServers?: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * Fail if ICE+DTLS is not up this long after negotiation started (default
   * 5 s: on a path that works both complete in well under a second, and the
   * Player falls back to HLS when this fires, so a blocked viewer waits 5 s,
   * not the browser's own ~30 s ICE failure).
   */
  iceTimeoutMs?: number;
  /** Fail if ICE stays 'disconnected' this long. */
  disconnectedTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Defaults to globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Share a feed across sessions (reconnects keep seq continuity). */
  scoreFeed?: ScoreFeed;
  /** mediasoup-client Device options; tests pass a FakeHandler factory. */
  device?: ms.DeviceOptions;
  /**
   * The highest spatial layer of a simulcast program wanted now (the quality
   * menu; null = the node's estimate alone). Asked when the video consumer
   * is created; a later change goes through setMaxLayer().
   */
  maxLayer?: (layers: VideoLayersInfo) => number | null;
  /** The player's session id, sent at join: the node's log lines of this viewer carry it (problem reports). */
  sessionId?: string;
  /**
   * The commentary language wanted at join (BCP 47; null: the venue sound only; undefined: the stream's
   * default). A later change goes through setLanguage().
   */
  language?: () => string | null | undefined;
  /**
   * The node's router RTP capabilities, known before joining (the page's
   * bootstrap, an edges list, an earlier join): the Device loads while the
   * socket opens, and the join carries the Device's capabilities so the node
   * answers with the transport and consumers made (one round trip). Absent,
   * or refused by the node: join, createTransport, consumeData, consume.
   */
  routerRtpCapabilities?: RtpCapabilities;
};

/** The program video's layers as the node reports them, and the cap the viewer asked for (null: automatic). */
export type VideoLayers = VideoLayersInfo & { wanted: number | null };

export type WebRtcSessionEvents = {
  state: [SessionStateChange];
  /** An accepted score update; the join snapshot comes first, flagged `snapshot: true`. */
  score: [ReceivedScore];
  /** Tracks were added to or removed from `mediaStream`. */
  tracks: [MediaStream];
  /**
   * The node is draining (no target: the Player places), or rebalancing asks
   * the viewer to move to `target`, a relay of the region with room.
   */
  drain: [string, RelayAlternative | undefined];
  /** The program video's layers changed (the node switched, or the viewer chose). */
  layers: [VideoLayers];
  /** Something went wrong that does not end the session. */
  warning: [Error];
};

type ConsumerEntry = { consumer: ms.Consumer; info: ConsumerInfo };

/**
 * One viewer connection to one node over WebRTC: signaling, mediasoup Device,
 * a recv transport carrying the consumed media and the score DataChannel.
 *
 * start() resolves once media is consumed and resumed (state may still be
 * 'connecting' until ICE+DTLS complete). Every failure ends in state 'failed'
 * with everything closed; a session is never reused.
 */
export class WebRtcSession extends TypedEmitter<WebRtcSessionEvents> {
  readonly options: Readonly<WebRtcSessionOptions>;
  readonly scores: ScoreFeed;
  readonly signaling: SignalingClient;
  readonly #life = new SessionLifecycle(
    (change) => this.emit('state', change),
    () => this.#teardown(),
  );
  #started = false;
  #device: Device | null = null;
  #transport: ms.Transport | null = null;
  #mediaStream: MediaStream | null = null;
  readonly #consumers = new Map<string, ConsumerEntry>();
  #layers: VideoLayers | null = null;
  #language: string | null = null;
  readonly #scoreChannel: ScoreChannel;
  #nodeId: string | null = null;
  #region: string | null = null;
  /** Playout delay the node asks of this session's receivers (join reply), ms; 0: the browser's own. */
  #playoutDelayMs = 0;
  /** How late each language's commentary is against the picture (node's measure, ms): the program waits for it. */
  #commentaryDelays: Record<string, number> = {};
  /** The heard commentary's jitter buffer over the last second (ms), measured while the program waits for it. */
  #commentaryBuffer: { trackId: string; recent: RecentAverage; ms: number | undefined } | null = null;
  #alignTimer: ReturnType<typeof setInterval> | undefined;
  #routerCaps: RtpCapabilities | null = null;
  #oneRoundTrip = false;
  /** Serializes consume/consumeData rounds triggered by notifications. */
  #queue: Promise<void> = Promise.resolve();
  #iceTimer: ReturnType<typeof setTimeout> | undefined;
  #disconnectedTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: WebRtcSessionOptions) {
    super();
    this.options = { ...options };
    this.scores = options.scoreFeed ?? new ScoreFeed({ stream: options.stream });
    this.signaling = new SignalingClient(signalingUrl(options.nodeUrl), {
      ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
      ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    });
    this.#scoreChannel = new ScoreChannel({
      signaling: this.signaling,
      isClosed: () => this.closed,
      onScore: (update) => this.#pushScore(update, false),
      onWarning: (error) => this.emit('warning', error),
    });
  }

  get state(): SessionState {
    return this.#life.state;
  }

  get reason(): string {
    return this.#life.reason;
  }

  /** All consumed tracks (program video/audio, commentary audio). Null before start(). */
  get mediaStream(): MediaStream | null {
    return this.#mediaStream;
  }

  get nodeId(): string | null {
    return this.#nodeId;
  }

  get region(): string | null {
    return this.#region;
  }

  /** The program video's layers, when it is simulcast (null: one layer, or no video yet). */
  get videoLayers(): VideoLayers | null {
    return this.#layers;
  }

  /**
   * The viewer's quality choice: the highest spatial layer to receive (null =
   * automatic). The node may still send less when the link cannot carry it.
   */
  async setMaxLayer(spatialLayer: number | null): Promise<void> {
    if (!this.#layers) return;
    this.#layers = { ...this.#layers, wanted: spatialLayer };
    const layers = await this.signaling.request('setLayers', { spatialLayer });
    if (this.#layers) this.#setLayers({ ...layers, wanted: this.#layers.wanted });
  }

  /** The commentary language this session hears (null: venue sound only), as the node last said. */
  get language(): string | null {
    return this.#language;
  }

  /**
   * Hear `lang`'s commentary (null: the venue sound only). The node sends that language's track alone, so
   * the others' tracks fall silent; answers the languages on air.
   */
  async setLanguage(lang: string | null): Promise<string[]> {
    const answer = await this.signaling.request('setLanguage', { lang });
    this.#language = answer.lang;
    this.#applyPlayout();
    return answer.languages;
  }

  #setLayers(layers: VideoLayers): void {
    this.#layers = layers;
    this.emit('layers', layers);
  }

  /** Currently open consumers, for diagnostics. */
  get consumers(): readonly {
    id: string;
    kind: 'audio' | 'video';
    source: string;
    /** Commentary: its language. */
    lang?: string;
    track: MediaStreamTrack;
  }[] {
    return [...this.#consumers.values()].map(({ consumer, info }) => ({
      id: consumer.id,
      kind: info.kind,
      source: info.source,
      ...(info.lang ? { lang: info.lang } : {}),
      track: consumer.track,
    }));
  }

  get closed(): boolean {
    return this.#life.closed;
  }

  /** The router capabilities the node answered at join (null before): later sessions can load with them. */
  get routerRtpCapabilities(): RtpCapabilities | null {
    return this.#routerCaps;
  }

  /** True when the join set up receiving in its own round trip (the node took the Device's capabilities). */
  get oneRoundTrip(): boolean {
    return this.#oneRoundTrip;
  }

  /** Joins, consumes everything and subscribes to scores. Rejects (and fails the session) on error. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('WebRtcSession.start() called twice');
    this.#started = true;
    markStep('session-start');
    this.#setState('connecting', 'signaling');
    try {
      this.signaling.on('notification', (n) => this.#onNotification(n));
      this.signaling.on('warning', (error) => this.emit('warning', error));
      this.signaling.on('close', ({ reason, byClient }) => {
        if (!byClient && !this.closed) this.#life.fail({ kind: 'signaling-closed', detail: reason });
      });
      // With the router's capabilities known, the Device loads while the socket opens (from the page's
      // native capabilities, asked once: warmDevice.ts): the join then carries what the node needs to answer it all.
      const hint = this.options.routerRtpCapabilities;
      const early = hint ? this.#loadDevice(clientRtpCapabilities(hint)) : null;
      early?.catch(() => {}); // awaited below; a failed early load only means the step-by-step way
      await this.signaling.connect();
      markStep('socket-open');
      this.#assertOpen();

      this.#setState('connecting', 'joining');
      const device = early ? await early.catch(() => null) : null;
      this.#assertOpen();
      const { stream, token } = this.options;
      const lastSeq = this.scores.lastSeq;
      const wantedLanguage = this.options.language?.();
      markStep(device ? 'join-sent-with-capabilities' : 'join-sent');
      const joined = await this.signaling.request('join', {
        stream,
        token,
        role: this.options.role ?? 'viewer',
        ...(lastSeq > 0 ? { sinceSeq: lastSeq } : {}),
        ...(this.options.sessionId ? { sessionId: this.options.sessionId } : {}),
        ...(wantedLanguage !== undefined ? { lang: wantedLanguage } : {}),
        ...(device
          ? { recv: { rtpCapabilities: device.recvRtpCapabilities, forceTcp: this.options.forceTcp ?? false } }
          : {}),
      });
      markStep('join-answered');
      this.#assertOpen();
      this.#language = joined.lang ?? null;
      this.#nodeId = joined.nodeId;
      this.#region = joined.region;
      this.#routerCaps = joined.routerRtpCapabilities;
      this.#playoutDelayMs = joined.playoutDelayMs ?? 0;
      this.#commentaryDelays = joined.commentaryDelays ?? {};
      // Resumed: the score channel brings every update after ours, in order; the
      // snapshot (the latest) would jump over them.
      if (joined.score && !joined.resumed) this.#pushScore(joined.score, true);
      if (device && joined.recv) {
        this.#oneRoundTrip = true;
        const { transport: info, scores, consumers, layers } = joined.recv;
        this.#setState('connecting', 'transport');
        this.#openTransport(device, info, joined);
        this.#setState('connecting', 'consuming');
        await this.#enqueue(() => this.#consumeScores(Promise.resolve(scores)));
        await this.#enqueue(() => this.#adopt(consumers, layers));
        markStep('consumers-adopted');
      } else {
        await this.#stepByStep(joined);
      }
      this.#assertOpen();
      const transport = this.#transport;
      if (this.state === 'connecting' && transport?.connectionState !== 'connected') {
        this.#setState('connecting', this.#consumers.size === 0 ? 'waiting-for-media' : 'ice');
      }
    } catch (error) {
      const err = toError(error);
      if (!this.closed) this.#life.fail(failureOf(err), err);
      throw err;
    }
  }

  /** The join did not set up receiving (no capabilities known, or an older node): a request per step. */
  async #stepByStep(joined: JoinResponse): Promise<void> {
    // The scores DataConsumer is requested as early as possible: updates produced
    // between the join snapshot and its creation on the node are lost. So the
    // signaling for it runs in parallel with loading the Device (which needs a
    // throwaway RTCPeerConnection and takes tens of milliseconds).
    const deviceReady = this.#loadDevice(clientRtpCapabilities(joined.routerRtpCapabilities));
    deviceReady.catch(() => {}); // awaited below; avoid an unhandled rejection meanwhile

    this.#setState('connecting', 'transport');
    const info = await this.signaling.request('createTransport', {
      direction: 'recv',
      sctp: true,
      forceTcp: this.options.forceTcp ?? false,
    });
    this.#assertOpen();
    const scoresInfo = this.#scoreChannel.request(info.id);
    const device = await deviceReady;
    this.#assertOpen();
    this.#openTransport(device, info, joined);

    this.#setState('connecting', 'consuming');
    // Scores first: updates produced between the join snapshot and the moment
    // the node creates our DataConsumer are lost, so keep that window short.
    await this.#enqueue(() => this.#consumeScores(scoresInfo));
    await this.#enqueue(() => this.#consumeAll());
    markStep('consumers-adopted');
  }

  /** The local side of the node's receive transport; DTLS parameters go to the node on its first use. */
  #openTransport(device: Device, info: TransportInfo, joined: JoinResponse): void {
    this.#device = device;
    this.#mediaStream = new MediaStream();
    const iceServers = this.options.iceServers ?? joined.iceServers;
    const transport = device.createRecvTransport({
      ...info,
      // The page's own ICE servers, else the node's (TURN with credentials minted for this session).
      ...(iceServers ? { iceServers: iceServers as RTCIceServer[] } : {}),
      ...(this.options.iceTransportPolicy ? { iceTransportPolicy: this.options.iceTransportPolicy } : {}),
    });
    this.#transport = transport;
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.#armIceTimer();
      this.signaling
        .request('connectTransport', {
          transportId: transport.id,
          dtlsParameters,
        })
        .then(() => callback(), errback);
    });
    transport.on('connectionstatechange', (s) => this.#onConnectionState(s));
  }

  /** Closes everything. Idempotent; a failed session stays 'failed'. */
  close(reason = 'closed'): void {
    this.#life.close(reason);
  }

  /** A snapshot of transport and score counters. */
  async stats(): Promise<SessionStats> {
    const stats = baseStats(
      this.state,
      this.#transport?.connectionState ?? 'new',
      this.scores,
      this.#scoreChannel.invalid,
    );
    const transport = this.#transport;
    if (!transport || transport.closed) return stats;
    let report: RTCStatsReport;
    try {
      report = await transport.getStats();
    } catch {
      return stats;
    }
    Object.assign(stats, summarizeStats(report));
    stats.audioPacketsBySource = audioPacketsBySource(report, this.consumers);
    const targets = [...this.#consumers.values()].map((c) => playoutDelayOf(c.consumer.rtpReceiver));
    if (targets.some((t) => t !== undefined)) stats.playoutDelayMs = Math.min(...targets.map((t) => t ?? 0));
    const delay = this.#language ? this.#commentaryDelays[this.#language] : undefined;
    if (delay !== undefined) stats.commentaryDelayMs = delay;
    const video = [...this.#consumers.values()].find((c) => c.info.source === 'program' && c.info.kind === 'video');
    const programTarget = playoutDelayOf(video?.consumer.rtpReceiver);
    if (programTarget !== undefined) stats.programPlayoutMs = programTarget;
    if (this.#commentaryBuffer?.ms !== undefined) stats.commentaryBufferMs = this.#commentaryBuffer.ms;
    return stats;
  }

  // ---------------------------------------------------------------- internals

  #assertOpen(): void {
    if (this.closed) throw new Error(`session ${this.state}: ${this.reason}`);
  }

  #setState(state: SessionState, reason: string): void {
    this.#life.set(state, reason);
  }

  #teardown(): void {
    clearInterval(this.#alignTimer);
    clearTimeout(this.#iceTimer);
    clearTimeout(this.#disconnectedTimer);
    this.signaling.close(1000, 'session closed');
    this.#scoreChannel.close();
    for (const { consumer } of this.#consumers.values()) consumer.close();
    this.#consumers.clear();
    this.#transport?.close();
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(() => (this.closed ? undefined : task()));
    this.#queue = run.catch(() => {});
    return run;
  }

  #armIceTimer(): void {
    if (this.#iceTimer !== undefined) return;
    const timeoutMs = this.options.iceTimeoutMs ?? 5_000;
    this.#iceTimer = setTimeout(() => {
      if (this.#transport?.connectionState !== 'connected' && this.state === 'connecting') {
        this.#life.fail({ kind: 'ice-timeout' });
      }
    }, timeoutMs);
  }

  #onConnectionState(state: ms.ConnectionState): void {
    if (this.closed) return;
    switch (state) {
      case 'connected':
        markStep('transport-connected');
        clearTimeout(this.#iceTimer);
        clearTimeout(this.#disconnectedTimer);
        this.#disconnectedTimer = undefined;
        this.#setState('connected', this.#consumers.size === 0 ? 'waiting-for-media' : 'playing');
        break;
      case 'disconnected':
        this.#setState('connecting', 'ice-disconnected');
        if (this.#disconnectedTimer === undefined) {
          this.#disconnectedTimer = setTimeout(
            () => this.#life.fail({ kind: 'ice-disconnected' }),
            this.options.disconnectedTimeoutMs ?? 8_000,
          );
        }
        break;
      case 'failed':
        this.#life.fail({ kind: 'ice-failed' });
        break;
      default:
        break;
    }
  }

  #onNotification(notification: SignalingNotification): void {
    if (this.closed) return;
    switch (notification.notification) {
      case 'newProducers':
        this.#enqueue(async () => {
          await this.#consumeAll();
          await this.#consumeScores();
        }).catch((error) => this.#life.fail(failureOf(toError(error)), toError(error)));
        break;
      case 'consumerClosed':
        this.#removeConsumer(notification.data.consumerId);
        break;
      case 'streamEnded':
        // The node lost the stream (publisher gone, or its mediasoup worker
        // died and took the router along). Not the viewer's end: the Player
        // rejoins with backoff, which brings the stream back on a live worker
        // or waits for the match to resume.
        this.#life.fail({ kind: 'stream-ended' });
        break;
      case 'drain':
        this.emit('drain', notification.data.reason, undefined);
        break;
      case 'move':
        this.emit('drain', notification.data.reason, notification.data.target);
        break;
      case 'layersChanged':
        this.#setLayers({ ...notification.data, wanted: this.#layers?.wanted ?? null });
        break;
      case 'playoutDelayChanged':
        // The region's upstream round trip was measured (or moved): hold that much media from now on.
        this.#playoutDelayMs = notification.data.playoutDelayMs;
        this.#applyPlayout();
        break;
      case 'commentaryDelaysChanged':
        // A commentator's view delay was measured: the program waits that much more for the language's reactions.
        this.#commentaryDelays = notification.data;
        this.#applyPlayout();
        break;
    }
  }

  /** Asks the node for consumers of every producer we do not consume yet, creates them, resumes them. */
  async #consumeAll(): Promise<void> {
    const device = this.#device;
    const transport = this.#transport;
    if (!device || !transport) return;
    const { consumers, layers, lang } = await this.signaling.request('consume', {
      transportId: transport.id,
      rtpCapabilities: device.recvRtpCapabilities,
    });
    if (lang !== undefined) this.#language = lang;
    await this.#adopt(consumers, layers);
    this.#applyPlayout();
  }

  /**
   * Each receiver's playout target: the node's playout delay, and for the program (video and venue sound)
   * the heard language's commentary delay on top (commentaryAlignment.ts).
   */
  #applyPlayout(): void {
    const heard = this.#heardCommentary();
    const buffer = heard && this.#commentaryBuffer?.trackId === heard.track.id ? this.#commentaryBuffer.ms : undefined;
    const program = programPlayoutMs(this.#playoutDelayMs, this.#commentaryDelays, this.#language, buffer);
    for (const { consumer, info } of this.#consumers.values()) {
      const target = info.source === 'program' ? program : this.#playoutDelayMs;
      const now = playoutDelayOf(consumer.rtpReceiver) ?? 0;
      // Small moves of the measured buffer are left alone: each one re-adapts the browser's buffers.
      const small = info.source === 'program' && now > 0 && target > 0 && Math.abs(target - now) < TARGET_STEP_MS;
      if (now !== target && !small) setPlayoutDelay(consumer.rtpReceiver, target);
    }
    // While the program waits for a language, its commentary's own buffer is measured every second.
    const aligning = program !== this.#playoutDelayMs;
    if (aligning && this.#alignTimer === undefined) {
      this.#alignTimer = setInterval(() => void this.#measureCommentaryBuffer(), 1000);
    } else if (!aligning && this.#alignTimer !== undefined) {
      clearInterval(this.#alignTimer);
      this.#alignTimer = undefined;
    }
  }

  #heardCommentary(): ConsumerEntry['consumer'] | undefined {
    for (const { consumer, info } of this.#consumers.values())
      if (info.source === 'commentary' && info.lang === this.#language) return consumer;
    return undefined;
  }

  /** The heard commentary's jitter buffer over the last second (its browser-side delay), then the targets. */
  async #measureCommentaryBuffer(): Promise<void> {
    const heard = this.#heardCommentary();
    const transport = this.#transport;
    if (!heard || !transport || transport.closed) return;
    const report = await transport.getStats().catch(() => undefined);
    const totals = report && audioBufferOf(report, heard.track);
    if (!totals || this.closed) return;
    if (this.#commentaryBuffer?.trackId !== heard.track.id)
      this.#commentaryBuffer = { trackId: heard.track.id, recent: new RecentAverage(), ms: undefined };
    const ms = this.#commentaryBuffer.recent.update(totals.delayMs, totals.emitted);
    if (ms === undefined) return;
    this.#commentaryBuffer.ms = ms;
    this.#applyPlayout();
  }

  /** Creates the local side of consumers the node made (paused there), then resumes them. */
  async #adopt(consumers: ConsumerInfo[], layers: VideoLayersInfo | undefined): Promise<void> {
    const transport = this.#transport;
    if (!transport) return;
    const fresh = consumers.filter((info) => !this.#consumers.has(info.id));
    // mediasoup-client batches concurrent consume() calls into one renegotiation.
    const created = await Promise.all(
      fresh.map(async (info) => {
        const consumer = await transport.consume({
          id: info.id,
          producerId: info.producerId,
          kind: info.kind,
          rtpParameters: clientRtpParameters(info.rtpParameters),
          // Same stream id for a source's audio and video → the browser lip-syncs them.
          streamId: `${this.options.stream}-${info.source}`,
          appData: { source: info.source },
        });
        return { consumer, info };
      }),
    );
    if (this.closed) {
      for (const { consumer } of created) consumer.close();
      return;
    }
    for (const entry of created) {
      this.#consumers.set(entry.consumer.id, entry);
      this.#mediaStream?.addTrack(entry.consumer.track);
      entry.consumer.on('transportclose', () => this.#removeConsumer(entry.consumer.id));
    }
    this.#applyPlayout();
    if (created.length > 0 && this.#mediaStream) this.emit('tracks', this.#mediaStream);
    if (layers && !this.#layers) {
      const wanted = this.options.maxLayer?.(layers) ?? null;
      this.#setLayers({ ...layers, wanted });
      // Before the resume: the first picture is already of the chosen size.
      if (wanted !== null) await this.setMaxLayer(wanted);
    }
    // Server-side consumers start paused; resume once the local side exists.
    await Promise.all(
      created.map(({ consumer }) =>
        this.signaling.request('resumeConsumer', { consumerId: consumer.id }).catch((error: unknown) => {
          // Closed on the server meanwhile (its producer went away): drop it, keep the rest.
          if (error instanceof SignalingRequestError && error.code === 'not_found') this.#removeConsumer(consumer.id);
          else throw error;
        }),
      ),
    );
    if (this.state === 'connected') this.#setState('connected', 'playing');
  }

  #removeConsumer(consumerId: string): void {
    const entry = this.#consumers.get(consumerId);
    if (!entry) return;
    this.#consumers.delete(consumerId);
    this.#mediaStream?.removeTrack(entry.consumer.track);
    entry.consumer.close();
    if (this.#mediaStream && !this.closed) this.emit('tracks', this.#mediaStream);
  }

  /** A mediasoup Device (FakeHandler in tests) loaded with the router's capabilities (warmDevice.ts). */
  async #loadDevice(routerRtpCapabilities: ms.RtpCapabilities): Promise<Device> {
    markStep('device-load-start');
    const device = await loadDevice(routerRtpCapabilities, this.options.device);
    markStep('device-loaded');
    return device;
  }

  /** Subscribes to the score DataChannel if not already (optionally with a request already made). */
  #consumeScores(prefetched?: Promise<SignalingResponseData<'consumeData'> | null>): Promise<void> {
    const transport = this.#transport;
    return transport ? this.#scoreChannel.consume(transport, prefetched) : Promise.resolve();
  }

  #pushScore(update: Parameters<ScoreFeed['push']>[0], snapshot: boolean): void {
    const result = this.scores.push(update, { snapshot });
    if (result.accepted) this.emit('score', result.score);
  }
}
