import type { ScoreUpdate } from '@matchmesh/protocol';

/** A score update as the viewer received it. */
export type ReceivedScore = ScoreUpdate & {
  /** True for the snapshot from the join response (the late-joiner path). */
  snapshot: boolean;
  /** Local wall clock when it arrived (ms since epoch). */
  receivedAt: number;
};

export type ScorePushResult =
  | {
      accepted: true;
      score: ReceivedScore;
      /** Seqs skipped before this one. */
      missed: number;
    }
  | { accepted: false; reason: 'duplicate' | 'wrong-stream' };

export type ScoreFeedOptions = {
  /** Only accept updates for this stream (others are dropped as 'wrong-stream'). */
  stream?: string;
  /** Oldest entries are dropped from the log beyond this length. */
  maxLog?: number;
  now?: () => number;
};

/**
 * The viewer's view of a stream's score: latest state plus an ordered log.
 *
 * Updates carry the whole state and a per-stream seq that increases by one,
 * so ordering rules are simple: an update whose seq is <= the last accepted
 * one is a duplicate (or late) and dropped; a jump of more than one counts
 * the skipped seqs as gaps. The first update accepted sets the baseline, so
 * no gap is counted for what happened before the viewer arrived.
 *
 * Seqs skipped around a (re)join — up to the snapshot, and between the
 * snapshot and the first live update — are counted apart, as `missedAtJoin`:
 * updates produced while the score channel is being (re)established are
 * inherently lost (the next full-state update repairs the display), whereas
 * `gaps` are losses on an established channel.
 */
export class ScoreFeed {
  readonly #stream: string | undefined;
  readonly #maxLog: number;
  readonly #now: () => number;
  #log: ReceivedScore[] = [];
  /** True while mediaTime never decreased along the log (enables binary search). */
  #monotonic = true;
  #received = 0;
  #accepted = 0;
  #gaps = 0;
  #missedAtJoin = 0;
  #duplicates = 0;
  #lastSeq = 0;
  /** A snapshot was offered and no live update accepted since. */
  #afterSnapshot = false;

  constructor(options: ScoreFeedOptions = {}) {
    this.#stream = options.stream;
    this.#maxLog = Math.max(1, options.maxLog ?? 10_000);
    this.#now = options.now ?? Date.now;
  }

  /** Offers an update to the feed. */
  push(update: ScoreUpdate, options: { snapshot?: boolean } = {}): ScorePushResult {
    this.#received++;
    if (this.#stream !== undefined && update.stream !== this.#stream) {
      return { accepted: false, reason: 'wrong-stream' };
    }
    const snapshot = options.snapshot === true;
    if (snapshot) this.#afterSnapshot = true;
    if (update.seq <= this.#lastSeq) {
      this.#duplicates++;
      return { accepted: false, reason: 'duplicate' };
    }
    const missed = this.#lastSeq === 0 ? 0 : update.seq - this.#lastSeq - 1;
    if (snapshot || this.#afterSnapshot) this.#missedAtJoin += missed;
    else this.#gaps += missed;
    if (!snapshot) this.#afterSnapshot = false;
    this.#lastSeq = update.seq;
    this.#accepted++;
    const score: ReceivedScore = { ...update, snapshot, receivedAt: this.#now() };
    const previous = this.#log.at(-1);
    if (previous && score.mediaTime < previous.mediaTime) this.#monotonic = false;
    this.#log.push(score);
    if (this.#log.length > this.#maxLog) {
      this.#log.splice(0, this.#log.length - this.#maxLog);
      if (!this.#monotonic) this.#monotonic = isMonotonic(this.#log);
    }
    return { accepted: true, score, missed };
  }

  /**
   * Adds older updates to the log (the HLS window's history, for a viewer who
   * rewinds to before they joined): only seqs below the newest and missing
   * from the log; counters and `lastSeq` are untouched. Returns how many were added.
   */
  backfill(updates: readonly ScoreUpdate[]): number {
    const known = new Set(this.#log.map((u) => u.seq));
    const older = updates.filter(
      (u) => u.seq < this.#lastSeq && !known.has(u.seq) && (this.#stream === undefined || u.stream === this.#stream),
    );
    if (older.length === 0) return 0;
    const now = this.#now();
    for (const u of older) this.#log.push({ ...u, snapshot: false, receivedAt: now });
    this.#log.sort((a, b) => a.seq - b.seq);
    if (this.#log.length > this.#maxLog) this.#log.splice(0, this.#log.length - this.#maxLog);
    this.#monotonic = isMonotonic(this.#log);
    return older.length;
  }

  /** The latest accepted update, or null before the first. */
  get latest(): ReceivedScore | null {
    return this.#log.at(-1) ?? null;
  }

  /** Accepted updates in seq order (oldest may be trimmed, see maxLog). */
  get log(): readonly ReceivedScore[] {
    return this.#log;
  }

  /** Seq of the latest accepted update, 0 before the first. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Every update offered, accepted or not. */
  get received(): number {
    return this.#received;
  }

  get accepted(): number {
    return this.#accepted;
  }

  /** Seqs skipped between accepted updates on an established channel. */
  get gaps(): number {
    return this.#gaps;
  }

  /** Seqs skipped around a (re)join: up to a snapshot and until the first live update after it. */
  get missedAtJoin(): number {
    return this.#missedAtJoin;
  }

  /** Updates dropped because their seq was <= the last accepted. */
  get duplicates(): number {
    return this.#duplicates;
  }

  /**
   * The latest update (highest seq) whose mediaTime <= ms, or null: the score
   * that belongs on screen while the frame at media time `ms` is shown.
   */
  scoreForMediaTime(ms: number): ReceivedScore | null {
    const log = this.#log;
    if (this.#monotonic) {
      // Last index with mediaTime <= ms (ties resolve to the highest seq).
      let lo = 0;
      let hi = log.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (log[mid]!.mediaTime <= ms) lo = mid + 1;
        else hi = mid;
      }
      return lo === 0 ? null : log[lo - 1]!;
    }
    for (let i = log.length - 1; i >= 0; i--) {
      if (log[i]!.mediaTime <= ms) return log[i]!;
    }
    return null;
  }

  /** Forgets everything (e.g. when the viewer switches stream). */
  reset(): void {
    this.#log = [];
    this.#monotonic = true;
    this.#received = 0;
    this.#accepted = 0;
    this.#gaps = 0;
    this.#missedAtJoin = 0;
    this.#duplicates = 0;
    this.#lastSeq = 0;
    this.#afterSnapshot = false;
  }
}

function isMonotonic(log: readonly ReceivedScore[]): boolean {
  for (let i = 1; i < log.length; i++) if (log[i]!.mediaTime < log[i - 1]!.mediaTime) return false;
  return true;
}
