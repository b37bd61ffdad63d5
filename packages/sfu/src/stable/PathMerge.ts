import { payloadOffset, SEQ_MOD, seqDiff, seqOf, tsOf } from './rtp.ts';

/**
 * Hitless merge of copies of one RTP stream that arrive over independent
 * paths (the idea of SMPTE ST 2022-7): the first copy of each packet wins,
 * later copies are dropped, so a packet lost on one path costs nothing when
 * the other delivered it.
 *
 * The copies carry the same packets but not the same numbering: every
 * mediasoup consumer on the way (pipe, relay, DirectTransport) starts its own
 * sequence numbers at random. So the merge keeps one numbering of its own
 * (the first path's) and learns each other path's offset into it from the
 * content: a packet is identified by its RTP timestamp and a hash of its
 * payload, which no hop rewrites. Once a path's offset is known, its packets
 * are placed by sequence number alone; a packet whose number is taken by a
 * different packet means the path's numbering moved (a consumer re-synced),
 * and its offset is learned again.
 *
 * A path whose offset is not known yet holds its packets (up to
 * PENDING_MS); when they match, the held ones the merge lacks go out at
 * their place — a path that joins after a loss fills it. A path that never
 * overlaps (the known paths fell silent before it delivered a matching
 * packet) takes over the numbering after `reanchorMs`: its packets continue
 * the output.
 *
 * Pure: knows nothing of mediasoup; unit-tested on synthetic packets.
 */

/** Packets of output numbering remembered (duplicates older than this are too late to matter: dropped). */
const RING = 4096;
const RING_MASK = RING - 1;
/** How long a path whose offset is unknown holds its packets for a later match. */
const PENDING_MS = 1000;
const PENDING_MAX = 512;

export interface PathShare {
  /** Packets of this path that went out first. */
  won: number;
  /** Packets of this path another path (or an earlier copy) had already delivered. */
  duplicates: number;
  /** Packets held, or dropped after PENDING_MS, because the path's numbering was not known (start, re-sync). */
  unmatched: number;
  /** performance.now() of its last packet. */
  lastAt: number;
}

interface PathState extends PathShare {
  /** outSeq - inSeq on the 16-bit circle; undefined until learned. */
  offset: number | undefined;
  pending: { packet: Buffer; inSeq: number; key: string; at: number }[];
  /** Content key → input seq of what it holds (a faster path's packets match when the known path delivers them). */
  pendingKeys: Map<string, number>;
}

interface Slot {
  seq: number;
  key: string;
}

/** FNV-1a over the payload: the packet's identity on every path (headers are rewritten hop by hop). */
function payloadHash(packet: Buffer): number {
  const start = payloadOffset(packet);
  let h = 0x811c9dc5;
  for (let i = start < 0 ? 12 : start; i < packet.length; i++) {
    h = Math.imul(h ^ packet[i]!, 0x01000193);
  }
  return h >>> 0;
}

export class PathMerge {
  readonly #emit: (packet: Buffer, path: string) => void;
  readonly #reanchorMs: number;
  readonly #paths = new Map<string, PathState>();
  readonly #ring: (Slot | undefined)[] = new Array(RING);
  /** Content key → output seq, for the packets in the ring. */
  readonly #byKey = new Map<string, number>();
  #maxOut: number | undefined;
  /** Output seqs skipped and not (yet) filled by any path: the loss left after the merge. */
  missing = 0;

  /**
   * `emit` gets each packet that goes out, renumbered into the merge's
   * numbering (in place). `reanchorMs`: how long the known paths must have
   * been silent before an unmatched path takes over the numbering.
   */
  constructor(emit: (packet: Buffer, path: string) => void, reanchorMs = 200) {
    this.#emit = emit;
    this.#reanchorMs = reanchorMs;
  }

  /** Per path: packets won, duplicates dropped, unmatched. */
  shares(): Map<string, PathShare> {
    const out = new Map<string, PathShare>();
    for (const [id, p] of this.#paths) {
      out.set(id, { won: p.won, duplicates: p.duplicates, unmatched: p.unmatched, lastAt: p.lastAt });
    }
    return out;
  }

  hasPath(path: string): boolean {
    return this.#paths.has(path);
  }

  get pathCount(): number {
    return this.#paths.size;
  }

  removePath(path: string): void {
    this.#paths.delete(path);
  }

