import type { ScorePosition, ScoreUpdate } from '@matchmesh/protocol';

/** What became of one update at a stream's gate. */
export type ScoreVerdict =
  /** New: it goes out to viewers. */
  | 'forwarded'
  /** This (epoch, seq) went out before: an at-least-once redelivery. Harmless, dropped. */
  | 'duplicate'
  /** From an epoch older than the stream's: a replaced origin host still sending, or its replayed queue. */
  | 'stale-epoch'
  /** The seq is taken by another epoch: a new publisher that did not continue after the stream's last seq. */
  | 'seq-taken'
  /** For another stream. */
  | 'invalid';

export interface ScoreStats {
  received: number;
  forwarded: number;
  duplicates: number;
  invalid: number;
  /** Refused as stale-epoch or seq-taken. */
  refused: number;
}

/** How many accepted updates a gate remembers (late joiners' catch-up, and duplicates' epochs). */
export const RECENT_SCORES = 256;

/**
 * The exactly-once gate of one stream's scores, keyed by (epoch, seq): a seq
 * at or below the last one is a duplicate when the same epoch sent it, and a
 * conflict otherwise; an epoch older than the stream's is refused whatever
 * its seq, so a replaced origin host can never overwrite the live score.
 * Updates without an epoch count as epoch 0 (publishers that predate epochs).
 */
export class ScoreGate {
  readonly stats: ScoreStats = { received: 0, forwarded: 0, duplicates: 0, invalid: 0, refused: 0 };
  readonly #stream: string;
  #latest: ScoreUpdate | null = null;
  readonly #recent: ScoreUpdate[] = [];

  constructor(stream: string) {
    this.#stream = stream;
  }

  get latest(): ScoreUpdate | null {
    return this.#latest;
  }

  /** Where the stream's scores stand: a new publisher continues at seq + 1 with a later epoch. */
  get position(): ScorePosition {
    return { epoch: this.#latest?.epoch ?? 0, seq: this.#latest?.seq ?? 0 };
  }

  /** Updates newer than `seq` still remembered, oldest first. */
  since(seq: number): ScoreUpdate[] {
    return this.#recent.filter((u) => u.seq > seq);
  }

  /** The update that took `seq`, if still remembered. */
  taken(seq: number): ScoreUpdate | undefined {
    return this.#recent.find((u) => u.seq === seq);
  }

  admit(update: ScoreUpdate): ScoreVerdict {
    this.stats.received++;
    const verdict = this.#judge(update);
    if (verdict === 'forwarded') {
      this.#latest = update;
      this.#recent.push(update);
      if (this.#recent.length > RECENT_SCORES) this.#recent.shift();
      this.stats.forwarded++;
    } else if (verdict === 'duplicate') this.stats.duplicates++;
    else if (verdict === 'invalid') this.stats.invalid++;
    else this.stats.refused++;
    return verdict;
  }

  #judge(update: ScoreUpdate): ScoreVerdict {
    if (update.stream !== this.#stream) return 'invalid';
    const epoch = update.epoch ?? 0;
    const current = this.position;
    if (epoch < current.epoch) return 'stale-epoch';
    if (update.seq > current.seq) return 'forwarded';
    // At or below the last seq: who took it? Beyond what is remembered, only the current epoch's own
    // redeliveries can arrive (an older epoch was refused above).
    const holder = this.taken(update.seq);
    const holderEpoch = holder ? (holder.epoch ?? 0) : current.epoch;
    return holderEpoch === epoch ? 'duplicate' : 'seq-taken';
  }
}
