import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { FeedPacer } from './FeedPacer.ts';
import { type MergeReport, mergeReportOfLayers } from './mergeReport.ts';
import { PathMerge } from './PathMerge.ts';
import { tsDiff } from './rtp.ts';
import { type SpliceAt, type SpliceInfo, StableLayer } from './StableLayer.ts';
import { senderReport } from './senderReport.ts';
import { KEY_FRAME_REQUEST_DELAY_MS, produceStable, STABLE_SSRC } from './stableProducer.ts';

// Moved out of this module; re-exported for the modules and tests that import them from here.
export type { MergeReport } from './mergeReport.ts';
export type { SpliceAt, SpliceInfo } from './StableLayer.ts';
export { KEY_FRAME_REQUEST_DELAY_MS, STABLE_SSRC } from './stableProducer.ts';

/**
 * A merged source's path that never overlapped the others takes over the
 * numbering when they have been silent this long (PathMerge): well under the
 * program's silence switch, well over a frame interval.
 */
const MERGE_REANCHOR_MS = 150;

/** How often each simulcast layer's RTCP Sender Report goes into the router. */
const SENDER_REPORT_MS = 500;

interface Source {
  id: string;
  /** Its consumers: one, or one per path of a merged source (by path id). */
  consumers: Map<string, types.Consumer>;
  /** A merged source (dual path): per stable layer, the merge of its paths' packets. */
  merges: PathMerge[] | undefined;
  /** When a key frame was last asked of it (performance.now()), and a request waiting for the interval. */
  lastKeyFrameAskAt: number;
  trailing: NodeJS.Timeout | undefined;
}

interface StableTrackEvents {
  spliced: [info: SpliceInfo];
}

/**
 * One media kind of a stream with a stable identity: a Producer on the
 * router's DirectTransport with fixed SSRCs, fed by whichever live source
 * (a WHIP session's producer, a pipe's producer) is selected. Each source is
 * consumed on the same DirectTransport; its packets come up to Node
 * ('rtp' events), are rewritten and sent back down through the stable
 * producer. Viewers, WHEP sessions and pipes consume only the stable
 * producer, so a source coming or going never closes their consumers.
 *
 * Simulcast: the stable producer has one encoding per layer of the first
 * source (lowest first, SSRC STABLE_SSRC.video + i), each spliced by its own
 * StableLayer. A simulcast source is consumed with a pipe consumer (every
 * layer, each on its own SSRC); a source with fewer layers feeds the top ones
 * (its best layer feeds the track's best) and the rest get nothing, which
 * viewers' simulcast consumers step around. Because the stable producer gets
 * no RTCP from a sender, the track writes each layer's Sender Reports itself:
 * mediasoup's simulcast consumers switch layers only between streams whose
 * capture instants they can align.
 *
 * Key-frame requests for the stable producer (viewers joining, viewers'
 * PLIs) reach Node as RTCP on the DirectTransport and are passed to the
 * source feeding that layer; a splice requests one from the new source at
 * once. (A pipe consumer passes a request on to every layer of its producer:
 * mediasoup offers no per-layer request there, so a request for layer i
 * reaches source layer i and its siblings.)
 */
