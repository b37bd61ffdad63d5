/**
 * When the video retransmissions that cross a pipe arrive, against their
 * frame: a tap on the far end of a shaped pipe (PipeLink's `onDeliver`).
 * mediasoup sends a video retransmission as RTX (RFC 4588) on its own SSRC
 * with the original packet's RTP timestamp, and SRTP leaves the RTP header in
 * clear, so a packet whose timestamp was first seen on another SSRC of the
 * same path is a retransmission, and its lateness is how long after the first
 * packet of its frame it arrived. A far viewer holding a playout delay of D
 * ms can still use it when that lateness is under about D (its frame is due
 * D after the frame's first packet). Not counted: audio retransmissions (no
 * RTX: same SSRC) and the rare retransmission of a frame none of whose
 * packets arrived first.
 */
const KEEP_MS = 5000;

interface PathTimes {
  /** RTP timestamp -> SSRC and arrival (ms) of the first packet seen with it. */
  first: Map<number, { ssrc: number; at: number }>;
  /** Lateness (ms) of every retransmission seen, in arrival order. */
  lateness: number[];
  lastSweep: number;
}

export class RtxLateness {
  readonly #paths = new Map<string, PathTimes>();

  /** A datagram delivered at the far end of the path `key` (e.g. "from>to"), at `at` (performance.now()). */
  observe(key: string, packet: Buffer, at = performance.now()): void {
    if (packet.length < 12 || packet[0]! >> 6 !== 2) return;
    if (packet[1]! >= 192 && packet[1]! <= 223) return; // RTCP (rtcp-mux)
    let path = this.#paths.get(key);
    if (!path) {
      path = { first: new Map(), lateness: [], lastSweep: at };
      this.#paths.set(key, path);
    }
    const ts = packet.readUInt32BE(4);
    const ssrc = packet.readUInt32BE(8);
    const first = path.first.get(ts);
    if (!first) path.first.set(ts, { ssrc, at });
    else if (first.ssrc !== ssrc) path.lateness.push(at - first.at);
    if (at - path.lastSweep > KEEP_MS) {
      for (const [t, f] of path.first) if (at - f.at > KEEP_MS) path.first.delete(t);
      path.lastSweep = at;
    }
  }

  /** Retransmissions seen so far on the paths whose key passes `match`, and how many came later than `lateMs`. */
  counts(match: (key: string) => boolean, lateMs: number): { retransmissions: number; late: number } {
    let retransmissions = 0;
    let late = 0;
    for (const [key, path] of this.#paths) {
      if (!match(key)) continue;
      retransmissions += path.lateness.length;
      for (const l of path.lateness) if (l > lateMs) late++;
    }
    return { retransmissions, late };
  }
}
