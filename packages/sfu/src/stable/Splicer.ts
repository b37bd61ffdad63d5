import { SEQ_MOD, seqDiff, TS_MOD, tsDiff } from './rtp.ts';

/**
 * Sequence-number and timestamp arithmetic of one stable track, without
 * mediasoup: which packets of which source go out, and with what seq/ts.
 *
 * Output seq continues by exactly one per forwarded packet across splices
 * (viewers' jitter buffers see no loss and no jump). Output timestamps are
 * re-based at a splice so that they continue by the wall-clock time elapsed
 * × clock rate — unless the new source is on the same timeline as the old
 * one (the same origin after a reconnect, or the backup copy of the same
 * encoder), in which case the previous offset is kept and a frame keeps the
 * exact timestamp it had on the other source. That is what makes a switch
 * between two copies of one encoder frame-accurate.
 */

export interface SourceMapping {
  seqOffset: number;
  tsOffset: number;
  /** Input seq of the first forwarded packet: anything older (late retransmissions) is dropped. */
  startSeq: number;
}

export interface SpliceResult {
  /** Wall time since the previous output packet (the freeze this splice caused, for video). */
  gapMs: number;
  /** True when the timestamps were re-based (a different timeline), false when the offset was kept. */
  rebased: boolean;
}

/** How far ahead of the wall-clock expectation a same-timeline timestamp may be. */
const SAME_TIMELINE_AHEAD_MS = 2000;

export class Splicer {
  readonly clockRate: number;
  #started = false;
  #lastSeq = 0;
  #lastTs = 0;
  #lastAt = 0;
  #tsOffset = 0;
  #current: SourceMapping | undefined;
  forwarded = 0;

  constructor(clockRate: number) {
    this.clockRate = clockRate;
  }

  get started(): boolean {
    return this.#started;
  }

  get lastOutput(): { seq: number; ts: number; at: number } {
    return { seq: this.#lastSeq, ts: this.#lastTs, at: this.#lastAt };
  }

  /**
   * Would `ts` from a source on the current timeline come after what already
   * went out? (When switching between two live copies of one encoder, the
   * switch waits for a frame that has not been sent yet.)
   */
  isAhead(ts: number): boolean {
    if (!this.#started) return true;
    return tsDiff(this.#lastTs, (ts + this.#tsOffset) % TS_MOD) > 0;
  }

  /** Is `ts` (input) on the same timeline as the output, i.e. within a plausible distance of now? */
  sameTimeline(ts: number, now: number): boolean {
    if (!this.#started) return true;
    const expected = this.#expectedTs(now);
    const d = tsDiff(expected, (ts + this.#tsOffset) % TS_MOD);
    const slack = (SAME_TIMELINE_AHEAD_MS * this.clockRate) / 1000;
    return d <= slack && d >= -slack;
  }

  /** The output timestamp `inTs` of a source on the current timeline would get. */
  outputTs(inTs: number): number {
    return (inTs + this.#tsOffset) % TS_MOD;
  }

  /**
   * Make the packet (inSeq, inTs) the first of a new source; returns what the
   * splice cost. `sameFrame`: the packet completes the frame the old source
   * left unfinished (a copy of the same packetisation): its timestamp is the
   * one already sent, and the offset is kept.
   */
  splice(inSeq: number, inTs: number, now: number, sameFrame = false): SpliceResult {
    if (!this.#started) {
      // The first source passes through unchanged: two ingests of one origin
      // then carry identical timestamps.
      this.#current = { seqOffset: 0, tsOffset: 0, startSeq: inSeq };
      return { gapMs: 0, rebased: false };
    }
    const gapMs = Math.max(0, now - this.#lastAt);
    const keep = sameFrame || (this.sameTimeline(inTs, now) && this.isAhead(inTs));
    if (!keep) {
      // A new timeline: continue from the last output by the elapsed wall time
      // (at least one tick, so the timestamp always moves forward).
      const target = (this.#lastTs + Math.max(1, Math.round((gapMs * this.clockRate) / 1000))) % TS_MOD;
      this.#tsOffset = (target - inTs + TS_MOD) % TS_MOD;
    }
    this.#current = {
      seqOffset: (this.#lastSeq + 1 - inSeq + SEQ_MOD * 2) % SEQ_MOD,
      tsOffset: this.#tsOffset,
      startSeq: inSeq,
    };
    return { gapMs, rebased: !keep };
  }

  /** Output seq/ts for a packet of the current source, or null when it must be dropped. */
  map(inSeq: number, inTs: number, now: number): { seq: number; ts: number } | null {
    const m = this.#current;
    if (!m) return null;
    // Older than the splice point: a late retransmission that would collide
    // with what the previous source already sent.
    if (seqDiff(m.startSeq, inSeq) < 0) return null;
    const seq = (inSeq + m.seqOffset) % SEQ_MOD;
    const ts = (inTs + m.tsOffset) % TS_MOD;
    if (!this.#started || seqDiff(this.#lastSeq, seq) > 0) {
      this.#lastSeq = seq;
      this.#lastTs = ts;
      this.#lastAt = now;
    }
    this.#started = true;
    this.forwarded++;
    return { seq, ts };
  }

  #expectedTs(now: number): number {
    return (this.#lastTs + Math.round(((now - this.#lastAt) * this.clockRate) / 1000)) % TS_MOD;
  }
}
