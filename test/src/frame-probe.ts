import type { Page } from 'playwright-core';
import {
  PATTERN_HEIGHT,
  PATTERN_WIDTH,
  STRIP_BITS,
  STRIP_CELL,
} from '../../apps/origin/src/pattern-layout.ts';

/**
 * Reads the burned-in frame number (row 0 of the test pattern's strip, see
 * apps/origin/src/pattern-layout.ts) of every frame the viewer page's video
 * element presents, with the page clock, into `window.__mmFrames`. From that
 * log (times are wall-clock ms, comparable with the test's Date.now()) a test
 * sees what the viewer saw: a freeze is a stretch of wall time
 * with no newer frame number, whatever the player did underneath (swapped
 * sessions, reloaded srcObject...).
 */
export async function installFrameProbe(page: Page): Promise<void> {
  await page.evaluate(
    ({ bits, cell, width, height }) => {
      const w = window as unknown as { __mmFrames?: [number, number][] };
      if (w.__mmFrames) return;
      const log: [number, number][] = [];
      w.__mmFrames = log;
      const video = document.querySelector('video[data-testid="video"]') as HTMLVideoElement;
      // Four canvas pixels per cell: sample the centre of each.
      const canvas = document.createElement('canvas');
      canvas.width = bits * 4;
      canvas.height = 4;
      const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
      // Wall clock (same host as the test): comparable with the test's Date.now().
      const wall = () => performance.timeOrigin + performance.now();
      let generation = 0;
      let lastCallback = performance.now();
      const read = (): number | null => {
        const vw = video.videoWidth;
        const vh = video.videoHeight;
        if (!vw || !vh) return null;
        ctx.drawImage(video, 0, 0, (cell * bits * vw) / width, (cell * vh) / height, 0, 0, bits * 4, 4);
        const data = ctx.getImageData(0, 2, bits * 4, 1).data;
        let value = 0;
        for (let c = 0; c < bits; c++) value = value * 2 + ((data[(c * 4 + 2) * 4 + 1] ?? 0) >= 128 ? 1 : 0);
        return value;
      };
      const loop = (gen: number) => {
        video.requestVideoFrameCallback(() => {
          if (gen !== generation) return;
          lastCallback = performance.now();
          const frame = read();
          if (frame !== null) log.push([wall(), frame]);
          loop(gen);
        });
      };
      loop(generation);
      // A callback chain may not survive the element switching source: restart it.
      setInterval(() => {
        if (performance.now() - lastCallback > 250) {
          generation++;
          lastCallback = performance.now();
          loop(generation);
        }
      }, 100);
    },
    { bits: STRIP_BITS, cell: STRIP_CELL, width: PATTERN_WIDTH, height: PATTERN_HEIGHT },
  );
}

export type FrameLogSummary = {
  /** Presented frames in the window. */
  frames: number;
  /** Longest wall time between two successively newer frame numbers (the freeze a viewer sees). */
  maxGapMs: number;
  /** When (page clock) the longest gap started. */
  maxGapAt: number;
  firstFrame: number | null;
  lastFrame: number | null;
};

/** Summarises the probe's log between two wall-clock times (Date.now() of the test). */
export async function frameLog(
  page: Page,
  from: number,
  to = Number.POSITIVE_INFINITY,
): Promise<FrameLogSummary> {
  const log = await page.evaluate(
    () => (window as unknown as { __mmFrames?: [number, number][] }).__mmFrames ?? [],
  );
  let newest: number | null = null;
  let newestAt = from;
  let maxGapMs = 0;
  let maxGapAt = from;
  let frames = 0;
  let first: number | null = null;
  for (const [at, frame] of log) {
    if (at < from || at > to) {
      if (at < from && (newest === null || frame > newest)) newest = frame;
      continue;
    }
    frames++;
    first ??= frame;
    // A newer frame within 10 s of the last one (a misread cell could give any value).
    if (newest === null || (frame > newest && frame - newest < 300)) {
      if (at - newestAt > maxGapMs) {
        maxGapMs = at - newestAt;
        maxGapAt = newestAt;
      }
      newest = frame;
      newestAt = at;
    }
  }
  const end = Math.min(to, log.at(-1)?.[0] ?? from);
  if (end - newestAt > maxGapMs) {
    maxGapMs = end - newestAt;
    maxGapAt = newestAt;
  }
  return { frames, maxGapMs: Math.round(maxGapMs), maxGapAt, firstFrame: first, lastFrame: newest };
}