  /** A packet of `path`, at `now` (performance.now()). */
  push(path: string, packet: Buffer, now: number): void {
    if (packet.length < 12) return;
    let p = this.#paths.get(path);
    if (!p) {
      p = { won: 0, duplicates: 0, unmatched: 0, lastAt: now, offset: undefined, pending: [], pendingKeys: new Map() };
      this.#paths.set(path, p);
    }
    p.lastAt = now;
    const inSeq = seqOf(packet);
    const key = `${tsOf(packet)}:${payloadHash(packet)}`;
    if (this.#maxOut === undefined) p.offset = 0; // the first packet ever: its path's numbering is the merge's
    if (p.offset !== undefined) {
      const outSeq = (inSeq + p.offset) % SEQ_MOD;
      const slot = this.#ring[outSeq & RING_MASK];
      if (slot?.seq === outSeq) {
        if (slot.key === key) {
          p.duplicates++;
          return;
        }
        p.offset = undefined; // the path's numbering moved: learn it again
      } else if (this.#maxOut !== undefined && seqDiff(this.#maxOut, outSeq) <= -RING / 2) {
        p.duplicates++; // older than anything remembered: whatever it was went out long ago or never will
        return;
      } else {
        this.#out(p, path, packet, outSeq, key);
        return;
      }
    }
    this.#learn(p, path, packet, inSeq, key, now);
  }

  #learn(p: PathState, path: string, packet: Buffer, inSeq: number, key: string, now: number): void {
    const known = this.#byKey.get(key);
    if (known !== undefined) {
      p.offset = (known - inSeq + SEQ_MOD) % SEQ_MOD;
      p.duplicates++;
      this.#flushPending(p, path);
      return;
    }
    p.unmatched++;
    p.pending.push({ packet, inSeq, key, at: now });
    p.pendingKeys.set(key, inSeq);
    while (p.pending.length > PENDING_MAX || (p.pending.length > 0 && now - p.pending[0]!.at > PENDING_MS)) {
      const gone = p.pending.shift()!;
      if (p.pendingKeys.get(gone.key) === gone.inSeq) p.pendingKeys.delete(gone.key);
    }
    // Nobody else is delivering: this path carries the program on, continuing the output's numbering.
    const othersQuiet = [...this.#paths.values()].every(
      (o) => o === p || o.offset === undefined || now - o.lastAt >= this.#reanchorMs,
    );
    if (othersQuiet) {
      // Its oldest packet (the held ones may have come reordered) continues the output.
      const first = p.pending.reduce((a, b) => (seqDiff(a.inSeq, b.inSeq) < 0 ? b : a));
      const next = this.#maxOut === undefined ? first.inSeq : (this.#maxOut + 1) % SEQ_MOD;
      p.offset = (next - first.inSeq + SEQ_MOD) % SEQ_MOD;
      // The others' numbering is no longer the output's: they learn it again when they deliver.
      for (const o of this.#paths.values()) if (o !== p) o.offset = undefined;
      this.#flushPending(p, path);
    }
  }

  /** The path's offset is known now: what it held that the output lacks goes out, in its order. */
  #flushPending(p: PathState, path: string): void {
    const held = p.pending;
    p.pending = [];
    p.pendingKeys.clear();
    for (const h of held) {
      p.unmatched--;
      const outSeq = (h.inSeq + p.offset!) % SEQ_MOD;
      const slot = this.#ring[outSeq & RING_MASK];
      if (slot?.seq === outSeq || (this.#maxOut !== undefined && seqDiff(this.#maxOut, outSeq) <= -RING / 2)) {
        p.duplicates++;
        continue;
      }
      this.#out(p, path, h.packet, outSeq, h.key);
    }
  }

  #out(p: PathState, path: string, packet: Buffer, outSeq: number, key: string): void {
    if (this.#maxOut === undefined) {
      this.#maxOut = outSeq;
    } else {
      const ahead = seqDiff(this.#maxOut, outSeq);
      if (ahead > 0) {
        this.missing += ahead - 1;
        this.#maxOut = outSeq;
      } else {
        this.missing = Math.max(0, this.missing - 1); // a hole filled
      }
    }
    const i = outSeq & RING_MASK;
    const old = this.#ring[i];
    if (old && this.#byKey.get(old.key) === old.seq) this.#byKey.delete(old.key);
    this.#ring[i] = { seq: outSeq, key };
    this.#byKey.set(key, outSeq);
    p.won++;
    packet.writeUInt16BE(outSeq, 2);
    this.#emit(packet, path);
    // A path still learning that holds this very packet (it is ahead of the known one): now it knows.
    for (const o of this.#paths.values()) {
      const inSeq = o === p || o.offset !== undefined ? undefined : o.pendingKeys.get(key);
      if (inSeq === undefined) continue;
      o.offset = (outSeq - inSeq + SEQ_MOD) % SEQ_MOD;
      for (const [id, st] of this.#paths) if (st === o) this.#flushPending(o, id);
    }
  }
}
