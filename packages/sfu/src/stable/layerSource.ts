/** One packet of a standby source, kept to resume from (see StableLayer's splice from a standby copy). */
export interface BufferedPacket {
  packet: Buffer;
  seq: number;
  ts: number;
  at: number;
  frameStart: boolean;
  keyFrame: boolean;
}

/** How much of a standby source's recent media is kept to resume from exactly where the old one stopped. */
const REPLAY_MS = 1000;

/** What a StableLayer knows of one source feeding it. */
export interface LayerSource {
  id: string;
  /** A standby source's last REPLAY_MS of packets (empty while it is the active one). */
  recent: BufferedPacket[];
  lastPacketAt: number;
  /** Input ts of the previous packet seen from this source (frame-start detection). */
  lastTs: number | undefined;
  /** Newest input ts seen (how far this copy has got in the program). */
  maxTs: number | undefined;
  packets: number;
}

/** A source just added at `at` (performance.now()): alive from then, nothing delivered yet. */
export function newLayerSource(id: string, at: number): LayerSource {
  return { id, lastPacketAt: at, lastTs: undefined, maxTs: undefined, packets: 0, recent: [] };
}

/** Buffer a standby source's packet, dropping what is older than REPLAY_MS before it. */
export function keepRecent(source: LayerSource, b: BufferedPacket): void {
  source.recent.push(b);
  while (source.recent.length > 0 && b.at - source.recent[0]!.at > REPLAY_MS) source.recent.shift();
}
