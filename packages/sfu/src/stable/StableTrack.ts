import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { isKeyFrameStart, rewrite, seqOf, tsOf } from './rtp.ts';
import { Splicer } from './Splicer.ts';

/** SSRCs of the stable producers inside a router (viewers' consumers pick their own). */
export const STABLE_SSRC: Record<types.MediaKind, number> = { audio: 0x6d6d_0a01, video: 0x6d6d_0f01 };

interface Source {
  id: string;
  consumer: types.Consumer;
  payloadType: number;
  mimeType: string;
  lastPacketAt: number;
  /** Input ts of the previous packet seen from this source (frame-start detection). */
  lastTs: number | undefined;
  packets: number;
}

export interface SpliceInfo {
  kind: types.MediaKind;
  from: string | undefined;
  to: string;
  /** Wall time between the last packet of the old source and the first of the new one. */
  gapMs: number;
  rebased: boolean;
}

interface StableTrackEvents {
  spliced: [info: SpliceInfo];
}

/** What a pending switch waits for in the new source before it takes over. */
export type SpliceAt = 'now' | 'frame' | 'keyframe';

const now = (): number => performance.now();

/**
 * One media kind of a stream with a stable identity: a Producer on the
 * router's DirectTransport with a fixed SSRC, fed by whichever live source
 * (a WHIP session's producer, a pipe's producer) is selected. Each source is
 * consumed on the same DirectTransport; its packets come up to Node
 * ('rtp' events), are rewritten by the Splicer and sent back down through
 * the stable producer. Viewers, WHEP sessions and pipes consume only the
 * stable producer, so a source coming or going never closes their consumers.
 *
 * Key-frame requests for the stable producer (viewers joining, viewers'
 * PLIs) reach Node as RTCP on the DirectTransport and are passed to the
 * active source; a splice requests one from the new source at once.
 */
export class StableTrack extends EventEmitter<StableTrackEvents> {
  readonly kind: types.MediaKind;
  readonly producer: types.Producer;
  readonly mimeType: string;
  readonly #transport: types.DirectTransport;
  readonly #routerCaps: types.RtpCapabilities;
  readonly #payloadType: number;
  readonly #splicer: Splicer;
  readonly #sources = new Map<string, Source>();
  #active: Source | undefined;
  #pending: { source: Source; at: SpliceAt } | undefined;
  #closed = false;
  /** Packets dropped: inactive sources, late retransmissions. */
  dropped = 0;

  private constructor(
    kind: types.MediaKind,
    transport: types.DirectTransport,
    routerCaps: types.RtpCapabilities,
    producer: types.Producer,
    codec: types.RtpCodecParameters,
  ) {
    super();
    this.kind = kind;
    this.#transport = transport;
    this.#routerCaps = routerCaps;
    this.producer = producer;
    this.mimeType = codec.mimeType;
    this.#payloadType = codec.payloadType;
    this.#splicer = new Splicer(codec.clockRate);
  }

