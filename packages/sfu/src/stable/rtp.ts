/**
 * The few RTP facts the stable-stream splicer needs, read and written in
 * place on the packet bytes mediasoup hands a DirectTransport consumer
 * (RFC 3550 §5.1). Pure functions: unit-tested without a worker.
 */

export const SEQ_MOD = 0x1_0000;
export const TS_MOD = 0x1_0000_0000;

export function seqOf(packet: Buffer): number {
  return packet.readUInt16BE(2);
}

export function tsOf(packet: Buffer): number {
  return packet.readUInt32BE(4);
}

export function markerOf(packet: Buffer): boolean {
  return (packet[1]! & 0x80) !== 0;
}

/** Rewrite sequence number, timestamp, SSRC and payload type in place. */
export function rewrite(packet: Buffer, seq: number, ts: number, ssrc: number, payloadType: number): void {
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE(ts >>> 0, 4);
  packet.writeUInt32BE(ssrc >>> 0, 8);
  packet[1] = (packet[1]! & 0x80) | (payloadType & 0x7f);
}

/** Signed distance b - a on the 16-bit sequence circle (-32768..32767). */
export function seqDiff(a: number, b: number): number {
  return ((((b - a) % SEQ_MOD) + SEQ_MOD + SEQ_MOD / 2) % SEQ_MOD) - SEQ_MOD / 2;
}

/** Signed distance b - a on the 32-bit timestamp circle. */
export function tsDiff(a: number, b: number): number {
  return ((((b - a) % TS_MOD) + TS_MOD + TS_MOD / 2) % TS_MOD) - TS_MOD / 2;
}

/** Offset of the payload (after CSRCs and the header extension), or -1 if the packet is malformed. */
export function payloadOffset(packet: Buffer): number {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return -1;
  let offset = 12 + (packet[0]! & 0x0f) * 4;
  if (packet[0]! & 0x10) {
    if (packet.length < offset + 4) return -1;
    offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  }
  return offset <= packet.length ? offset : -1;
}

/**
 * Is this packet the start of a key frame? H.264 (RFC 6184: an IDR or SPS
 * NAL unit, alone, in a STAP-A, or as the first FU-A fragment) and VP8
 * (RFC 7741: start of partition 0 with the P bit clear). Other codecs: never
 * (the splicer then switches at a frame boundary instead).
 */
export function isKeyFrameStart(packet: Buffer, mimeType: string): boolean {
  const at = payloadOffset(packet);
  if (at < 0 || at >= packet.length) return false;
  const mime = mimeType.toLowerCase();
  if (mime === 'video/h264') {
    const nal = packet[at]! & 0x1f;
    if (nal === 5 || nal === 7) return true;
    if (nal === 28) {
      const fu = packet[at + 1] ?? 0;
      return (fu & 0x80) !== 0 && ((fu & 0x1f) === 5 || (fu & 0x1f) === 7);
    }
    if (nal === 24) {
      for (let i = at + 1; i + 2 < packet.length; ) {
        const size = packet.readUInt16BE(i);
        const inner = packet[i + 2]! & 0x1f;
        if (inner === 5 || inner === 7) return true;
        i += 2 + size;
      }
    }
    return false;
  }
  if (mime === 'video/vp8') {
    let i = at;
    const first = packet[i]!;
    const start = (first & 0x10) !== 0 && (first & 0x07) === 0;
    if (!start) return false;
    i++;
    if (first & 0x80) {
      const x = packet[i++] ?? 0;
      if (x & 0x80) i += (packet[i]! & 0x80) !== 0 ? 2 : 1;
      if (x & 0x40) i++;
      if (x & 0x30) i++;
    }
    return i < packet.length && (packet[i]! & 0x01) === 0;
  }
  return false;
}
