/**
 * Commentary alignment: how late a commentator's reaction reaches the
 * language's track against the frame it reacts to. The commentator sees a
 * frame their view delay after the ingest forwards it (measured by the booth
 * page); their voice then takes half the round trip to the ingest and the
 * mixer's way to the track. A viewer hearing the language delays the picture
 * (and the venue sound) by that much, so the reaction lands on its frame.
 */

/**
 * The voice's way beyond the network and the mixer, from the microphone to the mixed track leaving mediasoup:
 * the browser's capture (10 ms chunks), one 20 ms Opus frame and its send, mediasoup's hops, and what the
 * viewer's player adds (AUDIO_OUTPUT_MS is the player's own). A calibrated floor: the whole voice path used to
 * be one constant, VOICE_PATH_MS = 145 ms, calibrated by test/e2e/commentary-alignment.test.ts (click at the
 * booth → the viewer's ear, its median centred over 8 runs), when the mixer's share was 65–80 ms; the mixer's
 * share is now measured live (LanguageMixer.mixerLagMs, mixerLag.ts), so this is the rest.
 */
export const VOICE_CAPTURE_MS = 75;

/** The mixer's calibrated share (jitter buffer, audiomixer, opusenc at ordinary load): what the booth applies (CommentaryBooth). */
export const MIXER_LAG_FALLBACK_MS = 70;

/** Changes smaller than this are not worth moving every viewer's playout target for (ms). */
export const DELAY_STEP_MS = 15;

export interface ViewDelay {
  /** When the commentator sees a frame after the ingest forwarded it (ms). */
  viewDelayMs: number;
  /** Round trip of the commentator's ICE pair (ms): the voice travels half of it. */
  rttMs: number;
}

/**
 * How late one commentator's reaction reaches the mixed track against its frame (ms, whole), before any hold:
 * the view delay, half the round trip, the capture floor and the mixer's lag (measured, or its fallback).
 */
export function voiceDelayMs(view: ViewDelay, mixerLagMs = MIXER_LAG_FALLBACK_MS): number {
  return Math.round(view.viewDelayMs + view.rttMs / 2 + VOICE_CAPTURE_MS + mixerLagMs);
}

/**
 * A language's delay: its slowest commentator's. The others' voices are held the difference before the mix
 * (`voiceHoldMs`, VoiceHold.ts), so every reaction lands on its frame. 0 when no commentator reported.
 */
export function languageDelayMs(voices: Iterable<number>): number {
  let max = 0;
  for (const d of voices) max = Math.max(max, d);
  return Math.min(4000, max);
}

/** How long to hold a commentator's voice before the mix so it lands with the language's delay (ms, ≥ 0). */
export function voiceHoldMs(languageDelayMs: number, voiceDelayMs: number): number {
  return Math.max(0, languageDelayMs - voiceDelayMs);
}

/** Whether a language's published delay should move to `next` (a new language, gone, or a real change). */
export function delayMoved(previous: number | undefined, next: number): boolean {
  if (previous === undefined || next === 0) return previous !== next;
  return Math.abs(next - previous) >= DELAY_STEP_MS;
}
