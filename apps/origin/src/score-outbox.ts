import type { ScoreUpdate } from '@matchmesh/protocol';

/*
 * Score updates between "produced" and "surely delivered".
 *
 * pending: produced, not yet written to a data channel (the session is down
 *          or the channel is backed up). Bounded; on overflow the OLDEST is
 *          dropped: every update carries the whole score, so the newest is the
 *          one that matters, and the seq gap tells the ingest what happened.
 * recent:  written to a channel. A session can die with messages written but
 *          never acknowledged by SCTP, and werift does not tell us which. So
 *          after a reconnect the agent re-sends those written after the last
 *          moment the ingest was provably alive (minus a margin). The ingest
 *          and viewers drop seq numbers they have already seen (see
 *          ScoreUpdate in @matchmesh/protocol), so a duplicate costs nothing
 *          and a gap never happens.
 */

interface Sent {
  update: ScoreUpdate;
  at: number;
}

/** Array-backed FIFO with O(1) amortised shift (Array#shift is O(n) at 10,000 entries). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  /** Put items back at the front, preserving their order. */
  unshiftAll(front: T[]): void {
    this.items = [...front, ...this.items.slice(this.head)];
    this.head = 0;
  }
  toArray(): T[] {
    return this.items.slice(this.head);
  }
}

export class ScoreOutbox {
  private readonly pending = new Fifo<ScoreUpdate>();
  private recent = new Fifo<Sent>();
  dropped = 0;
  replayed = 0;

  constructor(
    readonly capacity = 10_000,
    /** How long written updates are kept for a possible replay. */
    private readonly keepSentMs = 30_000,
  ) {}

  get length(): number {
    return this.pending.length;
  }

  push(update: ScoreUpdate): void {
    this.pending.push(update);
    while (this.pending.length > this.capacity) {
      this.pending.shift();
      this.dropped++;
    }
  }

  peek(): ScoreUpdate | undefined {
    return this.pending.peek();
  }

  /** The head was written to a channel. */
  markSent(now = Date.now()): ScoreUpdate | undefined {
    const update = this.pending.shift();
    if (update) this.recent.push({ update, at: now });
    this.prune(now);
    return update;
  }

  /**
   * A session died: move updates written at or after `since` back to the
   * front of pending, in seq order, so the next session sends them first.
   * Returns how many were re-queued.
   */
  requeueSentSince(since: number): number {
    const replay = this.recent.toArray().filter((s) => s.at >= since);
    // Older ones are taken as delivered; re-sent ones re-enter `recent` when written again.
    this.recent = new Fifo<Sent>();
    if (replay.length === 0) return 0;
    const firstPending = this.pending.peek()?.seq ?? Number.POSITIVE_INFINITY;
    const updates = replay.map((s) => s.update).filter((u) => u.seq < firstPending);
    this.pending.unshiftAll(updates);
    this.replayed += updates.length;
    return updates.length;
  }

  /** Highest seq written before `time` (taken as delivered once the ingest was heard from after it). */
  confirmedBefore(time: number): number {
    let seq = 0;
    for (const s of this.recent.toArray()) if (s.at < time && s.update.seq > seq) seq = s.update.seq;
    return seq;
  }

  private prune(now: number): void {
    while (this.recent.length > 0 && now - this.recent.peek()!.at > this.keepSentMs) this.recent.shift();
    // Bound memory at high rates too.
    while (this.recent.length > this.capacity) this.recent.shift();
  }
}
