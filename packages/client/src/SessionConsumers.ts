import type { ConsumerInfo, VideoLayersInfo } from '@matchmesh/protocol';
import type { Device, types as ms } from 'mediasoup-client';
import { SignalingRequestError } from './errors.ts';
import { clientRtpParameters } from './mediaTypes.ts';
import type { SignalingClient } from './SignalingClient.ts';
import type { VideoLayers, WebRtcSessionOptions } from './WebRtcSessionTypes.ts';

/** A consumer of the session: the local mediasoup side and what the node said of it. */
export type ConsumerEntry = { consumer: ms.Consumer; info: ConsumerInfo };

/** A consumer as WebRtcSession.consumers shows it (diagnostics). */
export type ConsumedTrack = {
  id: string;
  kind: 'audio' | 'video';
  source: string;
  /** Commentary: its language. */
  lang?: string;
  track: MediaStreamTrack;
};

export interface SessionConsumersOptions {
  signaling: SignalingClient;
  /** The session's stream (a source's tracks share a stream id) and its quality choice at creation. */
  session: Readonly<Pick<WebRtcSessionOptions, 'stream' | 'maxLayer'>>;
  device(): Device | null;
  transport(): ms.Transport | null;
  /** The session is closed: consumers that arrive late are closed at once, no event is emitted. */
  isClosed(): boolean;
  /** The node named the heard commentary language in its consume answer. */
  onLanguage(lang: string | null): void;
  /** Consumers were added: each receiver's playout target is set again (PlayoutAligner). */
  applyPlayout(): void;
  /** The adopted consumers are resumed on the node: a connected session is now playing. */
  onResumed(): void;
  /** Tracks were added to or removed from the MediaStream. */
  onTracks(stream: MediaStream): void;
  /** The program video's layers changed (the node switched, or the viewer chose). */
  onLayers(layers: VideoLayers): void;
}

/**
 * The consumers of one WebRTC session: the local side of each consumer the node made, the MediaStream that
 * carries their tracks, and the program video's layers with the viewer's cap. The node makes consumers
 * paused; they are resumed once their local side exists, and dropped when the node closes them.
 */
export class SessionConsumers {
  readonly #o: SessionConsumersOptions;
  readonly #consumers = new Map<string, ConsumerEntry>();
  #mediaStream: MediaStream | null = null;
  #layers: VideoLayers | null = null;

  constructor(options: SessionConsumersOptions) {
    this.#o = options;
  }

  /** All consumed tracks (program video/audio, commentary audio). Null before createStream(). */
  get mediaStream(): MediaStream | null {
    return this.#mediaStream;
  }

  /** The stream the consumed tracks are added to; made with the transport. */
  createStream(): void {
    this.#mediaStream = new MediaStream();
  }

  get size(): number {
    return this.#consumers.size;
  }

  values(): IterableIterator<ConsumerEntry> {
    return this.#consumers.values();
  }

  /** Currently open consumers, for diagnostics. */
  get list(): readonly ConsumedTrack[] {
    return [...this.#consumers.values()].map(({ consumer, info }) => ({
      id: consumer.id,
      kind: info.kind,
      source: info.source,
      ...(info.lang ? { lang: info.lang } : {}),
      track: consumer.track,
    }));
  }

  /** The program video's layers, when it is simulcast (null: one layer, or no video yet). */
  get layers(): VideoLayers | null {
    return this.#layers;
  }

  /**
   * The viewer's quality choice: the highest spatial layer to receive (null =
   * automatic). The node may still send less when the link cannot carry it.
   */
  async setMaxLayer(spatialLayer: number | null): Promise<void> {
    if (!this.#layers) return;
    this.#layers = { ...this.#layers, wanted: spatialLayer };
    const layers = await this.#o.signaling.request('setLayers', { spatialLayer });
    if (this.#layers) this.#setLayers({ ...layers, wanted: this.#layers.wanted });
  }

  /** The node switched the program video's layers (layersChanged): the viewer's cap stays. */
  layersChanged(layers: VideoLayersInfo): void {
    this.#setLayers({ ...layers, wanted: this.#layers?.wanted ?? null });
  }

  #setLayers(layers: VideoLayers): void {
    this.#layers = layers;
    this.#o.onLayers(layers);
  }

  /** Asks the node for consumers of every producer we do not consume yet, creates them, resumes them. */
  async consumeAll(): Promise<void> {
    const device = this.#o.device();
    const transport = this.#o.transport();
    if (!device || !transport) return;
    const { consumers, layers, lang } = await this.#o.signaling.request('consume', {
      transportId: transport.id,
      rtpCapabilities: device.recvRtpCapabilities,
    });
    if (lang !== undefined) this.#o.onLanguage(lang);
    await this.adopt(consumers, layers);
    this.#o.applyPlayout();
  }

  /** Creates the local side of consumers the node made (paused there), then resumes them. */
  async adopt(consumers: ConsumerInfo[], layers: VideoLayersInfo | undefined): Promise<void> {
    const transport = this.#o.transport();
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
          streamId: `${this.#o.session.stream}-${info.source}`,
          appData: { source: info.source },
        });
        return { consumer, info };
      }),
    );
    if (this.#o.isClosed()) {
      for (const { consumer } of created) consumer.close();
      return;
    }
    for (const entry of created) {
      this.#consumers.set(entry.consumer.id, entry);
      this.#mediaStream?.addTrack(entry.consumer.track);
      entry.consumer.on('transportclose', () => this.remove(entry.consumer.id));
    }
    this.#o.applyPlayout();
    if (created.length > 0 && this.#mediaStream) this.#o.onTracks(this.#mediaStream);
    if (layers && !this.#layers) {
      const wanted = this.#o.session.maxLayer?.(layers) ?? null;
      this.#setLayers({ ...layers, wanted });
      // Before the resume: the first picture is already of the chosen size.
      if (wanted !== null) await this.setMaxLayer(wanted);
    }
    // Server-side consumers start paused; resume once the local side exists.
    await Promise.all(
      created.map(({ consumer }) =>
        this.#o.signaling.request('resumeConsumer', { consumerId: consumer.id }).catch((error: unknown) => {
          // Closed on the server meanwhile (its producer went away): drop it, keep the rest.
          if (error instanceof SignalingRequestError && error.code === 'not_found') this.remove(consumer.id);
          else throw error;
        }),
      ),
    );
    this.#o.onResumed();
  }

  /** The node closed a consumer (consumerClosed, or its transport went): its track leaves the stream. */
  remove(consumerId: string): void {
    const entry = this.#consumers.get(consumerId);
    if (!entry) return;
    this.#consumers.delete(consumerId);
    this.#mediaStream?.removeTrack(entry.consumer.track);
    entry.consumer.close();
    if (this.#mediaStream && !this.#o.isClosed()) this.#o.onTracks(this.#mediaStream);
  }

  /** The session's teardown: every consumer closed. */
  close(): void {
    for (const { consumer } of this.#consumers.values()) consumer.close();
    this.#consumers.clear();
  }
}
