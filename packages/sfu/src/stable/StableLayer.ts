import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { keepRecent, type LayerSource, newLayerSource } from './layerSource.ts';
import { keyFramePictureSize, type PictureSize } from './picture.ts';
import { isKeyFrameStart, markerOf, rewrite, seqOf, tsDiff, tsOf } from './rtp.ts';
import { Splicer } from './Splicer.ts';
import type { LayerHost, LayerInfo, LayerOutput, SpliceAt, SpliceInfo } from './types.ts';

export type { LayerHost, LayerInfo, LayerOutput, SpliceAt, SpliceInfo } from './types.ts';

/** A key-frame return that found no aligned key frame in this long takes the next one ahead (a skip). */
const ALIGN_GIVE_UP_MS = 4000;

/**
 * The source being switched away from has sent nothing for this many frame
 * intervals: a pending key-frame switch stops waiting for the aligned key
 * frame (the old source would have had to deliver it) and continues from the
 * new copy's buffer, or from its next key frame when the copies' timelines
 * differ. Without this, a backup that went quiet while a return to the
 * primary waited for alignment froze viewers for the whole ALIGN_GIVE_UP_MS
 * (4 s: long enough for a player to give up on WebRTC).
 */
const OLD_SOURCE_QUIET_FRAMES = 3;

interface StableLayerEvents {
  spliced: [info: SpliceInfo];
}

const now = (): number => performance.now();

/**
 * One RTP stream of a stable track: the track's only stream without
 * simulcast, or one simulcast layer (one encoding of the stable producer,
 * with its own fixed SSRC). It picks which source's packets of this layer go
 * out and splices them with its own Splicer: sequence numbers continue by one
 * per packet, timestamps keep the source's timeline or continue by the wall
 * clock (see Splicer), a switch waits for a frame boundary or a key frame and
 * resumes from a standby copy's buffer. Every layer of a track applies these
 * rules on its own, so a reconnect or a switch to the backup keeps each layer
 * continuous. Knows nothing of mediasoup objects: its track hands it packets
 * and sends what it returns.
 */
export class StableLayer extends EventEmitter<StableLayerEvents> {
  readonly kind: types.MediaKind;
  readonly index: number;
  readonly ssrc: number;
  readonly mimeType: string;
  readonly #host: LayerHost;
  readonly #payloadType: number;
  readonly #splicer: Splicer;
  readonly #sources = new Map<string, LayerSource>();
  #active: LayerSource | undefined;
  #pending: { source: LayerSource; at: SpliceAt; since: number } | undefined;
  /** The frame being sent: output ts, its input ts, packets sent of it, and whether its last one (marker) went. */
  #outFrameTs = -1;
  #outFrameInTs = 0;
  #outFramePackets = 0;
  #outFrameDone = true;
  /** Timestamp ticks between two frames of the active source (for "the very next frame"). */
  #frameTicks = 3000;
  #frameTicksSeen = false;
  /** Picture size of the last key frame forwarded (H.264 SPS, VP8 header). */
  #picture: PictureSize | undefined;
  #closed = false;
  /** Packets dropped: inactive sources, late retransmissions. */
  dropped = 0;
  readonly #output: LayerOutput = { ts: 0, at: 0, packets: 0, octets: 0 };

  constructor(
    kind: types.MediaKind,
    index: number,
    ssrc: number,
    codec: { mimeType: string; payloadType: number; clockRate: number },
    host: LayerHost,
  ) {
    super();
    this.kind = kind;
    this.index = index;
    this.ssrc = ssrc;
    this.#host = host;
    this.mimeType = codec.mimeType;
    this.#payloadType = codec.payloadType;
    this.#splicer = new Splicer(codec.clockRate);
  }

  get clockRate(): number {
    return this.#splicer.clockRate;
  }

