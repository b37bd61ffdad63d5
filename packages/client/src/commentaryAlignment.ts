/**
 * Commentary alignment on WebRTC (ARCHITECTURE.md "Commentators"): a
 * language's commentary reaches the viewer `delay` ms after the picture it
 * reacts to (the node measures it per language), so a viewer hearing that
 * language holds the program — video and venue sound, one lip-synced pair —
 * that much longer than the commentary (RTCRtpReceiver.jitterBufferTarget).
 * The commentary itself keeps the node's playout delay; venue-only viewers
 * get nothing added.
 */

/**
 * The commentary's own stay in the viewer's browser before its jitter buffer is measured: Chromium's audio
 * jitter buffer (NetEq) on a clean link. The program's target is counted from the commentary's buffer, as
 * the commentary's playout is what the program must wait for.
 */
export const COMMENTARY_PLAYOUT_MS = 40;

/**
 * The commentary's way out after its jitter buffer: Chromium's audio renderer pulls 10 ms chunks into the
 * device's buffer (~20 ms), where the program's video target already counts its decode and render.
 */
export const AUDIO_OUTPUT_MS = 20;

/** Target changes smaller than this are not worth a re-adaptation of the browser's buffers (ms). */
export const TARGET_STEP_MS = 15;

/**
 * The program receivers' playout target (ms; 0: the browser's own) for a viewer hearing `lang`:
 * the commentary's own buffer (measured, `commentaryBufferMs`) and output, and the language's delay on top.
 */
export function programPlayoutMs(
  playoutDelayMs: number,
  delays: Readonly<Record<string, number>>,
  lang: string | null,
  commentaryBufferMs = COMMENTARY_PLAYOUT_MS,
): number {
  const delay = lang ? (delays[lang] ?? 0) : 0;
  if (delay <= 0) return playoutDelayMs;
  return Math.round(Math.min(4000, Math.max(playoutDelayMs, commentaryBufferMs) + AUDIO_OUTPUT_MS + delay));
}

/**
 * An average over the last interval from a stat's running totals (WebRTC stats count delays since the
 * stream started, so a buffer that grew or shrank shows late in the plain average).
 */
export class RecentAverage {
  #total = 0;
  #count = 0;

  /** The average of what was added since the last call (total and count since the start); undefined: nothing. */
  update(total: number, count: number): number | undefined {
    const dt = total - this.#total;
    const dc = count - this.#count;
    this.#total = total;
    this.#count = count;
    return dc > 0 && dt >= 0 ? dt / dc : undefined;
  }
}

/** A decoded picture's wait for the screen: half a 60 Hz refresh on average, and the compositor's frame. */
export const DISPLAY_MS = 25;

/**
 * A commentator's view delay from their booth session's stats: the ingest's frame reaches them half the ICE
 * round trip later, waits in the jitter buffer and the decoder (totalProcessingDelay per frame, else the
 * jitter buffer's delay), then for the screen. Undefined until the session has a round trip and a picture.
 */
export function viewDelayOf(
  stats: {
    rttMs?: number;
    videoProcessingMs?: number;
    jitterBufferDelayMs?: number;
    framesDecoded?: number;
  },
  recent?: RecentAverage,
): { viewDelayMs: number; rttMs: number } | undefined {
  const average = stats.videoProcessingMs ?? stats.jitterBufferDelayMs;
  // Over the last interval when the caller keeps one: the booth's picture as it is now.
  const processing =
    recent && average !== undefined && stats.framesDecoded
      ? recent.update(average * stats.framesDecoded, stats.framesDecoded)
      : average;
  if (stats.rttMs === undefined || processing === undefined) return undefined;
  return { viewDelayMs: Math.round(stats.rttMs / 2 + processing + DISPLAY_MS), rttMs: Math.round(stats.rttMs) };
}

/** The frames a ViewDelayMeter keeps (about two seconds of a 30 fps picture). */
const VIEW_SAMPLES = 60;

type FrameMeta = { receiveTime?: number; expectedDisplayTime: number };
type FrameCallbackVideo = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: (now: number, meta: FrameMeta) => void) => number;
  cancelVideoFrameCallback?: (handle: number) => void;
};

/**
 * The booth's own picture delay, frame by frame: for a WebRTC frame the browser tells when its last packet
 * arrived (requestVideoFrameCallback's `receiveTime`) and when it will be on screen (`expectedDisplayTime`)
 * — jitter buffer, decode, render wait and compositor together. Half the ICE round trip before that gives
 * the commentator's view delay from the ingest. Undefined where the browser gives no receiveTime.
 */
export class ViewDelayMeter {
  readonly #video: FrameCallbackVideo;
  readonly #samples: number[] = [];
  #generation = 0;
  #lastFrameAt = 0;
  readonly #watchdog: ReturnType<typeof setInterval>;
  #stopped = false;

  constructor(video: HTMLVideoElement) {
    this.#video = video as FrameCallbackVideo;
    this.#next(this.#generation);
    // A callback chain does not survive the element getting new tracks (a language on air): start another.
    this.#watchdog = setInterval(() => {
      if (performance.now() - this.#lastFrameAt > 500) this.#next(++this.#generation);
    }, 500);
  }

  /** The view delay (ms) for the ICE round trip `rttMs`: the median of the recent frames; undefined: none yet. */
  viewDelay(rttMs: number): { viewDelayMs: number; rttMs: number } | undefined {
    if (this.#samples.length < 10) return undefined;
    const sorted = [...this.#samples].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    return { viewDelayMs: Math.round(rttMs / 2 + median), rttMs: Math.round(rttMs) };
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#watchdog);
  }

  #next(generation: number): void {
    if (this.#stopped || !this.#video.requestVideoFrameCallback) return;
    this.#lastFrameAt = performance.now();
    this.#video.requestVideoFrameCallback((_now, meta) => {
      if (generation !== this.#generation || this.#stopped) return;
      this.#lastFrameAt = performance.now();
      if (meta.receiveTime !== undefined && meta.receiveTime > 0) {
        this.#samples.push(meta.expectedDisplayTime - meta.receiveTime);
        if (this.#samples.length > VIEW_SAMPLES) this.#samples.shift();
      }
      this.#next(generation);
    });
  }
}