  /**
   * Build the stable producer from the first source's consumable parameters
   * (codec and header extensions as the router maps them), with our SSRC.
   */
  static async create(
    transport: types.DirectTransport,
    routerCaps: types.RtpCapabilities,
    first: types.Producer,
    appData: types.AppData,
  ): Promise<StableTrack> {
    const params = first.consumableRtpParameters;
    const codec = params.codecs.find((c) => !/\/rtx$/i.test(c.mimeType));
    if (!codec) throw new Error(`source ${first.id} has no media codec`);
    const producer = await transport.produce({
      kind: first.kind,
      rtpParameters: {
        codecs: [{ ...codec, rtcpFeedback: codec.rtcpFeedback ?? [] }],
        headerExtensions: [],
        encodings: [{ ssrc: STABLE_SSRC[first.kind] }],
        rtcp: { cname: `matchmesh-${String(appData.stream ?? 'stream')}`, reducedSize: true },
      },
      appData: { ...appData, stable: true, source: 'program' },
    });
    return new StableTrack(first.kind, transport, routerCaps, producer, codec);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get activeSource(): string | undefined {
    return this.#active?.id;
  }

  get pendingSource(): string | undefined {
    return this.#pending?.source.id;
  }

  get forwarded(): number {
    return this.#splicer.forwarded;
  }

  /** When the source last delivered a packet of this kind (performance.now()), or undefined. */
  lastPacketAt(sourceId: string): number | undefined {
    const s = this.#sources.get(sourceId);
    return s && s.packets > 0 ? s.lastPacketAt : undefined;
  }

  hasSource(sourceId: string): boolean {
    return this.#sources.has(sourceId);
  }

  /** Start receiving a source's packets (it is not forwarded until selected). */
  async addSource(sourceId: string, producer: types.Producer): Promise<void> {
    if (this.#closed) throw new Error('stable track closed');
    if (producer.kind !== this.kind) throw new Error(`source ${sourceId} is ${producer.kind}, track is ${this.kind}`);
    const consumer = await this.#transport.consume({
      producerId: producer.id,
      rtpCapabilities: this.#routerCaps,
      enableRtx: false,
      appData: { splicerSource: sourceId },
    });
    const codec = consumer.rtpParameters.codecs[0]!;
    const source: Source = {
      id: sourceId,
      consumer,
      payloadType: codec.payloadType,
      mimeType: codec.mimeType,
      lastPacketAt: now(),
      lastTs: undefined,
      packets: 0,
    };
    this.#sources.set(sourceId, source);
    consumer.on('rtp', (packet) => this.#onRtp(source, packet));
    consumer.observer.once('close', () => this.removeSource(sourceId));
  }

  removeSource(sourceId: string): void {
    const source = this.#sources.get(sourceId);
    if (!source) return;
    this.#sources.delete(sourceId);
    if (this.#pending?.source === source) this.#pending = undefined;
    if (this.#active === source) this.#active = undefined;
    if (!source.consumer.closed) source.consumer.close();
  }

  /**
   * Make `sourceId` the one that feeds the stable producer. The switch
   * happens on the first packet of the new source that satisfies `at`; the
   * old source keeps feeding until then (when both copies are alive the
   * viewer sees no gap at all).
   */
  select(sourceId: string, at: SpliceAt): void {
    const source = this.#sources.get(sourceId);
    if (!source || this.#active === source) {
      if (this.#active === source) this.#pending = undefined;
      return;
    }
    this.#pending = { source, at: this.kind === 'audio' ? 'now' : at };
    if (this.kind === 'video') void source.consumer.requestKeyFrame().catch(() => undefined);
  }

  /** Ask the active (and any pending) source for a key frame. */
  requestKeyFrame(): void {
    for (const s of [this.#active, this.#pending?.source]) {
      if (s && this.kind === 'video') void s.consumer.requestKeyFrame().catch(() => undefined);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#sources.keys()]) this.removeSource(id);
    this.producer.close();
  }

  #onRtp(source: Source, packet: Buffer): void {
    if (this.#closed || packet.length < 12) return;
    const t = now();
    const inSeq = seqOf(packet);
    const inTs = tsOf(packet);
    const frameStart = source.lastTs === undefined || source.lastTs !== inTs;
    source.lastTs = inTs;
    source.lastPacketAt = t;
    source.packets++;

    const pending = this.#pending;
    if (pending?.source === source && this.#ready(pending.at, packet, frameStart, inTs, t)) {
      const from = this.#active?.id;
      this.#pending = undefined;
      this.#active = source;
      const cost = this.#splicer.splice(inSeq, inTs, t);
      this.emit('spliced', { kind: this.kind, from, to: source.id, gapMs: cost.gapMs, rebased: cost.rebased });
    }
    if (this.#active !== source) {
      this.dropped++;
      return;
    }
    const out = this.#splicer.map(inSeq, inTs, t);
    if (!out) {
      this.dropped++;
      return;
    }
    rewrite(packet, out.seq, out.ts, STABLE_SSRC[this.kind], this.#payloadType);
    this.producer.send(packet);
  }

  #ready(at: SpliceAt, packet: Buffer, frameStart: boolean, inTs: number, t: number): boolean {
    if (at === 'now' || !this.#active || !this.#splicer.started) return true;
    if (!frameStart) return false;
    // The old source is still on air: wait for a frame it has not sent yet,
    // so the same picture is never sent twice nor a newer one skipped back.
    if (this.#splicer.sameTimeline(inTs, t) && !this.#splicer.isAhead(inTs)) return false;
    return at === 'frame' || isKeyFrameStart(packet, this.mimeType);
  }
}