  /** What this layer carries, as its key frames and timestamps tell (a quality menu's entry). */
  get info(): LayerInfo {
    const info: LayerInfo = { spatialLayer: this.index };
    if (this.#picture) Object.assign(info, this.#picture);
    if (this.#frameTicksSeen) info.fps = Math.round((this.#splicer.clockRate / this.#frameTicks) * 100) / 100;
    return info;
  }

  /** What went out so far (packets 0: nothing yet). */
  get output(): Readonly<LayerOutput> {
    return this.#output;
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

  /**
   * How far (ms of media) source `b` has got ahead of source `a`, when both
   * carry the same timeline (copies of one encoder); undefined otherwise.
   */
  leadMs(a: string, b: string): number | undefined {
    const ta = this.#sources.get(a)?.maxTs;
    const tb = this.#sources.get(b)?.maxTs;
    if (ta === undefined || tb === undefined) return undefined;
    const ms = (tsDiff(ta, tb) * 1000) / this.#splicer.clockRate;
    return Math.abs(ms) < 5000 ? ms : undefined;
  }

  hasSource(sourceId: string): boolean {
    return this.#sources.has(sourceId);
  }

  /** Newest input timestamp the source has delivered on this layer. */
  maxTs(sourceId: string): number | undefined {
    return this.#sources.get(sourceId)?.maxTs;
  }

  /** Start taking a source's packets of this layer (not forwarded until selected). */
  addSource(sourceId: string): void {
    if (this.#closed || this.#sources.has(sourceId)) return;
    this.#sources.set(sourceId, newLayerSource(sourceId, now()));
  }

  /** A packet of this layer from a source (ignored unless the source was added). */
  onRtp(sourceId: string, packet: Buffer): void {
    const source = this.#sources.get(sourceId);
    if (source) this.#onRtp(source, packet);
  }

  removeSource(sourceId: string): void {
    const source = this.#sources.get(sourceId);
    if (!source) return;
    this.#sources.delete(sourceId);
    if (this.#pending?.source === source) this.#pending = undefined;
    if (this.#active === source) this.#active = undefined;
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
    this.#pending = { source, at: this.kind === 'audio' ? 'now' : at, since: now() };
    // A standby copy of the same program has the frames the old source never
    // delivered: resume from the one right after the last sent, at once.
    if (at !== 'keyframe' && this.#resumeFromRecent(source)) return;
    if (this.kind === 'video') this.#host.requestKeyFrame(source.id, this.index);
  }

  /**
   * Splice `source` in from its buffered packets: from the first frame newer
   * than what went out, if its timeline is ours. The viewer gets every frame
   * once, in order (a short burst instead of a skip), so decoding never
   * references a frame it did not get.
   */
  #resumeFromRecent(source: LayerSource): boolean {
    if (!this.#active || !this.#splicer.started) return false;
    const t = now();
    let start = -1;
    let sameFrame = false;
    // The old source stopped in the middle of a frame: both copies carry the
    // same packets, so complete that frame from the new one, packet for packet.
    if (!this.#outFrameDone && this.#splicer.sameTimeline(this.#outFrameInTs, t)) {
      const lastTs = this.#splicer.lastOutput.ts;
      const frame = source.recent.flatMap((b, i) => (this.#splicer.outputTs(b.ts) === lastTs ? [i] : []));
      if (frame.length > this.#outFramePackets && source.recent[frame[0]!]!.frameStart) {
        start = frame[this.#outFramePackets]!;
        sameFrame = true;
      }
    }
    if (start < 0) {
      start = source.recent.findIndex(
        (b) => b.frameStart && this.#splicer.sameTimeline(b.ts, t) && this.#splicer.isAhead(b.ts),
      );
    }
    if (start < 0) return false;
    const from = this.#active.id;
    const first = source.recent[start]!;
    this.#pending = undefined;
    this.#active = source;
    const cost = this.#splicer.splice(first.seq, first.ts, t, sameFrame);
    this.#emitSpliced(from, source.id, cost);
    for (const b of source.recent.slice(start)) this.#forward(b.packet, b.seq, b.ts, t);
    source.recent = [];
    return true;
  }

  /** Ask the active (and any pending) source for a key frame of this layer. */
  requestKeyFrame(): void {
    for (const s of [this.#active, this.#pending?.source]) {
      if (s && this.kind === 'video') this.#host.requestKeyFrame(s.id, this.index);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#sources.keys()]) this.removeSource(id);
  }

  #emitSpliced(from: string | undefined, to: string, cost: { gapMs: number; rebased: boolean }): void {
    this.emit('spliced', { kind: this.kind, layer: this.index, from, to, gapMs: cost.gapMs, rebased: cost.rebased });
  }

  #onRtp(source: LayerSource, packet: Buffer): void {
    if (this.#closed || packet.length < 12) return;
    const t = now();
    const inSeq = seqOf(packet);
    const inTs = tsOf(packet);
    const frameStart = source.lastTs === undefined || source.lastTs !== inTs;
    if (frameStart && source === this.#active && source.lastTs !== undefined) {
      const d = (inTs - source.lastTs + 0x1_0000_0000) % 0x1_0000_0000;
      if (d > 0 && d < this.#splicer.clockRate) {
        this.#frameTicks = d;
        this.#frameTicksSeen = true;
      }
    }
    source.lastTs = inTs;
    if (source.maxTs === undefined || tsDiff(source.maxTs, inTs) > 0) source.maxTs = inTs;
    source.lastPacketAt = t;
    source.packets++;
    const keyFrame = frameStart && this.kind === 'video' && isKeyFrameStart(packet, this.mimeType);

    const pending = this.#pending;
    // Key-frame return, the old source reached a key frame the new one has
    // already buffered (both are copies of one encoder): switch right there.
    if (
      pending?.at === 'keyframe' &&
      source === this.#active &&
      keyFrame &&
      this.#resumeAtKeyFrame(pending.source, inTs)
    ) {
      this.dropped++;
      return;
    }
    const buffer = (): void => keepRecent(source, { packet, seq: inSeq, ts: inTs, at: t, frameStart, keyFrame });
    // A key-frame return whose old source went quiet: nothing will meet the
    // aligned key frame, so continue from this copy's buffer frame for frame
    // (same encoder, same frames: no artifact) instead of freezing until its
    // next key frame — checked before that key frame can be taken below, which
    // would skip the frames before it.
    if (pending?.source === source && pending.at === 'keyframe' && frameStart && this.#activeQuiet(t)) {
      buffer();
      if (this.#resumeFromRecent(source)) return;
      source.recent.pop();
    }
    if (pending?.source === source && this.#ready(pending.at, pending.since, keyFrame, frameStart, inTs, t)) {
      const from = this.#active?.id;
      this.#pending = undefined;
      this.#active = source;
      source.recent = [];
      const cost = this.#splicer.splice(inSeq, inTs, t);
      this.#emitSpliced(from, source.id, cost);
    }
    if (this.#active !== source) {
      buffer();
      this.dropped++;
      return;
    }
    if (keyFrame) this.#picture = keyFramePictureSize(packet, this.mimeType) ?? this.#picture;
    this.#forward(packet, inSeq, inTs, t);
  }

  #forward(packet: Buffer, inSeq: number, inTs: number, t: number): void {
    const out = this.#splicer.map(inSeq, inTs, t);
    if (!out) {
      this.dropped++;
      return;
    }
    if (out.ts !== this.#outFrameTs) {
      this.#outFrameTs = out.ts;
      this.#outFrameInTs = inTs;
      this.#outFramePackets = 0;
    }
    this.#outFramePackets++;
    this.#outFrameDone = markerOf(packet);
    rewrite(packet, out.seq, out.ts, this.ssrc, this.#payloadType);
    const o = this.#output;
    if (o.packets === 0 || tsDiff(o.ts, out.ts) >= 0) {
      o.ts = out.ts;
      o.at = t;
    }
    o.packets++;
    o.octets += packet.length - 12;
    this.#host.send(packet);
  }

  #ready(at: SpliceAt, since: number, keyFrame: boolean, frameStart: boolean, inTs: number, t: number): boolean {
    if (!this.#splicer.started) return true;
    // A copy on the output's timeline whose packet was already sent (the same
    // audio frame, or an older one): wait for one ahead rather than re-base.
    // A re-base would shift this kind's timestamps against the other's (lip
    // sync) by the copies' lag; waiting costs at most that lag, and never
    // longer than the alignment give-up.
    if (this.#splicer.sameTimeline(inTs, t) && !this.#splicer.isAhead(inTs) && t - since <= ALIGN_GIVE_UP_MS) {
      return false;
    }
    if (at === 'now' || !this.#active) return true;
    if (!frameStart) return false;
    // The old source is still on air: wait for a frame it has not sent yet,
    // so the same picture is never sent twice nor a newer one skipped back.
    const same = this.#splicer.sameTimeline(inTs, t);
    if (same && !this.#splicer.isAhead(inTs)) return false;
    if (at === 'frame') return true;
    if (!keyFrame) return false;
    // A key frame that is exactly the next frame: no skip. Any other waits
    // (the old source's own key frame will meet it in the buffer) unless the
    // copies never line up, or the old source has stopped feeding (nothing
    // will meet it: every frame waited for is a frame of freeze).
    const step = tsDiff(this.#splicer.lastOutput.ts, inTs);
    return !same || step <= this.#frameTicks * 1.5 || t - since > ALIGN_GIVE_UP_MS || this.#activeQuiet(t);
  }

  /** The active source has delivered nothing for OLD_SOURCE_QUIET_FRAMES frame intervals. */
  #activeQuiet(t: number): boolean {
    const active = this.#active;
    if (!active) return true;
    const frameMs = (this.#frameTicks * 1000) / this.#splicer.clockRate;
    return t - active.lastPacketAt > OLD_SOURCE_QUIET_FRAMES * frameMs;
  }

  /** Switch to `next` from its buffered key frame with timestamp `ts`, if it has it. */
  #resumeAtKeyFrame(next: LayerSource, ts: number): boolean {
    const start = next.recent.findIndex((b) => b.keyFrame && b.ts === ts);
    if (start < 0) return false;
    const t = now();
    const from = this.#active?.id;
    const first = next.recent[start]!;
    this.#pending = undefined;
    this.#active = next;
    const cost = this.#splicer.splice(first.seq, first.ts, t);
    this.#emitSpliced(from, next.id, cost);
    for (const b of next.recent.slice(start)) this.#forward(b.packet, b.seq, b.ts, t);
    next.recent = [];
    return true;
  }
}
