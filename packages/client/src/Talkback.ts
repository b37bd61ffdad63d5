import type { SignalingNotification, TalkbackVoice } from '@matchmesh/protocol';
import type { Device, types as ms } from 'mediasoup-client';
import { TypedEmitter } from './emitter.ts';
import { clientRtpParameters } from './mediaTypes.ts';
import type { SignalingClient } from './SignalingClient.ts';

/** Another commentator's voice as the booth hears it: who, which language, and the track to play. */
export type TalkbackTrack = TalkbackVoice & { consumerId: string; track: MediaStreamTrack };

export type TalkbackEvents = {
  /** The voices heard now changed (one came, one went, or the session ended: empty). */
  voices: [voices: TalkbackTrack[]];
  /** Something went wrong that leaves the commentator on air (talkback is not worth a dropped voice). */
  warning: [error: Error];
};

/**
 * Talkback for one commentator session: a receive transport beside the voice's send transport, on the same
 * signaling peer, consuming the other commentators' voices of the booth as the node announces them
 * (`talkbackChanged`; `consumerClosed` when one goes). The node never offers the peer its own voice. Each
 * session (a rejoin is a new one) has its own; the CommentaryPublisher re-emits the voices.
 */
export class Talkback extends TypedEmitter<TalkbackEvents> {
  readonly #signaling: SignalingClient;
  readonly #device: Device;
  readonly #iceServers: RTCIceServer[] | undefined;
  #transport: ms.Transport | null = null;
  readonly #voices = new Map<string, { voice: TalkbackTrack; consumer: ms.Consumer }>();
  /** consumeTalkback rounds run one at a time (a notification may arrive while one is under way). */
  #round: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #offNotification: () => void;

  constructor(signaling: SignalingClient, device: Device, iceServers?: RTCIceServer[]) {
    super();
    this.#signaling = signaling;
    this.#device = device;
    this.#iceServers = iceServers;
    this.#offNotification = signaling.on('notification', (n) => this.#onNotification(n));
  }

  get voices(): TalkbackTrack[] {
    return [...this.#voices.values()].map((v) => v.voice);
  }

  /** Open the receive transport and consume the voices already in the booth. */
  async start(): Promise<void> {
    const info = await this.#signaling.request('createTransport', { direction: 'recv', sctp: false });
    if (this.#closed) return;
    const { sctpParameters: _none, ...parameters } = info;
    const transport = this.#device.createRecvTransport({
      ...parameters,
      ...(this.#iceServers ? { iceServers: this.#iceServers } : {}),
    });
    this.#transport = transport;
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.#signaling.request('connectTransport', { transportId: transport.id, dtlsParameters }).then(
        () => callback(),
        (error) => errback(error),
      );
    });
    // In the one queue of rounds: a `talkbackChanged` may already have come.
    const round = this.#round.then(() => this.#consume());
    this.#round = round.catch(() => undefined); // the caller hears of this one's failure
    await round;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#offNotification();
    this.#transport?.close();
    this.#transport = null;
    const had = this.#voices.size > 0;
    this.#voices.clear();
    if (had) this.emit('voices', []);
  }

  #onNotification(n: SignalingNotification): void {
    if (this.#closed) return;
    if (n.notification === 'talkbackChanged') {
      this.#round = this.#round.then(() => this.#consume()).catch((e) => this.#warn(e));
    } else if (n.notification === 'consumerClosed') {
      const entry = this.#voices.get(n.data.consumerId);
      if (!entry) return;
      entry.consumer.close();
      this.#voices.delete(n.data.consumerId);
      this.emit('voices', this.voices);
    }
  }

  /** One round: ask the node for the voices not consumed yet, receive each, let it flow. */
  async #consume(): Promise<void> {
    const transport = this.#transport;
    if (!transport || this.#closed) return;
    const { consumers } = await this.#signaling.request('consumeTalkback', {
      transportId: transport.id,
      rtpCapabilities: this.#device.rtpCapabilities,
    });
    for (const info of consumers) {
      const consumer = await transport.consume({
        id: info.id,
        producerId: info.producerId,
        kind: info.kind,
        rtpParameters: clientRtpParameters(info.rtpParameters),
        // Each voice its own stream: the browser syncs it with nothing else (least delay).
        streamId: `talkback-${info.producerId}`,
      });
      if (this.#closed) {
        consumer.close();
        return;
      }
      const { id: consumerId, kind: _kind, rtpParameters: _rtp, ...voice } = info;
      this.#voices.set(consumerId, { voice: { ...voice, consumerId, track: consumer.track }, consumer });
      await this.#signaling.request('resumeConsumer', { consumerId });
    }
    if (consumers.length > 0) this.emit('voices', this.voices);
  }

  #warn(error: unknown): void {
    if (!this.#closed) this.emit('warning', error instanceof Error ? error : new Error(String(error)));
  }
}
