/*
 * Test helpers: just enough H.264 over RTP (RFC 6184) to check what the
 * origin sends without trusting it: NAL units out of single-NAL, STAP-A and
 * FU-A payloads, an Annex B byte stream for ffprobe, and the picture size an
 * SPS declares.
 */

/** The RTP payload after the fixed header, CSRCs and header extension. */
export function rtpPayload(packet: Buffer): Buffer {
  const cc = packet[0]! & 0x0f;
  let off = 12 + 4 * cc;
  if (packet[0]! & 0x10) off += 4 + 4 * packet.readUInt16BE(off + 2);
  return packet.subarray(off);
}

/** One-byte header extensions (RFC 8285) of an RTP packet, by id. */
export function rtpExtensions(packet: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  if (!(packet[0]! & 0x10)) return out;
  const off = 12 + 4 * (packet[0]! & 0x0f);
  if (packet.readUInt16BE(off) !== 0xbede) return out;
  const end = off + 4 + 4 * packet.readUInt16BE(off + 2);
  for (let i = off + 4; i < end; ) {
    const b = packet[i]!;
    if (b === 0) {
      i++;
      continue;
    }
    const id = b >> 4;
    const len = (b & 0x0f) + 1;
    if (id === 15) break;
    out.set(id, packet.subarray(i + 1, i + 1 + len));
    i += 1 + len;
  }
  return out;
}

/**
 * Reassembles NAL units from a stream of RTP payloads in order. FU-A
 * fragments are joined; a fragment run broken by a lost packet is dropped.
 */
export class Depacketizer {
  private fu: Buffer[] | undefined;

  push(payload: Buffer): Buffer[] {
    const type = payload[0]! & 0x1f;
    if (type >= 1 && type <= 23) return [payload];
    if (type === 24) {
      const nals: Buffer[] = [];
      for (let off = 1; off + 2 <= payload.length; ) {
        const size = payload.readUInt16BE(off);
        nals.push(payload.subarray(off + 2, off + 2 + size));
        off += 2 + size;
      }
      return nals;
    }
    if (type === 28) {
      const start = (payload[1]! & 0x80) !== 0;
      const end = (payload[1]! & 0x40) !== 0;
      if (start) this.fu = [Buffer.from([(payload[0]! & 0xe0) | (payload[1]! & 0x1f)])];
      if (!this.fu) return [];
      this.fu.push(payload.subarray(2));
      if (!end) return [];
      const nal = Buffer.concat(this.fu);
      this.fu = undefined;
      return [nal];
    }
    return [];
  }
}

/** Annex B byte stream (start codes) of NAL units, what ffprobe reads as `-f h264`. */
export function annexB(nals: Buffer[]): Buffer {
  const startCode = Buffer.from([0, 0, 0, 1]);
  return Buffer.concat(nals.flatMap((n) => [startCode, n]));
}

/** Emulation-prevention bytes (00 00 03) removed: the raw bit string of a NAL unit. */
function rbsp(nal: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < nal.length; i++) {
    if (i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
    out.push(nal[i]!);
  }
  return Buffer.from(out);
}

class Bits {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  bit(): number {
    const v = (this.buf[this.pos >> 3]! >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return v;
  }
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) zeros++;
    return 2 ** zeros - 1 + this.bits(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -k / 2;
  }
}

export interface SpsInfo {
  profileIdc: number;
  /** constraint_set flags byte, e.g. 0xc0 for Constrained Baseline from x264. */
  constraints: number;
  levelIdc: number;
  width: number;
  height: number;
}

/** Profile, level and cropped picture size of an SPS NAL unit (type 7). */
export function parseSps(nal: Buffer): SpsInfo {
  const b = new Bits(rbsp(nal.subarray(1)));
  const profileIdc = b.bits(8);
  const constraints = b.bits(8);
  const levelIdc = b.bits(8);
  b.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profileIdc)) {
    chromaFormatIdc = b.ue();
    if (chromaFormatIdc === 3) b.bit();
    b.ue();
    b.ue();
    b.bit();
    if (b.bit()) throw new Error('scaling matrices not handled');
  }
  b.ue(); // log2_max_frame_num_minus4
  const pocType = b.ue();
  if (pocType === 0) b.ue();
  else if (pocType === 1) {
    b.bit();
    b.se();
    b.se();
    const n = b.ue();
    for (let i = 0; i < n; i++) b.se();
  }
  b.ue(); // max_num_ref_frames
  b.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = b.ue() + 1;
  const heightMapUnits = b.ue() + 1;
  const frameMbsOnly = b.bit();
  if (!frameMbsOnly) b.bit();
  b.bit(); // direct_8x8_inference_flag
  let [cropLeft, cropRight, cropTop, cropBottom] = [0, 0, 0, 0];
  if (b.bit()) [cropLeft, cropRight, cropTop, cropBottom] = [b.ue(), b.ue(), b.ue(), b.ue()];
  const cropUnitX = chromaFormatIdc === 0 ? 1 : 2;
  const cropUnitY = (chromaFormatIdc === 1 ? 2 : 1) * (2 - frameMbsOnly);
  return {
    profileIdc,
    constraints,
    levelIdc,
    width: widthMbs * 16 - cropUnitX * (cropLeft + cropRight),
    height: heightMapUnits * 16 * (2 - frameMbsOnly) - cropUnitY * (cropTop + cropBottom),
  };
}