export class StableTrack extends EventEmitter<StableTrackEvents> {
  readonly kind: types.MediaKind;
  readonly producer: types.Producer;
  readonly mimeType: string;
  /** Lowest first; one without simulcast. */
  readonly layers: readonly StableLayer[];
  readonly #transport: types.DirectTransport;
  readonly #routerCaps: types.RtpCapabilities;
  readonly #sources = new Map<string, Source>();
  /** Video goes to the worker at the worker's pace (see FeedPacer); audio and an unpaced track go straight. */
  readonly #pacer: FeedPacer | undefined;
  /** Sources a key frame was asked of in this tick (layers asking at once make one request). */
  readonly #keyFrameAsked = new Set<string>();
  readonly #keyFrameIntervalMs: number;
  #reports: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(
    kind: types.MediaKind,
    transport: types.DirectTransport,
    routerCaps: types.RtpCapabilities,
    producer: types.Producer,
    codec: types.RtpCodecParameters,
    layerCount: number,
    pacer: FeedPacer | undefined,
    keyFrameIntervalMs: number,
  ) {
    super();
    this.#keyFrameIntervalMs = keyFrameIntervalMs;
    this.kind = kind;
    this.#pacer = pacer;
    this.#transport = transport;
    this.#routerCaps = routerCaps;
    this.producer = producer;
    this.mimeType = codec.mimeType;
    const host = {
      send: pacer ? (packet: Buffer) => pacer.send(packet) : (packet: Buffer) => this.producer.send(packet),
      requestKeyFrame: (sourceId: string) => this.#askKeyFrame(sourceId),
    };
    this.layers = Array.from({ length: layerCount }, (_, i) => {
      const layer = new StableLayer(kind, i, STABLE_SSRC[kind] + i, codec, host);
      layer.on('spliced', (info) => this.emit('spliced', info));
      return layer;
    });
    if (layerCount > 1) {
      this.#reports = setInterval(() => this.#sendReports(), SENDER_REPORT_MS);
      this.#reports.unref?.();
    }
  }

  /**
   * Build the stable producer from the first source's consumable parameters
   * (codec and header extensions as the router maps them, one encoding per
   * simulcast layer), with our SSRCs. `feedWindow` > 0 paces a video
   * track's feed to the worker (FeedPacer). `keyFrameIntervalMs`: at most
   * one key-frame request per layer leaves the track per interval.
   */
  static async create(
    transport: types.DirectTransport,
    routerCaps: types.RtpCapabilities,
    first: types.Producer,
    appData: types.AppData,
    feedWindow = 0,
    keyFrameIntervalMs = KEY_FRAME_REQUEST_DELAY_MS,
  ): Promise<StableTrack> {
    const { producer, codec, layerCount } = await produceStable(transport, first, appData, keyFrameIntervalMs);
    const pacer =
      first.kind === 'video' && feedWindow > 0
        ? await FeedPacer.create(transport, producer, routerCaps, feedWindow)
        : undefined;
    return new StableTrack(first.kind, transport, routerCaps, producer, codec, layerCount, pacer, keyFrameIntervalMs);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The source feeding the best layer (the program's choice: every layer follows it). */
  get activeSource(): string | undefined {
    return this.#top()?.activeSource;
  }

  get pendingSource(): string | undefined {
    return this.#top()?.pendingSource;
  }

  /**
   * Key-frame requests this track sent to its sources (after coalescing): on an
   * ingest node what reaches the origin, on a relay what crosses the pipe.
   */
  keyFrameRequests = 0;

  /** Packets that waited in the feed pacer for the worker (0 when unpaced). */
  get paced(): number {
    return this.#pacer?.held ?? 0;
  }

  get forwarded(): number {
    return this.layers.reduce((n, l) => n + l.forwarded, 0);
  }

  get dropped(): number {
    return this.layers.reduce((n, l) => n + l.dropped, 0);
  }

  /** The stable layer of one of the stable producer's SSRCs, if it is one. */
  layerOfSsrc(ssrc: number): number | undefined {
    const i = ssrc - STABLE_SSRC[this.kind];
    return i >= 0 && i < this.layers.length ? i : undefined;
  }

  /** When the source last delivered a packet of this kind on any layer (performance.now()), or undefined. */
  lastPacketAt(sourceId: string): number | undefined {
    let at: number | undefined;
    for (const l of this.layers) {
      const t = l.lastPacketAt(sourceId);
      if (t !== undefined && (at === undefined || t > at)) at = t;
    }
    return at;
  }

  /**
   * How far (ms of media) source `b` has got ahead of source `a`, when both
   * carry the same timeline (copies of one encoder); undefined otherwise.
   * Read on the best layer both feed.
   */
  leadMs(a: string, b: string): number | undefined {
    for (const l of [...this.layers].reverse()) {
      const ta = l.maxTs(a);
      const tb = l.maxTs(b);
      if (ta === undefined || tb === undefined) continue;
      const ms = (tsDiff(ta, tb) * 1000) / l.clockRate;
      return Math.abs(ms) < 5000 ? ms : undefined;
    }
    return undefined;
  }

  hasSource(sourceId: string): boolean {
    return this.#sources.has(sourceId);
  }

  /** The merged source whose paths include `path`, if any. */
  sourceOfPath(path: string): string | undefined {
    for (const s of this.#sources.values()) if (s.merges && s.consumers.has(path)) return s.id;
    return undefined;
  }

  /** Per path of a merged source: packets won, duplicates, unmatched, last packet; undefined if not merged. */
  mergeReport(sourceId: string): MergeReport | undefined {
    const s = this.#sources.get(sourceId);
    return s?.merges ? mergeReportOfLayers(s.consumers.keys(), s.merges) : undefined;
  }

  /**
   * Start receiving a source's packets, every layer (not forwarded until
   * selected). With `path`, the producer is one path of a merged source:
   * the packets of all its paths are merged packet by packet (PathMerge)
   * before the source's layers see them — one source to the program, however
   * many paths bring it.
   */
  async addSource(sourceId: string, producer: types.Producer, path?: string): Promise<void> {
    if (this.#closed) throw new Error('stable track closed');
    if (producer.kind !== this.kind) throw new Error(`source ${sourceId} is ${producer.kind}, track is ${this.kind}`);
    const simulcast = (producer.consumableRtpParameters.encodings?.length ?? 1) > 1;
    const consumer = await this.#transport.consume({
      producerId: producer.id,
      rtpCapabilities: this.#routerCaps,
      enableRtx: false,
      // A pipe consumer forwards every encoding, each on its own SSRC; a plain one would pick one layer.
      pipe: simulcast,
      appData: { splicerSource: sourceId },
    });
    const ssrcs = (consumer.rtpParameters.encodings ?? []).map((e) => e.ssrc ?? 0);
    // Top-aligned: the source's best layer feeds the track's best.
    const shift = this.layers.length - ssrcs.length;
    const layerOf = new Map<number, number>();
    ssrcs.forEach((ssrc, i) => {
      if (i + shift >= 0) layerOf.set(ssrc, i + shift);
    });
    let source = this.#sources.get(sourceId);
    if (!source) {
      source = {
        id: sourceId,
        consumers: new Map(),
        merges: path
          ? this.layers.map((l) => new PathMerge((packet) => l.onRtp(sourceId, packet), MERGE_REANCHOR_MS))
          : undefined,
        lastKeyFrameAskAt: Number.NEGATIVE_INFINITY,
        trailing: undefined,
      };
      this.#sources.set(sourceId, source);
    }
    const key = path ?? sourceId;
    source.consumers.get(key)?.close();
    source.consumers.set(key, consumer);
    for (const i of layerOf.values()) this.layers[i]!.addSource(sourceId);
    const merges = source.merges;
    consumer.on('rtp', (packet) => {
      if (this.#closed || packet.length < 12) return;
      const layer = layerOf.get(packet.readUInt32BE(8));
      if (layer === undefined) return;
      if (merges) merges[layer]!.push(key, packet, performance.now());
      else this.layers[layer]!.onRtp(sourceId, packet);
    });
    consumer.observer.once('close', () => {
      if (path) this.removePath(sourceId, path);
      else this.removeSource(sourceId);
    });
  }

  /** One path of a merged source went away; the source goes with its last path. True while it has paths. */
  removePath(sourceId: string, path: string): boolean {
    const source = this.#sources.get(sourceId);
    if (!source) return false;
    const consumer = source.consumers.get(path);
    source.consumers.delete(path);
    for (const m of source.merges ?? []) m.removePath(path);
    if (consumer && !consumer.closed) consumer.close();
    if (source.consumers.size > 0) return true;
    this.removeSource(sourceId);
    return false;
  }

  removeSource(sourceId: string): void {
    const source = this.#sources.get(sourceId);
    if (!source) return;
    this.#sources.delete(sourceId);
    clearTimeout(source.trailing);
    this.#keyFrameAsked.delete(sourceId);
    for (const l of this.layers) l.removeSource(sourceId);
    for (const c of source.consumers.values()) if (!c.closed) c.close();
  }

  /** Every layer switches to `sourceId` (a layer the source does not feed keeps what it has, or nothing). */
  select(sourceId: string, at: SpliceAt): void {
    for (const l of this.layers) l.select(sourceId, at);
  }

  /** Ask the sources of `layer` (every layer when undefined) for a key frame. */
  requestKeyFrame(layer?: number): void {
    if (this.kind !== 'video') return;
    const which = layer === undefined ? this.layers : this.layers.slice(layer, layer + 1);
    for (const l of which) l.requestKeyFrame();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#reports);
    for (const id of [...this.#sources.keys()]) this.removeSource(id);
    for (const l of this.layers) l.close();
    this.#pacer?.close();
    this.producer.close();
  }

  #top(): StableLayer | undefined {
    return this.layers.at(-1);
  }

  /**
   * Layers asking one source in the same tick make one request. With
   * simulcast, a request reaches every layer of the source (pipe consumer),
   * so requests for different layers are also spaced by
   * the key-frame interval per source: the first goes at once, those
   * within the interval make one more at its end (as mediasoup's
   * keyFrameRequestDelay does per SSRC).
   */
  #askKeyFrame(sourceId: string): void {
    const source = this.#sources.get(sourceId);
    if (!source || this.#keyFrameAsked.has(sourceId)) return;
    this.#keyFrameAsked.add(sourceId);
    const send = (): void => {
      this.#keyFrameAsked.delete(sourceId);
      source.trailing = undefined;
      source.lastKeyFrameAskAt = performance.now();
      // A merged source asks every path: whichever delivers the key frame first wins.
      const open = [...source.consumers.values()].filter((c) => !c.closed);
      if (open.length === 0) return;
      this.keyFrameRequests++;
      for (const c of open) void c.requestKeyFrame().catch(() => undefined);
    };
    // Spaced per source with one layer too: mediasoup's keyFrameRequestDelay forgets its delay when the key
    // frame arrives, and the origin now answers in ~30 ms, so a join storm got two forced key frames 116 ms
    // apart at the encoder (e2e keyframe-on-demand). A new source (a splice, an origin reconnect) goes at once.
    const wait = source.lastKeyFrameAskAt + this.#keyFrameIntervalMs - performance.now();
    if (wait <= 0) {
      queueMicrotask(send);
    } else {
      source.trailing = setTimeout(send, wait);
      source.trailing.unref?.();
    }
  }

  /**
   * An RTCP Sender Report per layer that has sent something: its RTP
   * timestamp now (the last output extrapolated by the wall clock) against
   * the NTP wall clock. Layers of one encoder share the timeline, so the
   * reports let a viewer's simulcast consumer align them when it switches.
   */
  #sendReports(): void {
    if (this.#closed || this.producer.closed) return;
    const t = performance.now();
    for (const l of this.layers) {
      if (l.output.packets === 0) continue;
      const sr = senderReport(l.ssrc, l.output, l.clockRate, t);
      try {
        this.#transport.sendRtcp(sr);
      } catch {
        return; // the transport closed with the router
      }
    }
  }
}
