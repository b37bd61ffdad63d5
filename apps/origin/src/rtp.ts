/*
 * Just enough RTP to route ffmpeg's packets and to keep the media clock. The
 * packets themselves are handed to werift untouched; werift rewrites SSRC and
 * payload type to the negotiated values.
 */

export interface RtpHeaderInfo {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
}

/**
 * RTCP shares the socket (we point ffmpeg's rtcpport at the RTP port so its
 * sender reports land somewhere we own). RTCP packet types 200..207 occupy
 * the byte where RTP keeps marker+PT; our PTs (102/111, 230/239 with marker)
 * never collide (RFC 5761 section 4).
 */
export function isRtcp(buf: Buffer): boolean {
  if (buf.length < 2) return false;
  const pt = buf[1]!;
  return pt >= 200 && pt <= 207;
}

export function parseRtpHeader(buf: Buffer): RtpHeaderInfo | undefined {
  if (buf.length < 12) return undefined;
  if (buf[0]! >> 6 !== 2) return undefined;
  return {
    marker: (buf[1]! & 0x80) !== 0,
    payloadType: buf[1]! & 0x7f,
    sequenceNumber: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
  };
}

/**
 * Media time of the stream from the video RTP timestamps we forward: ms
 * since the first forwarded video packet (frame 0). The 32-bit timestamp is
 * unwrapped, and when the source restarts (a new ffmpeg with a new random
 * timestamp base) the clock continues from where it was instead of jumping,
 * so score mediaTimes stay monotonic.
 */
export class MediaClock {
  /** Unwrapped ticks of the last packet, relative to frame 0. */
  private ticks = -1;
  private lastRaw = 0;
  /** Ticks already elapsed before the current source incarnation began. */
  private base = 0;
  private needsRebase = true;

  constructor(
    private readonly clockRate: number,
    private readonly fps: number,
  ) {}

  /** Feed every forwarded video packet's timestamp. */
  update(rtpTimestamp: number): void {
    if (this.needsRebase) {
      this.needsRebase = false;
      this.lastRaw = rtpTimestamp;
      // Continue one frame after the last one of the previous source.
      this.base = this.ticks < 0 ? 0 : this.ticks + Math.round(this.clockRate / this.fps);
      this.ticks = this.base;
      return;
    }
    // Signed 32-bit difference: handles wrap and slightly reordered packets.
    const delta = (rtpTimestamp - this.lastRaw) | 0;
    if (delta > 0) {
      this.ticks += delta;
      this.lastRaw = rtpTimestamp;
    }
  }

  /**
   * Media-clock ticks (since frame 0, mod 2^32) of a packet just fed to
   * update(). The agent writes this into the video RTP timestamp it sends, so
   * every node downstream knows the mediaTime of each video frame
   * (ticks / 90 ms): that is how HLS packagers tie score updates to frames.
   */
  ticksOf(rtpTimestamp: number): number {
    const ticks = this.ticks + ((rtpTimestamp - this.lastRaw) | 0);
    return ((ticks % 2 ** 32) + 2 ** 32) % 2 ** 32;
  }

  /** The next packet starts a new source incarnation. */
  sourceRestarted(): void {
    this.needsRebase = true;
  }

  get started(): boolean {
    return this.ticks >= 0;
  }

  /** Frame number of the newest video frame (0 before any video). */
  get frame(): number {
    return this.ticks < 0 ? 0 : Math.round((this.ticks * this.fps) / this.clockRate);
  }

  /** Media time in ms of the newest frame: frame n -> n * 1000 / fps. */
  get mediaTimeMs(): number {
    return (this.frame * 1000) / this.fps;
  }
}
