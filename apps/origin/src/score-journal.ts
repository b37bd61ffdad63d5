import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ScoreUpdate } from '@matchmesh/protocol';
import type { NumberingState } from './score-epoch.ts';

/*
 * The score queue on disk, so an agent restart (crash, SIGKILL, redeploy)
 * loses nothing and, just as important, does not start counting seq from 1
 * again (the ingest would drop every update as a replay).
 *
 * An append-only JSON-lines file: `{"u": ScoreUpdate}` for each update as it
 * is produced (numbered by the agent's own count, see score-epoch.ts),
 * `{"d": seq}` when every ingest has surely received up to seq, and
 * `{"n": {epoch, offset}}` when the agent's epoch begins or an ingest settles
 * its offset (the last one counts; a journal of updates without one predates
 * epochs: epoch 0, offset 0).
 * On start the agent takes back the last seq and re-queues every update after
 * the last delivered mark (at-least-once; the ingest drops duplicates, so
 * viewers see each exactly once). Bounded: when the file holds more than twice
 * `capacity` lines it is rewritten with the undelivered tail (at most
 * `capacity` updates, the oldest dropped beyond, as in memory).
 */

export interface JournalState {
  /** The agent's score numbering as last recorded; undefined for a new journal (the agent starts afresh). */
  numbering: NumberingState | undefined;
  lastSeq: number;
  /** Updates after the last delivered mark, oldest first. */
  pending: ScoreUpdate[];
  /** Bad lines skipped (a torn last write after a crash). */
  skipped: number;
}

export class ScoreJournal {
  readonly file: string;
  readonly capacity: number;
  #lines = 0;
  #delivered = 0;
  #tail: ScoreUpdate[] = [];
  #numbering: NumberingState | undefined;

  constructor(file: string, capacity = 10_000) {
    this.file = file;
    this.capacity = capacity;
  }

  /** Read what a previous run left. Creates the directory; a missing file is an empty journal. */
  load(): JournalState {
    mkdirSync(path.dirname(this.file), { recursive: true });
    let skipped = 0;
    let lastSeq = 0;
    const updates: ScoreUpdate[] = [];
    if (existsSync(this.file)) {
      for (const line of readFileSync(this.file, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        this.#lines++;
        try {
          const entry = JSON.parse(line) as { u?: unknown; d?: unknown; n?: NumberingState };
          if (entry.n && typeof entry.n.epoch === 'number') {
            this.#numbering = { epoch: entry.n.epoch, offset: entry.n.offset ?? null };
          } else if (typeof entry.d === 'number') {
            this.#delivered = Math.max(this.#delivered, entry.d);
          } else {
            const u = ScoreUpdate.parse(entry.u);
            updates.push(u);
            lastSeq = Math.max(lastSeq, u.seq);
          }
        } catch {
          skipped++;
        }
      }
    }
    this.#tail = updates.filter((u) => u.seq > this.#delivered).slice(-this.capacity);
    if (!this.#numbering && (updates.length > 0 || this.#delivered > 0)) this.#numbering = { epoch: 0, offset: 0 };
    return {
      numbering: this.#numbering,
      lastSeq: Math.max(lastSeq, this.#delivered),
      pending: [...this.#tail],
      skipped,
    };
  }

  /** The epoch began, or an ingest settled the offset. */
  recordNumbering(state: NumberingState): void {
    this.#numbering = state;
    this.#write({ n: state });
  }

  append(update: ScoreUpdate): void {
    this.#tail.push(update);
    if (this.#tail.length > this.capacity) this.#tail.shift();
    this.#write({ u: update });
  }

  /** Every ingest has received everything up to `seq`. */
  delivered(seq: number): void {
    if (seq <= this.#delivered) return;
    this.#delivered = seq;
    this.#tail = this.#tail.filter((u) => u.seq > seq);
    this.#write({ d: seq });
  }

  #write(entry: object): void {
    appendFileSync(this.file, `${JSON.stringify(entry)}\n`);
    if (++this.#lines > this.capacity * 2) this.#compact();
  }

  /** Rewrite the file with the mark and the undelivered tail (atomic rename). */
  #compact(): void {
    const tmp = `${this.file}.tmp`;
    const lines = [
      ...(this.#numbering ? [JSON.stringify({ n: this.#numbering })] : []),
      JSON.stringify({ d: this.#delivered }),
      ...this.#tail.map((u) => JSON.stringify({ u })),
    ];
    writeFileSync(tmp, `${lines.join('\n')}\n`);
    renameSync(tmp, this.file);
    this.#lines = lines.length;
  }
}
