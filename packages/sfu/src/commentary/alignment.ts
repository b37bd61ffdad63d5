/**
 * Commentary alignment: how late a commentator's reaction reaches the
 * language's track against the frame it reacts to. The commentator sees a
 * frame their view delay after the ingest forwards it (measured by the booth
 * page); their voice then takes half the round trip to the ingest and the
 * mixer's way to the track. A viewer hearing the language delays the picture
 * (and the venue sound) by that much, so the reaction lands on its frame.
 */

/**
 * The voice's way beyond the network, from the microphone to the mixed track leaving mediasoup: the
 * browser's capture (10 ms chunks), one 20 ms Opus frame and its send, then the mixer (gstMixer.ts): its
 * 40 ms jitter buffer, audiomixer's 20 ms latency and opusenc's 20 ms frame (the booth bench measures the
 * mixer's part at p50 69–82 ms). Calibrated by test/e2e/commentary-alignment.test.ts, which times the whole
 * way (click at the booth → the viewer's ear, 184–250 ms on loopback): with 100 ms here its reactions came
 * ~70 ms after their frames, with 120 ms (and the player's AUDIO_OUTPUT_MS) a median +30 ms over 8 runs;
 * 145 ms centres them.
 */
export const VOICE_PATH_MS = 145;

/** Changes smaller than this are not worth moving every viewer's playout target for (ms). */
export const DELAY_STEP_MS = 15;

export interface ViewDelay {
  /** When the commentator sees a frame after the ingest forwarded it (ms). */
  viewDelayMs: number;
  /** Round trip of the commentator's ICE pair (ms): the voice travels half of it. */
  rttMs: number;
}

/** How late one commentator's reaction reaches the mixed track against its frame (ms, whole). */
export function voiceDelayMs(view: ViewDelay): number {
  return Math.round(view.viewDelayMs + view.rttMs / 2 + VOICE_PATH_MS);
}

/**
 * A language's delay: its slowest commentator's (the others' reactions come a little early, by the
 * difference, rather than any reaction after its frame). 0 when no commentator reported a view delay.
 */
export function languageDelayMs(voices: Iterable<number>): number {
  let max = 0;
  for (const d of voices) max = Math.max(max, d);
  return Math.min(4000, max);
}

/** Whether a language's published delay should move to `next` (a new language, gone, or a real change). */
export function delayMoved(previous: number | undefined, next: number): boolean {
  if (previous === undefined || next === 0) return previous !== next;
  return Math.abs(next - previous) >= DELAY_STEP_MS;
}
