/**
 * How one voice's RTP is held before the mixer, and rewritten so that a change of the hold never looks like
 * a change of the network to GStreamer's jitter buffer.
 *
 * Why rewrite: rtpjitterbuffer (default `mode=slave`) maps RTP timestamps to arrival times through a skew
 * estimate that follows the *minimum* delay over a window of ~2 s and converges slowly after it. If the hold
 * simply grew by X, every packet after would arrive X late for its timestamp: they pass their deadline
 * (`latency=40`) and are dropped as late until the estimate catches up; if it shrank, the voice would play X
 * late for a long while. So the hold keeps `RTP time − forward time` constant for GStreamer:
 *  - growing by X inserts X of Opus silence frames, sent when the held packets would have gone, so the
 *    stream stays gapless in sequence numbers, timestamps and arrival (a bare timestamp jump of X, tried
 *    first, left the voice ~210 ms later than asked under load: the jitter buffer and audiomixer do not
 *    take a gap in their stride when the CPU is short);
 *  - shrinking by X removes X of the voice: quiet packets are dropped (and the timestamps and sequence numbers
 *    after them pulled back), or a gap the voice already had (DTX, push-to-talk) is taken for free.
 * Both happen where they are least audible: at a quiet packet (Opus silence/comfort-noise frames are a few
 * bytes; speech is tens to hundreds), or after FORCE_AFTER_MS if the voice never pauses.
 */

/** An Opus payload up to this size carries silence (libopus' silence frames: 1–10 bytes; speech ≥ ~30). */
export const QUIET_BYTES = 20;
/** A change waits at most this long for a quiet packet, then is applied mid-voice. */
export const FORCE_AFTER_MS = 3000;
/** Opus' RTP clock: ticks per ms. */
const TICKS_PER_MS = 48;
/** One 20 ms frame: the browser's and our ptime (learned from the stream when it differs). */
const DEFAULT_FRAME_TICKS = 960;

/** An Opus packet of 20 ms of silence (CELT fullband, mono, one frame: RFC 6716 §3.1 TOC 0xF8). */
const OPUS_SILENCE_20MS = Buffer.from([0xf8, 0xff, 0xfe]);

/** A packet to send `holdMs` after the arrival of the packet that produced it. */
export interface Forward {
  packet: Buffer;
  holdMs: number;
}

/** Signed difference a − b of two 32-bit RTP timestamps. */
const tsDiff = (a: number, b: number): number => (a - b) | 0;

/** Payload bytes of an RTP packet (after CSRCs and the header extension, before padding). */
export function rtpPayloadBytes(packet: Buffer): number {
  if (packet.length < 12) return 0;
  const cc = packet[0]! & 0x0f;
  let offset = 12 + 4 * cc;
  if (packet[0]! & 0x10 && packet.length >= offset + 4) offset += 4 + 4 * packet.readUInt16BE(offset + 2);
  const padding = packet[0]! & 0x20 ? packet[packet.length - 1]! : 0;
  return Math.max(0, packet.length - offset - padding);
}

/**
 * The hold's decisions for one voice, packet by packet (no I/O; VoiceHold does the sockets and the timer).
 * `accept` rewrites the packet's sequence number and timestamp in place and answers what to send and how long
 * after now: nothing (dropped to shrink the hold), the packet, or silence frames then the packet (a grow).
 */
export class HoldRewriter {
  #target = 0;
  /** The hold applied to the last packet; undefined before the first. */
  #hold: number | undefined;
  #tsOffset = 0;
  #seqOffset = 0;
  /** The forwarded stream's timestamp just after the last packet forwarded (its timestamp + one frame). */
  #end: number | undefined;
  #lastIn: { seq: number; ts: number } | undefined;
  #frameTicks = DEFAULT_FRAME_TICKS;
  /** When the current target was set while the hold differed (ms, the caller's clock). */
  #pendingSince: number | undefined;

  /** The hold asked for (ms, ≥ 0). */
  get target(): number {
    return this.#target;
  }

  /** The hold applied now (ms; within half a frame of the target once applied); the target until the first packet. */
  get holdMs(): number {
    return this.#hold ?? this.#target;
  }

