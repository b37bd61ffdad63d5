import { describe, expect, it } from 'vitest';
import {
  DELAY_STEP_MS,
  delayMoved,
  languageDelayMs,
  VOICE_PATH_MS,
  voiceDelayMs,
} from '../src/commentary/alignment.ts';

describe('commentary alignment (node side)', () => {
  it("puts a voice's reaction its view delay, half its round trip and the voice path after its frame", () => {
    expect(voiceDelayMs({ viewDelayMs: 120, rttMs: 40 })).toBe(120 + 20 + VOICE_PATH_MS);
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
