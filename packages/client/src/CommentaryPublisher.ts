import { Device, type types as ms } from 'mediasoup-client';
import { TypedEmitter } from './emitter.ts';
import { clientRtpCapabilities } from './mediaTypes.ts';
import { SignalingClient, signalingUrl, type WebSocketConstructor } from './SignalingClient.ts';
import { Talkback, type TalkbackTrack } from './Talkback.ts';

export type CommentaryState = 'idle' | 'connecting' | 'live' | 'failed' | 'closed';

export type CommentaryPublisherOptions = {
  /** HTTP base URL of the node to talk through (the stream's ingest gives the least delay). */
  nodeUrl: string;
  stream: string;
  /** A commentator token for the stream; a function gives the credential of the moment (read at each (re)join). */
  token: string | (() => string);
  /** Waits before the 1st, 2nd, … rejoin after a dropped session (ms; the last repeats). */
  rejoinDelaysMs?: readonly number[];
  WebSocket?: WebSocketConstructor;
  device?: ms.DeviceOptions;
};

export type CommentaryPublisherEvents = {
  state: [state: CommentaryState, reason: string];
  /** The other commentators heard now (talkback); empty between sessions. */
  talkback: [voices: TalkbackTrack[]];
};

/**
 * Sends a commentator's microphone to the stream: its own signaling peer
 * (joined with the commentator role), one send transport, one Opus producer —
 * and receives the booth's other voices on the same peer (talkback).
 * The node adds it to the stream as a commentary producer, and every viewer's
 * session consumes it beside the match audio. Watching is the Player's job;
 * the booth page runs both.
 */
export class CommentaryPublisher extends TypedEmitter<CommentaryPublisherEvents> {
  readonly options: Readonly<CommentaryPublisherOptions>;
  #signaling: SignalingClient | null = null;
  #track: MediaStreamTrack | null = null;
  #rejoins = 0;
  #device: { key: string; device: Device } | null = null;
  #rejoinTimer: ReturnType<typeof setTimeout> | null = null;
  #transport: ms.Transport | null = null;
  #producer: ms.Producer | null = null;
  /** This session's talkback: the other commentators' voices. */
  #talkback: Talkback | null = null;
  #state: CommentaryState = 'idle';
  /** Push-to-talk up / off: the producer is paused locally (the track sends nothing) but stays on air. */
  #silenced = false;

  constructor(options: CommentaryPublisherOptions) {
    super();
    this.options = options;
  }

  /** Rejoins after a dropped session since start() (each one re-produces the same track). */
  get rejoins(): number {
    return this.#rejoins;
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
    this.#track = track;
    try {
      await this.#join();
    } catch (error) {
      this.#fail(error instanceof Error ? error.message : String(error));
      throw error;
    }
  }

