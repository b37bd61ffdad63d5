import { existsSync } from 'node:fs';
import { box, filter } from './ffmpeg-filter.ts';
import {
  CLOCK_ROW_Y,
  FRAME_ROW_Y,
  PATTERN_FPS,
  PATTERN_HEIGHT,
  STRIP_BITS,
  STRIP_CELL,
  STRIP_HEIGHT,
  STRIP_WIDTH,
  STRIP_X,
} from './pattern-layout.ts';
import { FULL_SIZE, type VideoSize } from './video-size.ts';

/*
 * The test pattern as ffmpeg filters: a billiards table in motion, with the
 * frame number and wall clock burnt in as text and as machine-readable strips
 * (layout in pattern-layout.ts). The strips are also burnt on external
 * sources on request.
 */

const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationMono-Bold.ttf',
];

/** First font present on this machine (Debian: fonts-dejavu-core). */
export function findFont(): string {
  const found = FONT_CANDIDATES.find((f) => existsSync(f));
  if (!found)
    throw new Error(`no usable font found (tried ${FONT_CANDIDATES.join(', ')}); apt-get install fonts-dejavu-core`);
  return found;
}

/**
 * Coordinates in the pattern's native 1280x720 space, scaled to the encoded
 * size: the whole picture, strips included, is the same picture smaller, so a
 * reader scales the layout by the decoded video's size (cellCenter does).
 * Drawn at the small size rather than scaled down afterwards: drawing and
 * encoding a quarter of the pixels is what makes it cheap.
 */
export type Scale = (v: number) => number;
export const scaler =
  (size: VideoSize): Scale =>
  (v) =>
    Math.round((v * size.height) / PATTERN_HEIGHT);

/** Triangle wave between lo and hi, advancing `speed` px per frame: a ball bouncing off cushions. */
function bounce(lo: number, hi: number, speed: number, phase: number): string {
  const range = hi - lo;
  return `${lo}+abs(mod(n*${speed}+${phase},${2 * range})-${range})`;
}

/** The billiards table: rails, cloth, pockets, two balls in motion. Cheap filters only (no geq). */
function tableFilters(font: string, px: Scale): string[] {
  const rail = { x: px(140), y: px(150), w: px(1000), h: px(520) };
  const cloth = { x: px(170), y: px(180), w: px(940), h: px(460) };
  const pocket = px(40);
  const pockets: Array<[number, number]> = [
    [cloth.x - pocket / 2, cloth.y - pocket / 2],
    [cloth.x + cloth.w / 2 - pocket / 2, cloth.y - pocket / 2 - px(8)],
    [cloth.x + cloth.w - pocket / 2, cloth.y - pocket / 2],
    [cloth.x - pocket / 2, cloth.y + cloth.h - pocket / 2],
    [cloth.x + cloth.w / 2 - pocket / 2, cloth.y + cloth.h - pocket / 2 + px(8)],
    [cloth.x + cloth.w - pocket / 2, cloth.y + cloth.h - pocket / 2],
  ];
  const ball = (color: string, vx: number, vy: number, phx: number, phy: number) =>
    filter('drawtext', {
      fontfile: font,
      text: '\u25CF',
      fontsize: px(54),
      fontcolor: color,
      // Glyph box is ~34 px (at 720p); keep it inside the cloth.
      x: bounce(cloth.x + px(4), cloth.x + cloth.w - px(40), Math.max(1, px(vx)), px(phx)),
      y: bounce(cloth.y - px(6), cloth.y + cloth.h - px(46), Math.max(1, px(vy)), px(phy)),
    });
  return [
    box(rail.x, rail.y, rail.w, rail.h, '0x5b3413'),
    box(cloth.x, cloth.y, cloth.w, cloth.h, '0x0b6e3a'),
    ...pockets.map(([x, y]) => box(x, y, pocket, pocket, 'black')),
    // Head string, a faint line a real table has: gives motion estimation a fixed feature.
    box(cloth.x + Math.round(cloth.w / 4), cloth.y, Math.max(1, px(2)), cloth.h, '0x2f8f5a'),
    ball('white', 11, 7, 0, 0),
    ball('0xd4a017', 6, 9, 300, 120),
    ball('0xb01010', 4, 3, 700, 50),
  ];
}

/**
 * Frame number and wall clock, as text for humans and as strips for
 * machines (layout in pattern-layout.ts).
 *
 * The clock is taken from RTCTIME (wall clock, µs) at the moment the frame
 * passes the filter: `settb=1/1000,setpts=RTCTIME/1000` makes the frame's
 * `t` the Unix time in seconds with ms resolution, the text and clock strip
 * read that `t`, and `settb=1/30,setpts=N` restores the 30 fps timeline for
 * the encoder. With `-re` pacing that instant is the frame's "capture" time.
 *
 * Human-readable text, exact formats:
 *   "FRAME 000123"           frame number n, zero-padded to 6 digits
 *   "08:31:50.108 UTC"       wall clock HH:MM:SS.mmm, UTC
 */
export function overlayFilters(font: string, px: Scale): string[] {
  const out: string[] = [];
  // A cell's edges at this size (rounded per edge, so cells tile the row without gaps).
  const cellX = (col: number) => px(STRIP_X + col * STRIP_CELL);
  const cellW = (col: number) => cellX(col + 1) - cellX(col);
  const cellH = px(STRIP_CELL);
  out.push(
    filter('drawtext', {
      fontfile: font,
      text: 'FRAME %{eif:n:d:6}',
      fontsize: px(56),
      fontcolor: 'white',
      box: 1,
      boxcolor: 'black@0.7',
      boxborderw: px(6),
      x: px(24),
      y: px(STRIP_HEIGHT + 24),
    }),
  );
  // Frame-number row: n is the filter's input frame count, i.e. the frame number.
  out.push(box(px(STRIP_X), 0, px(STRIP_WIDTH), px(STRIP_HEIGHT), 'black'));
  for (let col = 0; col < STRIP_BITS; col++) {
    const bit = STRIP_BITS - 1 - col;
    out.push(box(cellX(col), px(FRAME_ROW_Y), cellW(col), cellH, 'white', `mod(floor(n/${2 ** bit}),2)`));
  }
  out.push('settb=1/1000', 'setpts=RTCTIME/1000');
  const ms = 'floor(t*1000+0.5)';
  out.push(
    filter('drawtext', {
      fontfile: font,
      text:
        '%{eif:mod(floor(t/3600),24):d:2}:%{eif:mod(floor(t/60),60):d:2}:%{eif:mod(floor(t),60):d:2}' +
        `.%{eif:mod(${ms},1000):d:3} UTC`,
      fontsize: px(56),
      fontcolor: 'yellow',
      box: 1,
      boxcolor: 'black@0.7',
      boxborderw: px(6),
      x: px(640),
      y: px(STRIP_HEIGHT + 24),
    }),
  );
  for (let col = 0; col < STRIP_BITS; col++) {
    const bit = STRIP_BITS - 1 - col;
    out.push(
      box(cellX(col), px(CLOCK_ROW_Y), cellW(col), cellH, 'white', `mod(floor(mod(${ms},4294967296)/${2 ** bit}),2)`),
    );
  }
  out.push(`settb=1/${PATTERN_FPS}`, 'setpts=N');
  return out;
}

/** The test pattern's video filter chain, input [0:v] = a lavfi color source of `size` (default 1280x720) at 30 fps. */
export function testPatternChain(fontFile: string, size: VideoSize = FULL_SIZE): string[] {
  const px = scaler(size);
  return [...tableFilters(fontFile, px), ...overlayFilters(fontFile, px), 'format=yuv420p'];
}
