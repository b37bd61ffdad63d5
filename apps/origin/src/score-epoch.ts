import type { ScorePosition, ScoreUpdate } from '@matchmesh/protocol';

/** What the journal keeps of the numbering: the epoch, and the offset once an ingest told it. */
export interface NumberingState {
  epoch: number;
  /** null: not settled yet (no ingest answered since this epoch began). */
  offset: number | null;
}

/**
 * Where this agent's scores sit in the stream's sequence. The agent counts
 * its own updates 1, 2, 3… (its journal and queues use that count); on the
 * wire each carries the agent's epoch and `seq = own count + offset`.
 *
 * An agent that resumes a journal resumes both. One that starts afresh (a new
 * host, a lost disk) picks a new epoch and learns the stream's position from
 * the first ingest that answers (the WHIP answer's `Matchmesh-Last-Score`),
 * before it sends a single update: it continues after the stream's last seq
 * (so nothing it sends is dropped as a replay), with an epoch later than the
 * stream's (so the old host, should it still be running, is refused).
 */
export class ScoreNumbering {
  #epoch: number;
  #offset: number | null;

  private constructor(state: NumberingState) {
    this.#epoch = state.epoch;
    this.#offset = state.offset;
  }

  /** A new epoch: now, in ms (later than any earlier host's, with clocks in sync; settle() fixes a skew). */
  static fresh(now = Date.now()): ScoreNumbering {
    return new ScoreNumbering({ epoch: now, offset: null });
  }

  static resumed(state: NumberingState): ScoreNumbering {
    return new ScoreNumbering(state);
  }

  get state(): NumberingState {
    return { epoch: this.#epoch, offset: this.#offset };
  }

  /** Updates may go out: the offset is known. */
  get settled(): boolean {
    return this.#offset !== null;
  }

  /**
   * An ingest answered with the stream's position (undefined: it holds no
   * scores for the stream). Returns true when this settled the numbering
   * (the journal records it); later answers change nothing.
   */
  settle(position: ScorePosition | undefined): boolean {
    if (this.#offset !== null) return false;
    this.#offset = position?.seq ?? 0;
    if (position && position.epoch >= this.#epoch) this.#epoch = position.epoch + 1;
    return true;
  }

  /** The update as the ingest gets it. Only once settled. */
  toWire(update: ScoreUpdate): ScoreUpdate {
    if (this.#offset === null) throw new Error('score numbering is not settled yet');
    return { ...update, epoch: this.#epoch, seq: update.seq + this.#offset };
  }
}