  /**
   * One session: signaling, join, send transport, producer. A session that
   * drops after it was live (network change, node restart or drain) is
   * rejoined on its own with the same track: the commentator stays on air
   * without a click, and the language's track lingers meanwhile
   * (MM_COMMENTARY_LINGER_MS), so viewers keep their consumer.
   */
  async #join(): Promise<void> {
    this.#set('connecting', 'signaling');
    const signaling = new SignalingClient(
      signalingUrl(this.options.nodeUrl),
      this.options.WebSocket ? { WebSocket: this.options.WebSocket } : {},
    );
    this.#signaling = signaling;
    signaling.on('close', ({ reason, byClient }) => {
      if (!byClient && signaling === this.#signaling) this.#dropped(`signaling-closed: ${reason}`);
    });
    await signaling.connect();
    const token = typeof this.options.token === 'function' ? this.options.token() : this.options.token;
    const joined = await signaling.request('join', {
      stream: this.options.stream,
      token,
      role: 'commentator',
    });
    const device = await this.#loadedDevice(clientRtpCapabilities(joined.routerRtpCapabilities));

    this.#set('connecting', 'transport');
    const info = await signaling.request('createTransport', { direction: 'send', sctp: false });
    // A send transport for one voice has no SCTP (asked with sctp: false).
    const { sctpParameters: _none, ...parameters } = info;
    const transport = device.createSendTransport({
      ...parameters,
      ...(joined.iceServers ? { iceServers: joined.iceServers as RTCIceServer[] } : {}),
    });
    this.#transport = transport;
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      signaling
        .request('connectTransport', {
          transportId: transport.id,
          dtlsParameters,
        })
        .then(() => callback(), errback);
    });
    transport.on('produce', ({ kind, rtpParameters }, callback, errback) => {
      signaling
        .request('produce', {
          transportId: transport.id,
          kind,
          rtpParameters,
        })
        .then(({ id }) => callback({ id }), errback);
    });
    transport.on('connectionstatechange', (s) => {
      if (transport !== this.#transport) return;
      if (s === 'connected') this.#set('live', this.#rejoins > 0 ? 'on air (rejoined)' : 'on air');
      if (s === 'failed') this.#dropped('ice-failed');
    });
    // Speech: mono Opus with in-band FEC and DTX keeps a voice clear on lossy links at a few kbit/s.
    // stopTracks false: the microphone outlives a session (a rejoin produces it again); close() stops it.
    this.#producer = await transport.produce({
      track: this.#track!,
      stopTracks: false,
      codecOptions: { opusStereo: false, opusFec: true, opusDtx: true },
    });
    if (this.#silenced) this.#producer.pause();
    this.#startTalkback(signaling, device, joined.iceServers as RTCIceServer[] | undefined);
  }

  /** The other commentators' voices heard now (talkback). */
  get talkback(): TalkbackTrack[] {
    return this.#talkback?.voices ?? [];
  }

  /** Talkback beside the voice: a failure there (an older node) leaves the commentator on air. */
  #startTalkback(signaling: SignalingClient, device: Device, iceServers: RTCIceServer[] | undefined): void {
    const talkback = new Talkback(signaling, device, iceServers);
    this.#talkback = talkback;
    talkback.on('voices', (voices) => this.emit('talkback', voices));
    talkback.on('warning', (error) => console.warn('[matchmesh] talkback', error));
    talkback.start().catch((error) => {
      if (this.#talkback === talkback) console.warn('[matchmesh] talkback unavailable', error);
    });
  }

  #stopTalkback(): void {
    this.#talkback?.close();
    this.#talkback = null;
  }

  /**
   * The Device for the router's capabilities: loaded once and reused by a rejoin to a router with the same
   * ones (loading probes the browser with a throwaway RTCPeerConnection: time a rejoin should not spend).
   */
  async #loadedDevice(routerRtpCapabilities: ms.RtpCapabilities): Promise<Device> {
    const key = JSON.stringify(routerRtpCapabilities);
    if (this.#device?.key === key) return this.#device.device;
    const device = new Device(this.options.device);
    await device.load({ routerRtpCapabilities });
    if (!device.canProduce('audio')) throw new Error('this browser cannot send Opus audio');
    this.#device = { key, device };
    return device;
  }

  /** A session lost after start(): tear it down (keeping the track) and rejoin after a short wait. */
  #dropped(reason: string): void {
    if (this.#state === 'closed' || this.#state === 'failed' || this.#rejoinTimer) return;
    this.#stopTalkback();
    this.#producer?.close();
    this.#producer = null;
    this.#transport?.close();
    this.#transport = null;
    const signaling = this.#signaling;
    this.#signaling = null;
    signaling?.close(1000, 'commentary rejoining');
    this.#set('connecting', `rejoining: ${reason}`);
    const delays = this.options.rejoinDelaysMs ?? [0, 250, 500, 1000, 2000];
    const wait = delays[Math.min(this.#rejoins, delays.length - 1)] ?? 0;
    this.#rejoins++;
    this.#rejoinTimer = setTimeout(() => {
      this.#rejoinTimer = null;
      if (this.#state === 'closed') return;
      this.#join().catch((error) => this.#dropped(error instanceof Error ? error.message : String(error)));
    }, wait);
  }

  /**
   * Another microphone, without leaving the air: the producer's RTP sender
   * takes the new track (RTCRtpSender.replaceTrack: no renegotiation, same
   * producer, so the mixer's slot and the viewers' language track stay).
   */
  async replaceTrack(track: MediaStreamTrack): Promise<void> {
    if (!this.#track) throw new Error(`CommentaryPublisher.replaceTrack() in state ${this.#state}`);
    const previous = this.#track;
    this.#track = track; // a rejoin produces the new one
    // mediasoup-client gives the new track the paused state (push-to-talk up stays silent).
    await this.#producer?.replaceTrack({ track });
    if (previous !== track) previous.stop();
  }

  /** Push-to-talk: false silences the voice (nothing sent), true lets it through again; the seat on air stays. */
  setVoiceLive(live: boolean): void {
    this.#silenced = !live;
    if (!this.#producer) return;
    if (live) this.#producer.resume();
    else this.#producer.pause();
  }

  /**
   * The commentator's view delay (their booth session's measure, commentaryAlignment.ts viewDelayOf): the node
   * aligns the language's commentary with the picture by it. Answers the language's delay (ms), or null when
   * not on air (nothing to align yet).
   */
  async reportViewDelay(view: { viewDelayMs: number; rttMs: number }): Promise<number | null> {
    const signaling = this.#signaling;
    if (this.#state !== 'live' || !this.#producer || !signaling) return null;
    const answer = await signaling.request('viewDelay', view);
    return answer.commentaryDelayMs;
  }

  close(): void {
    if (this.#state === 'closed') return;
    if (this.#rejoinTimer) clearTimeout(this.#rejoinTimer);
    this.#rejoinTimer = null;
    this.#stopTalkback();
    this.#producer?.close();
    this.#transport?.close();
    this.#signaling?.close(1000, 'commentary ended');
    this.#track?.stop();
    this.#set('closed', 'closed');
  }

  #fail(reason: string): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#stopTalkback();
    this.#transport?.close();
    this.#signaling?.close(1000, 'commentary failed');
    this.#set('failed', reason);
  }

  #set(state: CommentaryState, reason: string): void {
    this.#state = state;
    this.emit('state', state, reason);
  }
}
