/**
 * Puts a language's commentary on the picture in an HLS audio rendition
 * (issue 16: alignment on HLS). The rendition is ffmpeg's `amix` of the venue
 * sound (input 0, whose timestamps the output keeps, so the venue stays on
 * the video) and the language's commentary track. amix pairs the inputs by
 * sample count, not by timestamp: the k-th commentary sample it decodes is
 * summed with the k-th venue sample. A commentary packet arriving now carries
 * reactions to the picture D ms ago (D: the booth's measured delay of the
 * language, alignment.ts in @matchmesh/sfu), so it must be summed with the
 * venue sound that arrived D ms ago: this class, between mediasoup and
 * ffmpeg, keeps the commentary's sample count at (venue samples so far − D)
 * by dropping commentary packets (D grew, the venue's clock ran slower, or at
 * the start) or inserting 20 ms of Opus silence (D shrank, a packet was lost,
 * the track stalled). It rewrites the commentary's sequence numbers and
 * timestamps so ffmpeg sees one continuous stream. The cost is latency: the
 * rendition's audio for an instant is complete D ms later than the video's.
 */

/** An Opus packet of 20 ms of silence (CELT fullband, mono, one frame: RFC 6716 §3.1 TOC 0xF8). */
export const OPUS_SILENCE_20MS = Buffer.from([0xf8, 0xff, 0xfe]);
const SILENCE_SAMPLES = 960;
const RATE = 48000;

/** Samples (48 kHz) in an Opus packet, from its TOC byte (RFC 6716 §3.1), or undefined if unreadable. */
export function opusPacketSamples(payload: Buffer): number | undefined {
  if (payload.length < 1) return undefined;
  const toc = payload[0]!;
  const config = toc >> 3;
  // Frame size in 48 kHz samples: SILK 10/20/40/60 ms, hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
  const frame =
    config < 12
      ? [480, 960, 1920, 2880][config % 4]!
      : config < 16
        ? [480, 960][config % 2]!
        : [120, 240, 480, 960][config % 4]!;
  const code = toc & 3;
  if (code === 0) return frame;
  if (code < 3) return 2 * frame;
  if (payload.length < 2) return undefined;
  return (payload[1]! & 0x3f) * frame;
}

/** Corrections smaller than this are left alone: arrival jitter, not a shift (samples at 48 kHz: 30 ms). */
const TOLERANCE = 1440;
/** Packets whose error is averaged before a correction (200 ms of 20 ms packets). */
const WINDOW = 10;
/** At most this much silence inserted at once (samples: 4 s, the largest delay a booth reports). */
const MAX_INSERT = 4 * RATE;

export class CommentaryShift {
  /** The commentary's target lag behind the venue (samples). */
  #delay = 0;
  /** Venue samples forwarded so far (end of the newest packet, from its RTP timestamps). */
  #venue: number | undefined;
  #venueTs: number | undefined;
  /** Commentary samples forwarded so far (what amix has summed or will). */
  #forwarded = 0;
  #started = false;
  #seq = 0;
  #ts = 0;
  #payloadType = 111;
  #ssrc = 0;
  #errors: number[] = [];
  #toDrop = 0;
  readonly stats = { dropped: 0, inserted: 0 };

  constructor(delayMs = 0) {
    this.setDelayMs(delayMs);
  }

  get delayMs(): number {
    return this.#delay / 48;
  }

  /** The language's delay moved (ms): the next corrections follow it. */
  setDelayMs(ms: number): void {
    this.#delay = Math.max(0, Math.round(ms * 48));
  }

  /** A venue packet went to ffmpeg (its RTP timestamp). */
  onVenue(timestamp: number): void {
    if (this.#venueTs === undefined) {
      this.#venue = SILENCE_SAMPLES;
    } else {
      const step = (timestamp - this.#venueTs) | 0;
      // Reordered or repeated: keep the newest position.
      if (step <= 0 && step > -RATE) return;
      // A jump (the program's source changed): ffmpeg decodes one packet more, whatever its timestamp says.
      this.#venue! += step > 0 && step <= RATE ? step : SILENCE_SAMPLES;
    }
    this.#venueTs = timestamp;
  }

  /** Where in the venue sound (samples forwarded) the newest commentary sample should be summed: D before its end. */
  get #target(): number {
    return (this.#venue ?? 0) - this.#delay;
  }

  /**
   * A commentary packet arrived (its payload at `payloadOffset`, rtpPayloadOffset): what to send ffmpeg in its
   * place — nothing, it, or silence then it.
   */
  onCommentary(packet: Buffer, payloadOffset: number): Buffer[] {
    if (payloadOffset < 0 || this.#venue === undefined) return [];
    const samples = opusPacketSamples(packet.subarray(payloadOffset)) ?? SILENCE_SAMPLES;
    this.#payloadType = packet[1]! & 0x7f;
    this.#ssrc = packet.readUInt32BE(8);
    // > 0: this packet's end would be summed with venue sound newer than D ago (its reactions heard late).
    const error = this.#forwarded + samples - this.#target;
    const out: Buffer[] = [];
    if (!this.#started) {
      // Nothing summed yet: wait until the venue is D ahead, or fill up to it.
      if (error > 0) return this.#drop();
      this.#started = true;
      out.push(...this.#silence(-error));
    } else if (this.#toDrop > 0) {
      this.#toDrop--;
      return this.#drop();
    } else {
      this.#errors.push(error);
      if (this.#errors.length >= WINDOW) {
        const mean = this.#errors.reduce((a, b) => a + b, 0) / this.#errors.length;
        this.#errors = [];
        if (mean > TOLERANCE) {
          this.#toDrop = Math.round(mean / samples) - 1;
          return this.#drop();
        }
        if (mean < -TOLERANCE) out.push(...this.#silence(-mean));
      }
    }
    out.push(this.#rewrite(packet, samples));
    return out;
  }

  #drop(): Buffer[] {
    this.stats.dropped++;
    return [];
  }

  /** Whole 20 ms silence packets covering about `samples`. */
  #silence(samples: number): Buffer[] {
    const n = Math.round(Math.min(samples, MAX_INSERT) / SILENCE_SAMPLES);
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const header = Buffer.alloc(12);
      header[0] = 0x80;
      header[1] = this.#payloadType;
      header.writeUInt32BE(this.#ssrc, 8);
      out.push(this.#stamp(Buffer.concat([header, OPUS_SILENCE_20MS]), SILENCE_SAMPLES));
    }
    this.stats.inserted += n;
    return out;
  }

  #rewrite(packet: Buffer, samples: number): Buffer {
    return this.#stamp(Buffer.from(packet), samples);
  }

  /** Continuous sequence numbers and timestamps (ffmpeg's demuxer times the stream by them). */
  #stamp(packet: Buffer, samples: number): Buffer {
    packet.writeUInt16BE(this.#seq, 2);
    packet.writeUInt32BE(this.#ts >>> 0, 4);
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#ts = (this.#ts + samples) >>> 0;
    this.#forwarded += samples;
    return packet;
  }
}
