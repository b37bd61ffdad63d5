import type { JoinResponse, RtpCapabilities, SignalingNotification, TransportInfo } from '@matchmesh/protocol';
import type { Device, types as ms } from 'mediasoup-client';
import { TypedEmitter } from './emitter.ts';
import { failureOf } from './failure.ts';
import { clientRtpCapabilities } from './mediaTypes.ts';
import { PlayoutAligner } from './PlayoutAligner.ts';
import { toError } from './receivers.ts';
import { openRecvTransport } from './recvTransport.ts';
import { ScoreChannel } from './ScoreChannel.ts';
import { ScoreFeed } from './ScoreFeed.ts';
import { type ConsumedTrack, SessionConsumers } from './SessionConsumers.ts';
import { SessionLifecycle, type SessionState } from './SessionLifecycle.ts';
import { SignalingClient, type SignalingResponseData, signalingUrl } from './SignalingClient.ts';
import { audioPacketsBySource, baseStats, type SessionStats, summarizeStats } from './sessionStats.ts';
import { TransportWatch } from './TransportWatch.ts';
import { markStep } from './timing.ts';
import type { VideoLayers, WebRtcSessionEvents, WebRtcSessionOptions } from './WebRtcSessionTypes.ts';
import { loadDevice } from './warmDevice.ts';

export type { SessionState, SessionStateChange } from './SessionLifecycle.ts';
export { type SessionStats, summarizeStats } from './sessionStats.ts';
export type { VideoLayers, WebRtcSessionEvents, WebRtcSessionOptions } from './WebRtcSessionTypes.ts';

/**
 * One viewer connection to one node over WebRTC: signaling, mediasoup Device,
 * a recv transport carrying the consumed media and the score DataChannel.
 *
 * start() resolves once media is consumed and resumed (state may still be
 * 'connecting' until ICE+DTLS complete). Every failure ends in state 'failed'
 * with everything closed; a session is never reused.
 *
 * It keeps the public API, the lifecycle and the signaling; its parts are the consumers (SessionConsumers),
 * the receivers' playout targets (PlayoutAligner), the transport's deadlines (TransportWatch) and the
 * recv transport's creation and wiring (recvTransport.ts).
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
  readonly #consumers: SessionConsumers;
  readonly #playout: PlayoutAligner;
  #language: string | null = null;
  readonly #scoreChannel: ScoreChannel;
  #nodeId: string | null = null;
  #region: string | null = null;
  #routerCaps: RtpCapabilities | null = null;
  #oneRoundTrip = false;
  /** Serializes consume/consumeData rounds triggered by notifications. */
  #queue: Promise<void> = Promise.resolve();
  readonly #watch: TransportWatch;

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
    this.#consumers = new SessionConsumers({
      signaling: this.signaling,
      session: this.options,
      device: () => this.#device,
      transport: () => this.#transport,
      isClosed: () => this.closed,
      onLanguage: (lang) => {
        this.#language = lang;
      },
      applyPlayout: () => this.#playout.apply(),
      onResumed: () => {
        if (this.state === 'connected') this.#setState('connected', 'playing');
      },
      onTracks: (stream) => this.emit('tracks', stream),
      onLayers: (layers) => this.emit('layers', layers),
    });
    this.#playout = new PlayoutAligner({
      consumers: () => this.#consumers.values(),
      language: () => this.#language,
      transport: () => this.#transport,
      isClosed: () => this.closed,
    });
    this.#watch = new TransportWatch({
      session: this.options,
      life: this.#life,
      transport: () => this.#transport,
      consumerCount: () => this.#consumers.size,
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
    return this.#consumers.mediaStream;
  }

  get nodeId(): string | null {
    return this.#nodeId;
  }

  get region(): string | null {
    return this.#region;
  }

  /** The program video's layers, when it is simulcast (null: one layer, or no video yet). */
  get videoLayers(): VideoLayers | null {
    return this.#consumers.layers;
  }

  /**
   * The viewer's quality choice: the highest spatial layer to receive (null =
   * automatic). The node may still send less when the link cannot carry it.
   */
  setMaxLayer(spatialLayer: number | null): Promise<void> {
    return this.#consumers.setMaxLayer(spatialLayer);
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
    this.#playout.apply();
    return answer.languages;
  }

  /** Currently open consumers, for diagnostics. */
  get consumers(): readonly ConsumedTrack[] {
    return this.#consumers.list;
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
      this.#playout.playoutDelayMs = joined.playoutDelayMs ?? 0;
      this.#playout.commentaryDelays = joined.commentaryDelays ?? {};
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
        await this.#enqueue(() => this.#consumers.adopt(consumers, layers));
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
    await this.#enqueue(() => this.#consumers.consumeAll());
    markStep('consumers-adopted');
  }

  /** The local side of the node's receive transport (recvTransport.ts); DTLS parameters go to the node on its first use. */
  #openTransport(device: Device, info: TransportInfo, joined: JoinResponse): void {
    this.#device = device;
    this.#consumers.createStream();
    this.#transport = openRecvTransport(device, info, this.options, joined.iceServers, this.signaling, this.#watch);
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
    this.#playout.addStats(stats);
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
    this.#playout.close();
    this.#watch.close();
    this.signaling.close(1000, 'session closed');
    this.#scoreChannel.close();
    this.#consumers.close();
    this.#transport?.close();
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(() => (this.closed ? undefined : task()));
    this.#queue = run.catch(() => {});
    return run;
  }

  #onNotification(notification: SignalingNotification): void {
    if (this.closed) return;
    switch (notification.notification) {
      case 'newProducers':
        this.#enqueue(async () => {
          await this.#consumers.consumeAll();
          await this.#consumeScores();
        }).catch((error) => this.#life.fail(failureOf(toError(error)), toError(error)));
        break;
      case 'consumerClosed':
        this.#consumers.remove(notification.data.consumerId);
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
        this.#consumers.layersChanged(notification.data);
        break;
      case 'playoutDelayChanged':
        // The region's upstream round trip was measured (or moved): hold that much media from now on.
        this.#playout.playoutDelayMs = notification.data.playoutDelayMs;
        this.#playout.apply();
        break;
      case 'commentaryDelaysChanged':
        // A commentator's view delay was measured: the program waits that much more for the language's reactions.
        this.#playout.commentaryDelays = notification.data;
        this.#playout.apply();
        break;
    }
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
