import { Device, type types as ms } from 'mediasoup-client';
import { TypedEmitter } from './emitter.ts';
import { clientRtpCapabilities } from './mediaTypes.ts';
import { SignalingClient, signalingUrl, type WebSocketConstructor } from './SignalingClient.ts';

export type CommentaryState = 'idle' | 'connecting' | 'live' | 'failed' | 'closed';

export type CommentaryPublisherOptions = {
  /** HTTP base URL of the node to talk through (the stream's ingest gives the least delay). */
  nodeUrl: string;
  stream: string;
  /** A commentator token for the stream. */
  token: string;
  WebSocket?: WebSocketConstructor;
  device?: ms.DeviceOptions;
};

export type CommentaryPublisherEvents = {
  state: [state: CommentaryState, reason: string];
};

/**
 * Sends a commentator's microphone to the stream: its own signaling peer
 * (joined with the commentator role), one send transport, one Opus producer.
 * The node adds it to the stream as a commentary producer, and every viewer's
 * session consumes it beside the match audio. Watching is the Player's job;
 * the booth page runs both.
 */
export class CommentaryPublisher extends TypedEmitter<CommentaryPublisherEvents> {
  readonly options: Readonly<CommentaryPublisherOptions>;
  readonly #signaling: SignalingClient;
  #transport: ms.Transport | null = null;
  #producer: ms.Producer | null = null;
  #state: CommentaryState = 'idle';
  /** Push-to-talk up / off: the producer is paused locally (the track sends nothing) but stays on air. */
  #silenced = false;

  constructor(options: CommentaryPublisherOptions) {
    super();
    this.options = options;
    this.#signaling = new SignalingClient(
      signalingUrl(options.nodeUrl),
      options.WebSocket ? { WebSocket: options.WebSocket } : {},
    );
  }

  get state(): CommentaryState {
    return this.#state;
  }

  /** mediasoup producer id of the voice, once live. */
  get producerId(): string | null {
    return this.#producer?.id ?? null;
  }

  /** Publish `track` (an audio track from getUserMedia). */
  async start(track: MediaStreamTrack): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`CommentaryPublisher.start() in state ${this.#state}`);
    this.#set('connecting', 'signaling');
    try {
      this.#signaling.on('close', ({ reason, byClient }) => {
        if (!byClient) this.#fail(`signaling-closed: ${reason}`);
      });
      await this.#signaling.connect();
      const joined = await this.#signaling.request('join', {
        stream: this.options.stream,
        token: this.options.token,
        role: 'commentator',
      });
      const device = new Device(this.options.device);
      await device.load({ routerRtpCapabilities: clientRtpCapabilities(joined.routerRtpCapabilities) });
      if (!device.canProduce('audio')) throw new Error('this browser cannot send Opus audio');

      this.#set('connecting', 'transport');
      const info = await this.#signaling.request('createTransport', { direction: 'send', sctp: false });
      // A send transport for one voice has no SCTP (asked with sctp: false).
      const { sctpParameters: _none, ...parameters } = info;
      const transport = device.createSendTransport({
        ...parameters,
        ...(joined.iceServers ? { iceServers: joined.iceServers as RTCIceServer[] } : {}),
      });
      this.#transport = transport;
      transport.on('connect', ({ dtlsParameters }, callback, errback) => {
        this.#signaling
          .request('connectTransport', {
            transportId: transport.id,
            dtlsParameters,
          })
          .then(() => callback(), errback);
      });
      transport.on('produce', ({ kind, rtpParameters }, callback, errback) => {
        this.#signaling
          .request('produce', {
            transportId: transport.id,
            kind,
            rtpParameters,
          })
          .then(({ id }) => callback({ id }), errback);
      });
      transport.on('connectionstatechange', (s) => {
        if (s === 'connected') this.#set('live', 'on air');
        if (s === 'failed') this.#fail('ice-failed');
      });
      // Speech: mono Opus with in-band FEC and DTX keeps a voice clear on lossy links at a few kbit/s.
      this.#producer = await transport.produce({
        track,
        codecOptions: { opusStereo: false, opusFec: true, opusDtx: true },
      });
      if (this.#silenced) this.#producer.pause();
    } catch (error) {
      this.#fail(error instanceof Error ? error.message : String(error));
      throw error;
    }
  }

  /**
   * Another microphone, without leaving the air: the producer's RTP sender
   * takes the new track (RTCRtpSender.replaceTrack: no renegotiation, same
   * producer, so the mixer's slot and the viewers' language track stay).
   */
  async replaceTrack(track: MediaStreamTrack): Promise<void> {
    if (!this.#producer) throw new Error(`CommentaryPublisher.replaceTrack() in state ${this.#state}`);
    // mediasoup-client stops the old track and gives the new one the paused state (push-to-talk up stays silent).
    await this.#producer.replaceTrack({ track });
  }

  /** Push-to-talk: false silences the voice (nothing sent), true lets it through again; the seat on air stays. */
  setVoiceLive(live: boolean): void {
    this.#silenced = !live;
    if (!this.#producer) return;
    if (live) this.#producer.resume();
    else this.#producer.pause();
  }

  close(): void {
    if (this.#state === 'closed') return;
    this.#producer?.close();
    this.#transport?.close();
    this.#signaling.close(1000, 'commentary ended');
    this.#set('closed', 'closed');
  }

  #fail(reason: string): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#transport?.close();
    this.#signaling.close(1000, 'commentary failed');
    this.#set('failed', reason);
  }

  #set(state: CommentaryState, reason: string): void {
    this.#state = state;
    this.emit('state', state, reason);
  }
}