  setTarget(ms: number, now: number): void {
    this.#target = Math.max(0, Math.round(ms));
    // A change already waiting keeps its age (targets come every second): FORCE_AFTER_MS still runs out.
    if (this.#hold === undefined || this.#hold === this.#target) this.#pendingSince = undefined;
    else this.#pendingSince ??= now;
  }

  /** Whether a change of the hold waits for its moment. */
  get pending(): boolean {
    return this.#pendingSince !== undefined;
  }

  accept(packet: Buffer, now: number): Forward[] {
    if (packet.length < 12) return [];
    let fill: Forward[] = [];
    const seq = packet.readUInt16BE(2);
    const ts = packet.readUInt32BE(4);
    this.#learnFrame(seq, ts);
    if (this.#hold === undefined) this.#hold = this.#target;
    else if (this.#pendingSince !== undefined) {
      // Whole frames only: the decoder closes up a gap of part of a frame (measured: a 10 ms gap left the
      // voice 12 ms early), so the hold comes within half a frame of its target.
      const frameMs = this.#frameTicks / TICKS_PER_MS;
      const frames = Math.round((this.#target - this.#hold) / frameMs);
      const quiet = rtpPayloadBytes(packet) <= QUIET_BYTES;
      const due = quiet || now - this.#pendingSince >= FORCE_AFTER_MS;
      if (frames > 0 && due) {
        fill = this.#silence(packet, seq, ts, frames);
        this.#tsOffset += frames * this.#frameTicks;
        this.#seqOffset += frames;
        this.#hold += frames * frameMs;
        this.#pendingSince = undefined;
      } else if (frames < 0) {
        // A gap in the voice before this packet (DTX, a drop just made) is shrunk away for free.
        const room = this.#end === undefined ? 0 : tsDiff(ts + this.#tsOffset, this.#end);
        const cut = Math.min(-frames, Math.max(0, Math.floor(room / this.#frameTicks)));
        this.#tsOffset -= cut * this.#frameTicks;
        this.#hold -= cut * frameMs;
        if (cut === -frames) this.#pendingSince = undefined;
        else if (due) {
          // Drop it, and the packets after come one frame sooner with its timestamp and sequence number.
          this.#tsOffset -= this.#frameTicks;
          this.#seqOffset -= 1;
          this.#hold -= frameMs;
          if (cut + 1 === -frames) this.#pendingSince = undefined;
          return [];
        }
      } else if (frames === 0) this.#pendingSince = undefined;
    }
    const outTs = (ts + this.#tsOffset) >>> 0;
    packet.writeUInt16BE((seq + this.#seqOffset) & 0xffff, 2);
    packet.writeUInt32BE(outTs, 4);
    this.#end = (outTs + this.#frameTicks) >>> 0;
    fill.push({ packet, holdMs: this.#hold });
    return fill;
  }

  /** `frames` silence frames in the place of the packet (seq, ts) under the current offsets, one frame apart. */
  #silence(packet: Buffer, seq: number, ts: number, frames: number): Forward[] {
    const out: Forward[] = [];
    const frameMs = this.#frameTicks / TICKS_PER_MS;
    for (let k = 0; k < frames; k++) {
      const p = Buffer.alloc(12 + OPUS_SILENCE_20MS.length);
      // Version 2, no padding, extension or CSRCs; the voice's payload type (marker cleared) and SSRC.
      p[0] = 0x80;
      p[1] = packet[1]! & 0x7f;
      p.writeUInt16BE((seq + this.#seqOffset + k) & 0xffff, 2);
      p.writeUInt32BE((ts + this.#tsOffset + k * this.#frameTicks) >>> 0, 4);
      packet.copy(p, 8, 8, 12);
      OPUS_SILENCE_20MS.copy(p, 12);
      out.push({ packet: p, holdMs: this.#hold! + k * frameMs });
    }
    return out;
  }

  /** The frame duration, from consecutive packets (a DTX gap or a loss leaves it as it was). */
  #learnFrame(seq: number, ts: number): void {
    const last = this.#lastIn;
    this.#lastIn = { seq, ts };
    if (!last || ((seq - last.seq) & 0xffff) !== 1) return;
    const d = tsDiff(ts, last.ts);
    if (d > 0 && d <= 120 * TICKS_PER_MS) this.#frameTicks = d;
  }
}
