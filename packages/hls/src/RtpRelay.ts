import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { CommentaryShift } from './CommentaryShift.ts';

/**
 * Offset of the RTP payload (after CSRCs and a header extension), or -1 for
 * something that is not a usable RTP packet.
 */
export function rtpPayloadOffset(buf: Buffer): number {
  if (buf.length < 12 || buf[0]! >> 6 !== 2) return -1;
  let offset = 12 + 4 * (buf[0]! & 0x0f);
  if (buf[0]! & 0x10) {
    if (buf.length < offset + 4) return -1;
    offset += 4 + 4 * buf.readUInt16BE(offset + 2);
  }
  const padding = buf[0]! & 0x20 ? buf[buf.length - 1]! : 0;
  return offset < buf.length - padding ? offset : -1;
}

/**
 * True when an H.264 RTP payload (RFC 6184) begins a key frame with its
 * parameter sets: an SPS, alone or first in a STAP-A. WebRTC senders repeat
 * SPS/PPS before every IDR; starting at a bare IDR would leave ffmpeg without
 * them ("non-existing PPS", no dimensions). Starting here means ffmpeg's
 * first output sample is exactly this frame.
 */
export function isH264KeyFrameStart(payload: Buffer): boolean {
  if (payload.length < 2) return false;
  const type = payload[0]! & 0x1f;
  if (type === 7) return true;
  if (type === 24) return payload.length > 3 && (payload[3]! & 0x1f) === 7;
  return false;
}

export interface RelayTarget {
  /** SSRC mediasoup sends this track with. */
  ssrc: number;
  kind: 'audio' | 'video';
  /** ffmpeg's RTP port for the track. */
  port: number;
}

interface RtpRelayEvents {
  /** The first forwarded video packet: a key frame start, with its RTP timestamp. */
  started: [videoRtpTimestamp: number];
}

/**
 * A UDP socket between mediasoup's PlainTransport and ffmpeg. It holds
 * everything back until the first packet of a video key frame, then forwards
 * video and audio to ffmpeg's ports, and remembers that key frame's RTP
 * timestamp: ffmpeg's first output sample is that frame, so fMP4 decode times
 * map to RTP time exactly. RTCP from mediasoup is not passed on (it would make
 * ffmpeg re-base timestamps on sender-report NTP times).
 */
export class RtpRelay extends EventEmitter<RtpRelayEvents> {
  readonly #socket: dgram.Socket;
  readonly #targets = new Map<number, RelayTarget>();
  #firstVideoTimestamp: number | undefined;
  #firstAudioTimestamp: number | undefined;
  /** The audio track whose first timestamp is ffmpeg's audio base: the first audio target (the venue). */
  #referenceAudioSsrc: number | undefined;
  /** No video target (an audio-only rendition): forward from the first packet, no key frame to wait for. */
  #audioOnly = false;
  /** The second audio target of an audio-only rendition: a language's commentary, shifted onto the venue. */
  #commentarySsrc: number | undefined;
  #shift: CommentaryShift | undefined;
  #commentaryDelayMs = 0;
  #closed = false;
  packets = { in: 0, forwarded: 0, heldBack: 0 };

  private constructor(socket: dgram.Socket) {
    super();
    this.#socket = socket;
    socket.on('message', (msg) => this.#onPacket(msg));
    // Safe to drop: the only errors on a bound socket are failed sends (ffmpeg between two runs has no port
    // open: ECONNREFUSED), and a relay drops such packets anyway; the next run gets a key frame again.
    socket.on('error', () => {});
  }

  static async open(ip = '127.0.0.1'): Promise<RtpRelay> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, ip, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // A burst of a key frame must not overflow the kernel buffer.
    socket.setRecvBufferSize(4 * 1024 * 1024);
    return new RtpRelay(socket);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  /** RTP timestamp of the key frame forwarding began with, once started. */
  get firstVideoTimestamp(): number | undefined {
    return this.#firstVideoTimestamp;
  }

  /** RTP timestamp of the first audio packet forwarded (ffmpeg's audio timestamp base), once one was. */
  get firstAudioTimestamp(): number | undefined {
    return this.#firstAudioTimestamp;
  }

  /**
   * Where packets go from now on (a new ffmpeg run); forwarding waits for a
   * key frame again (audio-only targets: no wait). The first audio target is
   * the one `firstAudioTimestamp` is about.
   */
  setTargets(targets: RelayTarget[]): void {
    this.#targets.clear();
    for (const t of targets) this.#targets.set(t.ssrc >>> 0, t);
    this.#referenceAudioSsrc = targets.find((t) => t.kind === 'audio')?.ssrc;
    this.#audioOnly = targets.length > 0 && targets.every((t) => t.kind === 'audio');
    this.#commentarySsrc = this.#audioOnly && targets.length > 1 ? targets[1]!.ssrc >>> 0 : undefined;
    // A new ffmpeg run sums from zero again: a new count of both inputs' samples.
    this.#shift = this.#commentarySsrc === undefined ? undefined : new CommentaryShift(this.#commentaryDelayMs);
    this.#firstVideoTimestamp = undefined;
    this.#firstAudioTimestamp = undefined;
  }

  /**
   * How late the commentary (the second audio target) is against the picture (ms, the booth's measure): the
   * relay sums it with the venue sound that came that much earlier (CommentaryShift).
   */
  setCommentaryDelay(ms: number): void {
    this.#commentaryDelayMs = ms;
    this.#shift?.setDelayMs(ms);
  }

  /** Commentary packets dropped and silence packets inserted to keep it on the picture (this run). */
  get commentaryShift(): { delayMs: number; dropped: number; inserted: number } | undefined {
    return this.#shift && { delayMs: this.#shift.delayMs, ...this.#shift.stats };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
  }

  #onPacket(msg: Buffer): void {
    if (msg.length < 12) return;
    const pt = msg[1]! & 0x7f;
    if (pt >= 72 && pt <= 79) return; // RTCP (RFC 5761): not for ffmpeg
    const target = this.#targets.get(msg.readUInt32BE(8));
    if (!target) return;
    this.packets.in++;
    if (this.#firstVideoTimestamp === undefined && !this.#audioOnly) {
      const offset = target.kind === 'video' ? rtpPayloadOffset(msg) : -1;
      if (offset < 0 || !isH264KeyFrameStart(msg.subarray(offset))) {
        this.packets.heldBack++;
        return;
      }
      this.#firstVideoTimestamp = msg.readUInt32BE(4);
      this.emit('started', this.#firstVideoTimestamp);
    }
    if (target.ssrc === this.#referenceAudioSsrc && this.#firstAudioTimestamp === undefined) {
      this.#firstAudioTimestamp = msg.readUInt32BE(4);
    }
    if (this.#shift && target.ssrc >>> 0 === this.#commentarySsrc) {
      for (const out of this.#shift.onCommentary(msg, rtpPayloadOffset(msg))) {
        this.packets.forwarded++;
        this.#socket.send(out, target.port, '127.0.0.1');
      }
      return;
    }
    if (this.#shift && target.ssrc === this.#referenceAudioSsrc) this.#shift.onVenue(msg.readUInt32BE(4));
    this.packets.forwarded++;
    this.#socket.send(msg, target.port, '127.0.0.1');
  }
}
