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
    const ticks = this.#onFrameGrid(this.ticks + ((rtpTimestamp - this.lastRaw) | 0));
    return ((ticks % 2 ** 32) + 2 ** 32) % 2 ** 32;
  }

  /**
   * A timestamp one tick off the frame grid is put on it: GStreamer's
   * encoder path stamps frame n at floor(n × 33333333 ns × 90 kHz), 3000 n − 1
   * for every frame after the first, so without this frame 15 of a 30 fps
   * source was 44999 ticks after frame 0 instead of 45000 (a fresh-clone run of
   * the origin's simulcast test). Real frame-rate differences (29.97 fps: 3003
   * a frame) are never within a tick of the grid and pass unchanged.
   */
  #onFrameGrid(ticks: number): number {
    const frameTicks = this.clockRate / this.fps;
    if (!Number.isInteger(frameTicks)) return ticks;
    const k = Math.round(ticks / frameTicks);
    return Math.abs(ticks - k * frameTicks) <= 1 ? k * frameTicks : ticks;
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

/**
 * The video layers' RTP as one timeline. ffmpeg's RTP muxer gives each output
 * (each ladder layer) its own random timestamp base and sequence number start,
 * and a new set at every ffmpeg restart. Every layer is split from the same
 * decoded frames and its first frame is the source's first frame, so
 * `timestamp − first timestamp of the layer` is the frame's presentation time
 * (90 kHz) since that first frame: the same value in every layer for the same
 * source frame. The agent feeds that to the MediaClock and writes the clock's
 * ticks into every layer's packets, so a frame has the same RTP timestamp in
 * every layer, across restarts too.
 *
 * Sequence numbers are made continuous per layer across restarts here (the
 * first packet of a new incarnation follows the layer's last one), so every
 * layer is one continuous RTP stream for the ingest whatever ffmpeg does.
 */
export class LayerTimeline {
  private readonly firstTimestamp: Array<number | undefined>;
  private readonly lastSeq: Array<number | undefined>;
  private readonly seqOffset: number[];
  private readonly rebaseSeq: boolean[];

  constructor(readonly layers: number) {
    this.firstTimestamp = new Array<number | undefined>(layers).fill(undefined);
    this.lastSeq = new Array<number | undefined>(layers).fill(undefined);
    this.seqOffset = new Array<number>(layers).fill(0);
    this.rebaseSeq = new Array<boolean>(layers).fill(true);
  }

  /**
   * Rewrite the packet's sequence number in place (continuous per layer) and
   * return its timestamp on the shared timeline (ticks since the first frame
   * of this ffmpeg incarnation, mod 2^32).
   */
  map(layer: number, packet: Buffer): number {
    const seq = packet.readUInt16BE(2);
    if (this.rebaseSeq[layer]) {
      this.rebaseSeq[layer] = false;
      const last = this.lastSeq[layer];
      this.seqOffset[layer] = last === undefined ? 0 : (last + 1 - seq) & 0xffff;
    }
    const out = (seq + this.seqOffset[layer]!) & 0xffff;
    const last = this.lastSeq[layer];
    // Keep the newest (16-bit serial arithmetic): a reordered packet does not move it back.
    if (last === undefined || ((out - last) & 0xffff) < 0x8000) this.lastSeq[layer] = out;
    packet.writeUInt16BE(out, 2);

    const timestamp = packet.readUInt32BE(4);
    if (this.firstTimestamp[layer] === undefined) this.firstTimestamp[layer] = timestamp;
    const first = this.firstTimestamp[layer];
    return (timestamp - first) >>> 0;
  }

  /** A new ffmpeg incarnation: new random bases in every layer. */
  sourceRestarted(): void {
    this.firstTimestamp.fill(undefined);
    this.rebaseSeq.fill(true);
  }
}
