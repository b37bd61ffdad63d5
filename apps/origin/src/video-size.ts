import { PATTERN_HEIGHT, PATTERN_WIDTH } from './pattern-layout.ts';

export interface VideoSize {
  width: number;
  height: number;
}

/** The pattern's native size (pattern-layout.ts coordinates). */
export const FULL_SIZE: VideoSize = { width: PATTERN_WIDTH, height: PATTERN_HEIGHT };

/** Sizes the pattern is drawn at: 16:9, strip cells still >= 12 px (legible after H.264, see pattern.test.ts). */
export const VIDEO_SIZES = ['1280x720', '960x540', '640x360'] as const;

export function parseVideoSize(text: (typeof VIDEO_SIZES)[number]): VideoSize {
  const [width, height] = text.split('x').map(Number) as [number, number];
  return { width, height };
}
