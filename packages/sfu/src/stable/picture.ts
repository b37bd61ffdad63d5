import { payloadOffset } from './rtp.ts';

/**
 * The picture size a key frame announces, read from the RTP payload: the
 * H.264 SPS (alone or in a STAP-A) or the VP8 key frame header. Lets every
 * node describe each simulcast layer it carries (a quality menu: "720p")
 * from the media itself, with nothing added to pipes or signaling.
 */

export interface PictureSize {
  width: number;
  height: number;
}

/** Exp-Golomb reader over an RBSP (emulation prevention bytes removed). */
class Bits {
  #pos = 0;
  constructor(readonly data: Buffer) {}
  bit(): number {
    const byte = this.data[this.#pos >> 3];
    if (byte === undefined) throw new RangeError('SPS too short');
    const b = (byte >> (7 - (this.#pos & 7))) & 1;
    this.#pos++;
    return b;
  }
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new RangeError('bad exp-Golomb code');
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -k / 2;
  }
}

function rbsp(nal: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < nal.length; i++) {
    if (i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
    out.push(nal[i]!);
  }
  return Buffer.from(out);
}

function skipScalingList(r: Bits, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** Width and height (after cropping) from an H.264 SPS NAL unit (header byte included). */
export function h264SpsSize(nal: Buffer): PictureSize | undefined {
  if (nal.length < 4 || (nal[0]! & 0x1f) !== 7) return undefined;
  try {
    const r = new Bits(rbsp(nal.subarray(1)));
    const profile = r.bits(8);
    r.bits(16); // constraint flags, level
    r.ue(); // seq_parameter_set_id
    let chromaFormat = 1;
    if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
      chromaFormat = r.ue();
      if (chromaFormat === 3) r.bit();
      r.ue(); // bit depth luma
      r.ue(); // bit depth chroma
      r.bit(); // qpprime_y_zero_transform_bypass
      if (r.bit()) {
        for (let i = 0; i < (chromaFormat === 3 ? 12 : 8); i++) if (r.bit()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) r.ue();
    else if (pocType === 1) {
      r.bit();
      r.se();
      r.se();
      const n = r.ue();
      for (let i = 0; i < n; i++) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.bit(); // gaps_in_frame_num_allowed
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.bit();
    if (!frameMbsOnly) r.bit();
    r.bit(); // direct_8x8_inference
    let [left, right, top, bottom] = [0, 0, 0, 0];
    if (r.bit()) [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
    const cropX = chromaFormat === 0 || chromaFormat === 3 ? 1 : 2;
    const cropY = (chromaFormat === 1 ? 2 : 1) * (2 - frameMbsOnly);
    const width = widthMbs * 16 - cropX * (left + right);
    const height = (2 - frameMbsOnly) * heightMapUnits * 16 - cropY * (top + bottom);
    return width > 0 && height > 0 ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}

/** The picture size a key frame's first RTP packet announces, if it carries one. */
export function keyFramePictureSize(packet: Buffer, mimeType: string): PictureSize | undefined {
  const at = payloadOffset(packet);
  if (at < 0 || at >= packet.length) return undefined;
  const payload = packet.subarray(at);
  const mime = mimeType.toLowerCase();
  if (mime === 'video/h264') {
    const type = payload[0]! & 0x1f;
    if (type === 7) return h264SpsSize(payload);
    if (type === 24) {
      for (let i = 1; i + 2 < payload.length; ) {
        const size = payload.readUInt16BE(i);
        const nal = payload.subarray(i + 2, i + 2 + size);
        if ((nal[0]! & 0x1f) === 7) return h264SpsSize(nal);
        i += 2 + size;
      }
    }
    return undefined;
  }
  if (mime === 'video/vp8') {
    // RFC 7741 payload descriptor, then the VP8 key frame header: 3-byte tag, start code, sizes.
    let i = 1;
    if (payload[0]! & 0x80) {
      const x = payload[i++] ?? 0;
      if (x & 0x80) i += (payload[i]! & 0x80) !== 0 ? 2 : 1;
      if (x & 0x40) i++;
      if (x & 0x30) i++;
    }
    if (payload.length < i + 10 || (payload[i]! & 0x01) !== 0) return undefined;
    if (payload[i + 3] !== 0x9d || payload[i + 4] !== 0x01 || payload[i + 5] !== 0x2a) return undefined;
    return { width: payload.readUInt16LE(i + 6) & 0x3fff, height: payload.readUInt16LE(i + 8) & 0x3fff };
  }
  return undefined;
}
