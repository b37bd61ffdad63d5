import type { types as ms } from 'mediasoup-client';
import { programPlayoutMs, RecentAverage, TARGET_STEP_MS } from './commentaryAlignment.ts';
import { playoutDelayOf, setPlayoutDelay } from './receivers.ts';
import type { ConsumerEntry } from './SessionConsumers.ts';
import { audioBufferOf, type SessionStats } from './sessionStats.ts';

export interface PlayoutAlignerOptions {
  /** The session's consumers, whose receivers get the targets. */
  consumers(): Iterable<ConsumerEntry>;
  /** The commentary language heard (null: venue sound only). */
  language(): string | null;
  transport(): ms.Transport | null;
  isClosed(): boolean;
}

/**
 * The playout target of each of a WebRTC session's receivers: the node's playout delay, and for the
 * program the heard language's commentary delay on top (commentaryAlignment.ts), counted from the
 * commentary's own jitter buffer, measured every second while the program waits for it.
 */
export class PlayoutAligner {
  readonly #o: PlayoutAlignerOptions;
  /** Playout delay the node asks of this session's receivers (join reply), ms; 0: the browser's own. */
  playoutDelayMs = 0;
  /** How late each language's commentary is against the picture (node's measure, ms): the program waits for it. */
  commentaryDelays: Record<string, number> = {};
  /** The heard commentary's jitter buffer over the last second (ms), measured while the program waits for it. */
  #commentaryBuffer: { trackId: string; recent: RecentAverage; ms: number | undefined } | null = null;
  #alignTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: PlayoutAlignerOptions) {
    this.#o = options;
  }

  /**
   * Each receiver's playout target: the node's playout delay, and for the program (video and venue sound)
   * the heard language's commentary delay on top (commentaryAlignment.ts).
   */
  apply(): void {
    const heard = this.#heardCommentary();
    const buffer = heard && this.#commentaryBuffer?.trackId === heard.track.id ? this.#commentaryBuffer.ms : undefined;
    const program = programPlayoutMs(this.playoutDelayMs, this.commentaryDelays, this.#o.language(), buffer);
    for (const { consumer, info } of this.#o.consumers()) {
      const target = info.source === 'program' ? program : this.playoutDelayMs;
      const now = playoutDelayOf(consumer.rtpReceiver) ?? 0;
      // Small moves of the measured buffer are left alone: each one re-adapts the browser's buffers.
      const small = info.source === 'program' && now > 0 && target > 0 && Math.abs(target - now) < TARGET_STEP_MS;
      if (now !== target && !small) setPlayoutDelay(consumer.rtpReceiver, target);
    }
    // While the program waits for a language, its commentary's own buffer is measured every second.
    const aligning = program !== this.playoutDelayMs;
    if (aligning && this.#alignTimer === undefined) {
      this.#alignTimer = setInterval(() => void this.#measureCommentaryBuffer(), 1000);
    } else if (!aligning && this.#alignTimer !== undefined) {
      clearInterval(this.#alignTimer);
      this.#alignTimer = undefined;
    }
  }

  /** The session's teardown: no more measuring. */
  close(): void {
    clearInterval(this.#alignTimer);
  }

  /** The receivers' playout figures of the session's stats. */
  addStats(stats: SessionStats): void {
    const targets = [...this.#o.consumers()].map((c) => playoutDelayOf(c.consumer.rtpReceiver));
    if (targets.some((t) => t !== undefined)) stats.playoutDelayMs = Math.min(...targets.map((t) => t ?? 0));
    const language = this.#o.language();
    const delay = language ? this.commentaryDelays[language] : undefined;
    if (delay !== undefined) stats.commentaryDelayMs = delay;
    const video = [...this.#o.consumers()].find((c) => c.info.source === 'program' && c.info.kind === 'video');
    const programTarget = playoutDelayOf(video?.consumer.rtpReceiver);
    if (programTarget !== undefined) stats.programPlayoutMs = programTarget;
    if (this.#commentaryBuffer?.ms !== undefined) stats.commentaryBufferMs = this.#commentaryBuffer.ms;
  }

  #heardCommentary(): ConsumerEntry['consumer'] | undefined {
    const language = this.#o.language();
    for (const { consumer, info } of this.#o.consumers())
      if (info.source === 'commentary' && info.lang === language) return consumer;
    return undefined;
  }

  /** The heard commentary's jitter buffer over the last second (its browser-side delay), then the targets. */
  async #measureCommentaryBuffer(): Promise<void> {
    const heard = this.#heardCommentary();
    const transport = this.#o.transport();
    if (!heard || !transport || transport.closed) return;
    const report = await transport.getStats().catch(() => undefined);
    const totals = report && audioBufferOf(report, heard.track);
    if (!totals || this.#o.isClosed()) return;
    if (this.#commentaryBuffer?.trackId !== heard.track.id)
      this.#commentaryBuffer = { trackId: heard.track.id, recent: new RecentAverage(), ms: undefined };
    const ms = this.#commentaryBuffer.recent.update(totals.delayMs, totals.emitted);
    if (ms === undefined) return;
    this.#commentaryBuffer.ms = ms;
    this.apply();
  }
}
