/**
 * Geometry of the test pattern's machine-readable strips.
 *
 * The origin burns two rows of black/white cells into the top-left corner of
 * every test-pattern frame so a viewer (a browser test reading canvas pixels,
 * or a latency probe) can recover, per decoded frame:
 *
 *   row 0 (FRAME_ROW): the frame number n (0-based, the same n the agent uses
 *                      for mediaTime = n * 1000 / 30), as a 32-bit unsigned.
 *   row 1 (CLOCK_ROW): the origin's wall clock when the frame was rendered,
 *                      in Unix-epoch milliseconds modulo 2^32 (UTC).
 *
 * Each row is STRIP_BITS cells of STRIP_CELL x STRIP_CELL pixels, most
 * significant bit first (column 0 = bit 31, column 31 = bit 0). White = 1,
 * black = 0. The 768x48 area is painted black first, so nothing of the table
 * bleeds into it. Cells are much larger than an H.264 macroblock's ringing
 * so sampling the cell centre and thresholding luma at 50% is robust at the
 * ~1.5 Mbps the origin sends.
 *
 * This file must stay dependency-free: browser tests import it.
 */

/** Native size of the pattern; coordinates below are in this space. */
export const PATTERN_WIDTH = 1280;
export const PATTERN_HEIGHT = 720;
export const PATTERN_FPS = 30;

/** Edge length of one cell in pixels (>= 16 so it survives compression). */
export const STRIP_CELL = 24;
/** Cells per row. */
export const STRIP_BITS = 32;
/** Left edge of both rows. */
export const STRIP_X = 0;
/** Top edge of the frame-number row. */
export const FRAME_ROW_Y = 0;
/** Top edge of the wall-clock row. */
export const CLOCK_ROW_Y = STRIP_CELL;
/** Bounding box of both rows (painted black underneath the cells). */
export const STRIP_WIDTH = STRIP_CELL * STRIP_BITS;
export const STRIP_HEIGHT = STRIP_CELL * 2;

/** Modulus of the clock row: the clock wraps every ~49.7 days. */
export const CLOCK_MODULUS = 2 ** 32;

export type StripRow = 'frame' | 'clock';

/** Pixel centre of a cell, scaled if the video is drawn at another size. */
export function cellCenter(
  row: StripRow,
  column: number,
  width = PATTERN_WIDTH,
  height = PATTERN_HEIGHT,
): { x: number; y: number } {
  const sx = width / PATTERN_WIDTH;
  const sy = height / PATTERN_HEIGHT;
  const top = row === 'frame' ? FRAME_ROW_Y : CLOCK_ROW_Y;
  return {
    x: Math.floor((STRIP_X + column * STRIP_CELL + STRIP_CELL / 2) * sx),
    y: Math.floor((top + STRIP_CELL / 2) * sy),
  };
}

/**
 * Decode one row. `luma(x, y)` returns 0..255 for a pixel (for RGBA canvas
 * data use 0.299 R + 0.587 G + 0.114 B, or just G). Returns an unsigned
 * 32-bit number.
 */
export function decodeStripRow(
  luma: (x: number, y: number) => number,
  row: StripRow,
  width = PATTERN_WIDTH,
  height = PATTERN_HEIGHT,
): number {
  let value = 0;
  for (let column = 0; column < STRIP_BITS; column++) {
    const { x, y } = cellCenter(row, column, width, height);
    // Multiply instead of shifting: JS bit operations are signed 32-bit.
    value = value * 2 + (luma(x, y) >= 128 ? 1 : 0);
  }
  return value;
}

/**
 * Glass-to-glass latency in ms from a decoded clock row and the viewer's own
 * clock (same host or NTP-synced hosts), handling the 2^32 wrap.
 */
export function latencyFromClock(clockRow: number, nowMs = Date.now()): number {
  const nowMod = nowMs % CLOCK_MODULUS;
  return (nowMod - clockRow + CLOCK_MODULUS) % CLOCK_MODULUS;
}
