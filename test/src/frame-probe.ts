import type { Page } from 'playwright-core';
import { PATTERN_HEIGHT, PATTERN_WIDTH, STRIP_BITS, STRIP_CELL } from '../../apps/origin/src/pattern-layout.ts';

/**
 * One presented frame: page wall clock (ms, comparable with the test's
 * Date.now()), burned-in frame number, seq of the score the player shows
 * (-1: none), which element presented it ('webrtc' | 'hls'), and the
 * mediaTime of the frame the player placed that score for (-1: none) — when
 * its frame number is not `frame`, the sample raced the next frame.
 */
export type ProbedFrame = [at: number, frame: number, shownSeq: number, path: string, playerMediaTime: number];

/**
 * Reads the burned-in frame number (row 0 of the test pattern's strip, see
 * apps/origin/src/pattern-layout.ts) of every frame the viewer page presents
 * on screen — the WebRTC element, or the HLS one (or its spare) while it is
 * the active one — into `window.__mmFrames`. From that log a test sees what the viewer saw:
 * a freeze is a stretch of wall time with no newer frame number, whatever
 * the player did underneath (swapped sessions, fell back to HLS...).
 *
 * With each frame it records the score the player shows for it
 * (`__mm.shownScore`), read in a task queued right after the frame's
 * callbacks, so the player's own per-frame update has run.
 */
export async function installFrameProbe(page: Page): Promise<void> {
  await page.evaluate(
    ({ bits, cell, width, height }) => {
      const w = window as unknown as {
        __mmFrames?: [number, number, number, string, number][];
        __mm?: { shownScore: { seq: number } | null; frameMediaTime: number | null };
      };
      if (w.__mmFrames) return;
      const log: [number, number, number, string, number][] = [];
      w.__mmFrames = log;
      // Four canvas pixels per cell: sample the centre of each.
      const canvas = document.createElement('canvas');
      canvas.width = bits * 4;
      canvas.height = 4;
      const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
      // Wall clock (same host as the test): comparable with the test's Date.now().
      const wall = () => performance.timeOrigin + performance.now();
      const read = (video: HTMLVideoElement): number | null => {
        const vw = video.videoWidth;
        const vh = video.videoHeight;
        if (!vw || !vh) return null;
        ctx.drawImage(video, 0, 0, (cell * bits * vw) / width, (cell * vh) / height, 0, 0, bits * 4, 4);
        const data = ctx.getImageData(0, 2, bits * 4, 1).data;
        let value = 0;
        for (let c = 0; c < bits; c++) value = value * 2 + ((data[(c * 4 + 2) * 4 + 1] ?? 0) >= 128 ? 1 : 0);
        return value;
      };
      const follow = (video: HTMLVideoElement, path: string, onScreen: () => boolean) => {
        let generation = 0;
        let lastCallback = performance.now();
        const loop = (gen: number) => {
          video.requestVideoFrameCallback(() => {
            if (gen !== generation) return;
            lastCallback = performance.now();
            if (onScreen()) {
              const frame = read(video);
              if (frame !== null) {
                const at = wall();
                setTimeout(
                  () => log.push([at, frame, w.__mm?.shownScore?.seq ?? -1, path, w.__mm?.frameMediaTime ?? -1]),
                  0,
                );
              }
            }
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
      };
      const video = document.querySelector('video[data-testid="video"]') as HTMLVideoElement;
      // The HLS element and its spare (they trade places when HLS moves to another relay).
      const hlsVideos = Array.from(document.querySelectorAll<HTMLVideoElement>('video[data-testid^="hls-video"]'));
      follow(video, 'webrtc', () => !hlsVideos.some((v) => v.dataset.active === 'true'));
      for (const hlsVideo of hlsVideos) follow(hlsVideo, 'hls', () => hlsVideo.dataset.active === 'true');
    },
    { bits: STRIP_BITS, cell: STRIP_CELL, width: PATTERN_WIDTH, height: PATTERN_HEIGHT },
  );
}

/** The probe's log so far. */
export function probedFrames(page: Page): Promise<ProbedFrame[]> {
  return page.evaluate(() => (window as unknown as { __mmFrames?: ProbedFrame[] }).__mmFrames?.slice() ?? []);
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
export async function frameLog(page: Page, from: number, to = Number.POSITIVE_INFINITY): Promise<FrameLogSummary> {
  const log = await probedFrames(page);
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
