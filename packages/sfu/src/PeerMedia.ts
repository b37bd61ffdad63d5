import { EventEmitter } from 'node:events';
import type {
  ConsumerInfo,
  DataConsumerInfo,
  DtlsParameters,
  IceParameters,
  JoinedRecv,
  RtpCapabilities,
  RtpParameters,
  TalkbackConsumerInfo,
  TalkbackVoice,
  TransportInfo,
} from '@matchmesh/protocol';
import type { types } from 'mediasoup';
import { talkbackVoices } from './commentary/talkback.ts';
import { hasLayers, type VideoLayers } from './layers.ts';
import type { Seat } from './MediaService.ts';
import { PeerMediaError } from './PeerMediaError.ts';
import { PeerVideoLayers } from './PeerVideoLayers.ts';
import type { StreamOutlet } from './StreamOutlet.ts';
import { commentaryLanguage } from './StreamRouter.ts';

/** Limits per peer so one socket cannot exhaust the worker. */
const MAX_TRANSPORTS = 4;
const MAX_PRODUCERS = 2;

export { PeerMediaError, type PeerMediaErrorCode } from './PeerMediaError.ts';

interface PeerMediaEvents {
  /** A consumer of this peer closed while the peer is open (its producer went away). */
  consumerclose: [consumerId: string];
  /**
   * The program video's layers changed: the consumer stepped down or up
   * (bandwidth estimate, a layer that stopped or came back), or the viewer's
   * preference changed. Only for a program with layers (simulcast).
   */
  layerschange: [layers: VideoLayers];
  close: [];
}

/**
 * The mediasoup objects one signaling peer (a viewer or commentator) owns on
 * the stream's outlet it is seated on (the source router or a worker's
 * fan-out router): WebRTC transports, consumers of the program and the
 * commentary, the score data consumer, and a commentator's producers. It
 * checks resource limits, not permissions: who may send is the signaling
 * layer's decision. close() closes every transport and, with them, all the
 * rest, and gives the seat back.
 */
export class PeerMedia extends EventEmitter<PeerMediaEvents> {
  readonly outlet: StreamOutlet;
  readonly #seat: Seat;
  readonly transports = new Map<string, types.WebRtcTransport>();
  readonly consumers = new Map<string, types.Consumer>();
  readonly dataConsumers = new Map<string, types.DataConsumer>();
  readonly producers = new Map<string, types.Producer>();
  /** The program video's layers: the viewer's choice and what its consumer forwards. */
  readonly #videoLayers: PeerVideoLayers;
  /**
   * The commentary language this peer hears (null: the venue sound only; undefined: the node's default,
   * or the first language on air when the default is not). Only that track's consumer runs.
   */
  #language: string | null | undefined;
  readonly #defaultLanguage: string;
  /** Consumers the client asked to resume (a commentary consumer of another language stays paused). */
  readonly #resumed = new Set<string>();
  #closed = false;

