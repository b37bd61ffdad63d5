// The glass-to-glass reader shared by the browser scenarios (g2g, booth-browser, g2g-1080): on every
// presented frame of a page's first <video> (requestVideoFrameCallback), draw the origin's clock row onto a
// canvas, decode it and record Date.now() − clock with the picture's size — same host, same clock.
import { CLOCK_ROW_Y, PATTERN_WIDTH, STRIP_BITS, STRIP_CELL } from '@matchmesh/origin';
import type { Page } from 'playwright-core';

/** One presented frame: glass-to-glass (ms, wild when the strip did not decode cleanly) and its picture size. */
export interface ClockFrame {
  ms: number;
  width: number;
  height: number;
}

/**
 * Runs in the page: the cell centres (green channel ≥ 128 = 1, MSB first) of the clock row. A string, not a
 * function: tsx would wrap named inner functions in a helper that does not exist in the page.
 */
const READER = `({ cell, bits, clockY, width }) => {
  window.__g2g = [];
  // A reader started again replaces this one: each chain of frame callbacks ends when its generation is stale.
  const gen = (window.__g2gGen = (window.__g2gGen ?? 0) + 1);
  const video = document.querySelector('video');
  const canvas = document.createElement('canvas');
  canvas.width = cell * bits;
  canvas.height = cell;
  const c2d = canvas.getContext('2d', { willReadFrequently: true });
  const onFrame = () => {
    if (window.__g2g === null || window.__g2gGen !== gen) return;
    const now = Date.now();
    const sx = video.videoWidth / width;
    c2d.drawImage(video, 0, clockY * sx, cell * bits * sx, cell * sx, 0, 0, cell * bits, cell);
    const px = c2d.getImageData(0, 0, cell * bits, cell).data;
    let clock = 0;
    for (let col = 0; col < bits; col++) {
      const i = ((cell >> 1) * cell * bits + col * cell + (cell >> 1)) * 4;
      clock = clock * 2 + (px[i + 1] >= 128 ? 1 : 0);
    }
    window.__g2g.push({ ms: (now % 2 ** 32) - clock, width: video.videoWidth, height: video.videoHeight });
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}`;

/** Starts recording every presented frame's glass-to-glass on `page` (restarting clears the previous frames). */
export async function startClockReader(page: Page): Promise<void> {
  const args = { cell: STRIP_CELL, bits: STRIP_BITS, clockY: CLOCK_ROW_Y, width: PATTERN_WIDTH };
  await page.evaluate(`(${READER})(${JSON.stringify(args)})`);
}

/** Stops the reader and answers the frames it recorded. */
export async function takeClockFrames(page: Page): Promise<ClockFrame[]> {
  return page.evaluate(() => {
    const w = window as unknown as { __g2g: ClockFrame[] | null };
    const frames = w.__g2g ?? [];
    w.__g2g = null;
    return frames;
  });
}

/** A frame whose strip did not decode cleanly gives a wild value; keep the plausible ones. */
export const plausible = (frames: readonly ClockFrame[]): number[] =>
  frames.map((f) => f.ms).filter((v) => v >= 0 && v < 10_000);
