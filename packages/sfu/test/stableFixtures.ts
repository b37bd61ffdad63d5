import type { types } from 'mediasoup';

/*
 * Synthetic copies of one H.264 encoder for the stable program's tests on the
 * real worker (stable-program: primary and backup; stable-merge: two paths of
 * one dual-path source): 30 frames a second, three packets a frame, a key
 * frame (SPS first) every GOP frames.
 */

export const PACKETS_PER_FRAME = 3;
export const GOP = 15;

export interface Copy {
  producer: types.Producer;
  seq: number;
  ssrc: number;
  on: boolean;
}

export function rtp(seq: number, ts: number, ssrc: number, marker: boolean, payload: number[]): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | 102;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  Buffer.from(payload).copy(b, 12);
  return b;
}

/** Packet k (0..2) of frame n: a key frame starts with an SPS, others are FU-A fragments of a P slice. */
export function framePacket(n: number, k: number, copy: Copy): Buffer {
  const key = n % GOP === 0;
  const payload =
    key && k === 0
      ? [0x67, 0x42, 0xe0, 0x1f, 0xda]
      : [0x7c, (k === 0 ? 0x80 : 0) | (k === PACKETS_PER_FRAME - 1 ? 0x40 : 0) | (key ? 5 : 1), n & 0xff, k];
  return rtp(copy.seq++, 90_000 + n * 3000, copy.ssrc, k === PACKETS_PER_FRAME - 1, payload);
}

/** The RTP payload, past CSRCs and the header extension the consumer adds (abs-send-time...). */
export function payloadOf(p: Buffer): Buffer {
  let off = 12 + 4 * (p[0]! & 0x0f);
  if (p[0]! & 0x10) off += 4 + 4 * p.readUInt16BE(off + 2);
  return p.subarray(off);
}

export interface Out {
  seq: number;
  ts: number;
  frame: number;
  k: number;
  marker: boolean;
  at: number;
}