  constructor(seat: Seat, opts: { language?: string | null; defaultLanguage?: string } = {}) {
    super();
    this.#seat = seat;
    this.outlet = seat.outlet;
    this.#language = opts.language;
    this.#defaultLanguage = opts.defaultLanguage ?? 'en';
    const peer = this;
    this.#videoLayers = new PeerVideoLayers({
      outlet: this.outlet,
      governor: seat.layerGovernor,
      get closed() {
        return peer.closed;
      },
      layersChanged: (layers) => this.emit('layerschange', layers),
    });
  }

  /** The language heard now: the chosen one, else the default when on air, else the first on air; null: none. */
  get language(): string | null {
    if (this.#language !== undefined) return this.#language;
    const onAir = this.outlet.source.languages();
    return onAir.includes(this.#defaultLanguage) ? this.#defaultLanguage : (onAir[0] ?? null);
  }

  /**
   * Hear `lang`'s commentary (null: the venue sound only): its consumer runs, every other language's is
   * paused, so a viewer receives one commentary track at most.
   */
  async setLanguage(lang: string | null): Promise<string | null> {
    this.#language = lang;
    await this.#applyLanguage();
    return this.language;
  }

  /** The worker this peer is served from. */
  get worker(): number {
    return this.#seat.worker;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async createTransport(o: { direction: 'send' | 'recv'; sctp: boolean; forceTcp?: boolean }): Promise<TransportInfo> {
    if (this.transports.size >= MAX_TRANSPORTS) throw new PeerMediaError('conflict', 'too many transports');
    const transport = await this.outlet.createWebRtcTransport({
      sctp: o.sctp,
      forceTcp: o.forceTcp,
      appData: { direction: o.direction, peer: true },
    });
    this.transports.set(transport.id, transport);
    transport.observer.once('close', () => this.transports.delete(transport.id));
    const info: TransportInfo = {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
    };
    if (transport.sctpParameters) info.sctpParameters = transport.sctpParameters;
    return info;
  }

  async connectTransport(transportId: string, dtlsParameters: DtlsParameters): Promise<void> {
    await this.#transport(transportId).connect({ dtlsParameters });
  }

  /**
   * A viewer's whole receiving side in one go (a one-round-trip join): the
   * receive transport with SCTP, the score data consumer (backlog after
   * `sinceSeq` queued) and every consumer, paused as in the step-by-step way:
   * the peer resumes each once its side exists, a message that travels while
   * its ICE and DTLS handshake runs (resumed earlier, the first key frame
   * could reach the browser before the video's m-line and be lost).
   */
  async receive(o: { rtpCapabilities: RtpCapabilities; forceTcp: boolean }, sinceSeq: number): Promise<JoinedRecv> {
    const transport = await this.createTransport({ direction: 'recv', sctp: true, forceTcp: o.forceTcp });
    // Scores first: updates produced between the join snapshot and the data consumer would be missed otherwise.
    const scores = await this.consumeScores(transport.id, sinceSeq);
    const consumers = await this.consume(transport.id, o.rtpCapabilities);
    const layers = this.layers;
    return { transport, scores, consumers, ...(layers ? { layers } : {}) };
  }

  /** Consume everything the stream has that this peer does not consume yet (paused until resumed). */
  async consume(transportId: string, rtpCapabilities: RtpCapabilities): Promise<ConsumerInfo[]> {
    const stream = this.outlet;
    const transport = this.#transport(transportId);
    const already = new Set([...this.consumers.values()].map((c) => c.producerId));
    const ownProducers = new Set(this.producers.keys());
    const sources = [
      ...stream.programProducers().map((p) => ({ producer: p, source: 'program' as const })),
      ...stream.commentaryProducers().map((p) => ({ producer: p, source: 'commentary' as const })),
    ].filter(({ producer }) => !already.has(producer.id) && !ownProducers.has(producer.id));

    const out: ConsumerInfo[] = [];
    for (const { producer, source } of sources) {
      if (!stream.router.canConsume({ producerId: producer.id, rtpCapabilities })) continue;
      const layered = source === 'program' && hasLayers(producer);
      const consumer = await transport.consume({
        producerId: producer.id,
        rtpCapabilities,
        paused: true,
        appData: { source, lang: commentaryLanguage(producer) },
        // The best layer the viewer's bandwidth estimate allows, up to its choice (the highest unless it chose).
        ...(layered ? { preferredLayers: this.#videoLayers.fit(producer) } : {}),
      });
      this.consumers.set(consumer.id, consumer);
      if (layered) await this.#videoLayers.watch(consumer, producer, transport);
      consumer.observer.once('close', () => {
        this.consumers.delete(consumer.id);
        if (!this.#closed) this.emit('consumerclose', consumer.id);
        // The default language may now resolve to another track.
        if (source === 'commentary' && !this.#closed) void this.#applyLanguage().catch(() => undefined);
      });
      out.push({
        id: consumer.id,
        producerId: producer.id,
        kind: consumer.kind,
        rtpParameters: consumer.rtpParameters,
        source,
        ...(source === 'commentary' && commentaryLanguage(producer) ? { lang: commentaryLanguage(producer) } : {}),
      });
    }
    // A new language on air may change what "default" resolves to.
    if (out.some((c) => c.source === 'commentary')) await this.#applyLanguage();
    return out;
  }

  async resumeConsumer(consumerId: string): Promise<void> {
    const consumer = this.consumers.get(consumerId);
    if (!consumer) throw new PeerMediaError('not_found', `no consumer "${consumerId}"`);
    this.#resumed.add(consumerId);
    consumer.observer.once('close', () => this.#resumed.delete(consumerId));
    // Another language's commentary: kept paused until the viewer picks it.
    if (!this.#hears(consumer)) return;
    await consumer.resume();
    // Ask for a keyframe at once so the first picture arrives without waiting for the GOP.
    if (consumer.kind === 'video') await consumer.requestKeyFrame();
  }

  /**
   * Consume the stream's score channel, first replaying every update after
   * `sinceSeq` (the snapshot the peer already has).
   */
  async consumeScores(transportId: string, sinceSeq: number): Promise<DataConsumerInfo> {
    const stream = this.outlet;
    const transport = this.#transport(transportId);
    if (!transport.sctpParameters) throw new PeerMediaError('bad_request', 'transport was created without sctp');
    for (const dc of this.dataConsumers.values()) {
      if (dc.dataProducerId === stream.scoreProducer.id)
        throw new PeerMediaError('conflict', 'already consuming scores');
    }
    // Every update after the join snapshot must reach this viewer exactly
    // once and in order, including those produced while it was setting up.
    // The consumer is created paused (live updates skip it); then, in one
    // synchronous block, resume and the backlog are written to the worker's
    // channel, which handles requests in order: any live update comes from a
    // later tick, so it is written, and delivered, after the backlog.
    const dc = await transport.consumeData({ dataProducerId: stream.scoreProducer.id, paused: true });
    // Always set on an SCTP transport (checked above); mediasoup types it optional for direct transports.
    const sctpStreamParameters = dc.sctpStreamParameters;
    if (!sctpStreamParameters) {
      dc.close();
      throw new Error('a data consumer on an SCTP transport has no SCTP stream parameters');
    }
    const backlog = stream.scoresSince(sinceSeq);
    await Promise.all([dc.resume(), ...backlog.map((u) => dc.send(JSON.stringify(u)))]);
    this.dataConsumers.set(dc.id, dc);
    dc.observer.once('close', () => this.dataConsumers.delete(dc.id));
    return {
      id: dc.id,
      dataProducerId: dc.dataProducerId,
      sctpStreamParameters,
      label: dc.label,
      protocol: dc.protocol,
    };
  }

  /**
   * A commentator's voice: produced on a send transport and mixed into `lang`'s commentary track. `who` names
   * the commentator to the others' talkback (their session id, and a name when the booth link has one).
   */
  async produceCommentary(
    transportId: string,
    kind: types.MediaKind,
    rtpParameters: RtpParameters,
    lang: string,
    who?: { commentator: string; name?: string },
  ): Promise<string> {
    if (kind !== 'audio') throw new PeerMediaError('bad_request', 'a commentator sends audio only');
    if (this.producers.size >= MAX_PRODUCERS) throw new PeerMediaError('conflict', 'too many producers');
    // Commentary enters where the program does; a commentator is seated there (MediaService.seat).
    if (this.outlet.source !== this.outlet) {
      throw new PeerMediaError('bad_request', "commentary is produced on the stream's source router only");
    }
    const transport = this.#transport(transportId);
    if (transport.appData.direction !== 'send') throw new PeerMediaError('bad_request', 'not a send transport');
    const producer = await transport.produce({
      kind,
      rtpParameters,
      // Unnamed, talkback names the voice by its producer id.
      appData: { source: 'voice', lang, ...who },
    });
    this.producers.set(producer.id, producer);
    producer.observer.once('close', () => this.producers.delete(producer.id));
    try {
      await this.outlet.source.addVoice(producer, lang);
    } catch (err) {
      producer.close();
      throw new PeerMediaError('conflict', err instanceof Error ? err.message : String(err));
    }
    return producer.id;
  }

  /**
   * Talkback: consume the booth's other voices (every language, raw, never this peer's own) not consumed yet,
   * paused until resumed. Voices live on the stream's source router, where commentators are seated.
   */
  async consumeTalkback(transportId: string, rtpCapabilities: RtpCapabilities): Promise<TalkbackConsumerInfo[]> {
    const transport = this.#transport(transportId);
    if (transport.appData.direction !== 'recv') throw new PeerMediaError('bad_request', 'not a receive transport');
    const already = new Set([...this.consumers.values()].map((c) => c.producerId));
    const out: TalkbackConsumerInfo[] = [];
    for (const voice of this.talkbackVoices()) {
      const producer = this.outlet.source.voices().find((p) => p.id === voice.producerId);
      if (!producer || already.has(producer.id)) continue;
      if (!this.outlet.router.canConsume({ producerId: producer.id, rtpCapabilities })) continue;
      const consumer = await transport.consume({
        producerId: producer.id,
        rtpCapabilities,
        paused: true,
        appData: { source: 'voice' },
      });
      this.consumers.set(consumer.id, consumer);
      consumer.observer.once('close', () => {
        this.consumers.delete(consumer.id);
        if (!this.#closed) this.emit('consumerclose', consumer.id);
      });
      out.push({ ...voice, id: consumer.id, kind: 'audio', rtpParameters: consumer.rtpParameters });
    }
    return out;
  }

  /** The booth's voices this peer's talkback hears: every one on its router but its own. */
  talkbackVoices(): TalkbackVoice[] {
    return talkbackVoices(this.outlet, this.producers);
  }

  /**
   * The program video's layers (count, the viewer's preference, what flows
   * now), or undefined when the peer consumes no program video with layers.
   */
  get layers(): VideoLayers | undefined {
    return this.#videoLayers.layers;
  }

  /** Prefer a layer of the program video (see PeerVideoLayers.setPreferredLayers). */
  async setPreferredLayers(spatialLayer: number, temporalLayer?: number): Promise<VideoLayers> {
    return this.#videoLayers.setPreferredLayers(spatialLayer, temporalLayer);
  }

  async restartIce(transportId: string): Promise<IceParameters> {
    return this.#transport(transportId).restartIce();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.transports.values()) t.close();
    this.#seat.release();
    this.emit('close');
  }

  /** Whether this consumer should run: anything but another language's commentary. */
  #hears(consumer: types.Consumer): boolean {
    if (consumer.appData.source !== 'commentary') return true;
    return consumer.appData.lang === this.language;
  }

  async #applyLanguage(): Promise<void> {
    await Promise.all(
      [...this.consumers.values()]
        .filter((c) => c.appData.source === 'commentary' && this.#resumed.has(c.id))
        .map((c) => (this.#hears(c) ? c.resume() : c.pause())),
    );
  }

  #transport(id: string): types.WebRtcTransport {
    const t = this.transports.get(id);
    if (!t) throw new PeerMediaError('not_found', `no transport "${id}"`);
    return t;
  }
}
