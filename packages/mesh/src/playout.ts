import { EventEmitter } from 'node:events';

/** Below this round trip to the region's upstream, the browser's own jitter buffer is enough. */
export const PLAYOUT_RTT_FLOOR_MS = 50;
/** The most a far region's viewers are asked to hold (ms): beyond it the delay costs more than a rare freeze. */
export const PLAYOUT_MAX_MS = 1000;
/** A change smaller than this is not worth telling every viewer (ms). */
const PLAYOUT_STEP_MS = 50;
/**
 * Readings of the round trip kept per stream; the delay follows their minimum.
 * A reading inflated by a moment's queueing (a busy host, a burst on the
 * haul) would otherwise ask every far viewer to hold hundreds of ms more for
 * as long as it is the latest; the path's own round trip is the lowest one
 * seen lately (as BBR takes its min RTT). A real rise counts once every
 * reading in the window shows it (3 readings: 6 s at the default interval);
 * a fall counts at once.
 */
const RTT_WINDOW = 3;

/**
 * The playout delay a far region's viewers should hold, from the round trip of
 * the pipe that brings the region its copy: a packet lost on the haul is
 * NACKed and retransmitted across it in one round trip, a lost
 * retransmission in two, so two round trips of media in the viewer's jitter
 * buffer let most repairs arrive before their frame is due (bench longhaul,
 * 200 ms round trip: 400 ms held cut freezes over 200 ms from 13 to 3 at 5 %
 * random loss). Near the upstream (< 50 ms) the browser's own adaptive
 * buffer is left alone (0). Rounded to 10 ms, at most 1 s.
 */
export function autoPlayoutDelayMs(upstreamRttMs: number | undefined): number {
  if (upstreamRttMs === undefined || !Number.isFinite(upstreamRttMs) || upstreamRttMs < PLAYOUT_RTT_FLOOR_MS) return 0;
  return Math.min(PLAYOUT_MAX_MS, Math.round((2 * upstreamRttMs) / 10) * 10);
}

export interface PlayoutAdvisorOptions {
  /** The largest round trip (ms) of the pipes bringing this node the stream; undefined before any is measured. */
  upstreamRttMs(stream: string): Promise<number | undefined>;
  /** How often a watched stream's round trip is read again (ms). */
  intervalMs?: number;
}

/**
 * `MM_VIEWER_PLAYOUT_DELAY_MS=auto`: each stream's viewer playout delay
 * follows the round trip of its upstream pipe (the lowest of its last
 * readings, see RTT_WINDOW). A stream is read while some
 * viewer watches it (the first viewer of a region usually arrives before the
 * pipe it triggers has a round trip: it gets 0, then the measured delay by a
 * 'change' event a few seconds later). No viewers, no reads.
 */
export class PlayoutAdvisor extends EventEmitter<{ change: [stream: string, delayMs: number] }> {
  readonly #o: Required<PlayoutAdvisorOptions>;
  readonly #streams = new Map<
    string,
    { delayMs: number; watchers: number; timer: NodeJS.Timeout; readings: number[] }
  >();

  constructor(options: PlayoutAdvisorOptions) {
    super();
    // One listener per watching viewer (apps/node viewerPlayout): thousands are expected, not a leak.
    this.setMaxListeners(0);
    this.#o = { intervalMs: 2000, ...options };
  }

  /** The delay to ask of a viewer of `stream` now (0: the browser's own). */
  delayFor(stream: string): number {
    return this.#streams.get(stream)?.delayMs ?? 0;
  }

  /** Keep `stream`'s delay up to date while the returned function is not called (one per viewer). */
  watch(stream: string): () => void {
    let entry = this.#streams.get(stream);
    if (!entry) {
      const timer = setInterval(() => void this.#refresh(stream), this.#o.intervalMs);
      timer.unref?.();
      entry = { delayMs: 0, watchers: 0, timer, readings: [] };
      this.#streams.set(stream, entry);
      void this.#refresh(stream);
    }
    entry.watchers++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const e = this.#streams.get(stream);
      if (!e || --e.watchers > 0) return;
      clearInterval(e.timer);
      this.#streams.delete(stream);
    };
  }

  /** Re-read a stream now (also what the timer does). */
  async refresh(stream: string): Promise<void> {
    await this.#refresh(stream);
  }

  close(): void {
    for (const e of this.#streams.values()) clearInterval(e.timer);
    this.#streams.clear();
  }

  async #refresh(stream: string): Promise<void> {
    const rtt = await this.#o.upstreamRttMs(stream).catch(() => undefined);
    const entry = this.#streams.get(stream);
    // No measurement (no pipe yet, or one being replaced): keep what viewers were told.
    if (!entry || rtt === undefined) return;
    entry.readings = [...entry.readings, rtt].slice(-RTT_WINDOW);
    const lowest = Math.min(...entry.readings);
    // One reading alone may be the inflated one: a delay is first asked for once two agree on a floor.
    if (entry.readings.length < 2 && autoPlayoutDelayMs(lowest) > entry.delayMs) return;
    const next = autoPlayoutDelayMs(lowest);
    if (Math.abs(next - entry.delayMs) < PLAYOUT_STEP_MS) return;
    entry.delayMs = next;
    this.emit('change', stream, next);
  }
}
