import { describe, expect, it } from 'vitest';
import {
  AUDIO_OUTPUT_MS,
  COMMENTARY_PLAYOUT_MS,
  DISPLAY_MS,
  programPlayoutMs,
  RecentAverage,
  viewDelayOf,
} from '../src/commentaryAlignment.ts';

describe('commentary alignment (player side)', () => {
  it("holds the program the heard language's delay beyond the commentary's own buffer", () => {
    expect(programPlayoutMs(0, { en: 250 }, 'en', 60)).toBe(60 + AUDIO_OUTPUT_MS + 250);
    // Before the commentary's buffer is measured: the clean-link figure.
    expect(programPlayoutMs(0, { en: 250 }, 'en')).toBe(COMMENTARY_PLAYOUT_MS + AUDIO_OUTPUT_MS + 250);
    // A far relay's playout delay holds the commentary too: the program waits that plus the delay.
    expect(programPlayoutMs(400, { en: 250 }, 'en', 60)).toBe(400 + AUDIO_OUTPUT_MS + 250);
  });

  it('adds nothing for the venue sound only, a language without a delay, or none measured', () => {
    expect(programPlayoutMs(0, { en: 250 }, null, 60)).toBe(0);
    expect(programPlayoutMs(0, { en: 250 }, 'es', 60)).toBe(0);
    expect(programPlayoutMs(300, {}, 'en', 60)).toBe(300);
  });

  it('never asks more than the browser takes (4 s)', () => {
    expect(programPlayoutMs(3000, { en: 2000 }, 'en', 60)).toBe(4000);
  });

  it('averages running totals over the last interval only', () => {
    const recent = new RecentAverage();
    expect(recent.update(0, 0)).toBeUndefined();
    expect(recent.update(400, 10)).toBe(40);
    // The buffer grew to 100 ms a sample: the running average (~70) would lag behind it.
    expect(recent.update(1400, 20)).toBe(100);
    expect(recent.update(1400, 20)).toBeUndefined();
  });

  it("estimates a commentator's view delay from the booth session's stats", () => {
    expect(viewDelayOf({ rttMs: 20, videoProcessingMs: 50 })).toEqual({ viewDelayMs: 10 + 50 + DISPLAY_MS, rttMs: 20 });
    expect(viewDelayOf({ rttMs: 20, jitterBufferDelayMs: 30 })).toEqual({
      viewDelayMs: 10 + 30 + DISPLAY_MS,
      rttMs: 20,
    });
    expect(viewDelayOf({ videoProcessingMs: 50 })).toBeUndefined();
    const recent = new RecentAverage();
    viewDelayOf({ rttMs: 0, videoProcessingMs: 40, framesDecoded: 100 }, recent);
    // 100 more frames at 80 ms each: the last interval's 80, not the running 60.
    expect(viewDelayOf({ rttMs: 0, videoProcessingMs: 60, framesDecoded: 200 }, recent)?.viewDelayMs).toBe(
      80 + DISPLAY_MS,
    );
  });
});
