import { describe, expect, it } from 'vitest';
import {
  DELAY_STEP_MS,
  delayMoved,
  languageDelayMs,
  MIXER_LAG_FALLBACK_MS,
  VOICE_CAPTURE_MS,
  voiceDelayMs,
  voiceHoldMs,
} from '../src/commentary/alignment.ts';

describe('commentary alignment (node side)', () => {
  it("puts a voice's reaction its view delay, half its round trip, the capture floor and the mixer's lag after its frame", () => {
    expect(voiceDelayMs({ viewDelayMs: 120, rttMs: 40 }, 93)).toBe(120 + 20 + VOICE_CAPTURE_MS + 93);
    // Not measured yet: the fallback.
    expect(voiceDelayMs({ viewDelayMs: 120, rttMs: 40 })).toBe(120 + 20 + VOICE_CAPTURE_MS + MIXER_LAG_FALLBACK_MS);
  });

  it("holds a faster commentator's voice the difference to the language's delay, never less than 0", () => {
    const delays = [310, 160];
    const language = languageDelayMs(delays);
    expect(delays.map((d) => voiceHoldMs(language, d))).toEqual([0, 150]);
    // The published delay may lag a voice's by less than a step: no negative hold.
    expect(voiceHoldMs(300, 310)).toBe(0);
  });

  it("takes a language's slowest commentator, 0 with none, at most 4 s", () => {
    expect(languageDelayMs([210, 340, 260])).toBe(340);
    expect(languageDelayMs([])).toBe(0);
    expect(languageDelayMs([9000])).toBe(4000);
  });

  it('moves a published delay only by a real step (or to a first value, or to none)', () => {
    expect(delayMoved(undefined, 200)).toBe(true);
    expect(delayMoved(200, 200 + DELAY_STEP_MS - 1)).toBe(false);
    expect(delayMoved(200, 200 - DELAY_STEP_MS)).toBe(true);
    expect(delayMoved(200, 0)).toBe(true);
    expect(delayMoved(0, 0)).toBe(false);
  });
});
