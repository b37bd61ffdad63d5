import type { LayerOutput } from './types.ts';

/** Seconds between the NTP epoch (1900) and the Unix epoch. */
const NTP_UNIX_OFFSET = 2_208_988_800;

/**
 * An RTCP Sender Report (RFC 3550 §6.4.1, no report blocks) for one stable
 * layer at `t` (performance.now()): its RTP timestamp now (the last output
 * extrapolated by the wall clock) against the NTP wall clock, with the
 * packet and octet counts so far.
 */
export function senderReport(ssrc: number, o: Readonly<LayerOutput>, clockRate: number, t: number): Buffer {
  const wallMs = performance.timeOrigin + t;
  const ntpSec = Math.floor(wallMs / 1000) + NTP_UNIX_OFFSET;
  const ntpFrac = Math.floor(((wallMs % 1000) / 1000) * 0x1_0000_0000);
  const sr = Buffer.alloc(28);
  sr[0] = 0x80;
  sr[1] = 200;
  sr.writeUInt16BE(6, 2);
  sr.writeUInt32BE(ssrc >>> 0, 4);
  sr.writeUInt32BE(ntpSec >>> 0, 8);
  sr.writeUInt32BE(ntpFrac >>> 0, 12);
  sr.writeUInt32BE((o.ts + Math.round(((t - o.at) * clockRate) / 1000)) >>> 0, 16);
  sr.writeUInt32BE(o.packets >>> 0, 20);
  sr.writeUInt32BE(o.octets >>> 0, 24);
  return sr;
}
