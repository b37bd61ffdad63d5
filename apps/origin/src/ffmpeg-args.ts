import { existsSync } from 'node:fs';
import { AUDIO_PAYLOAD_TYPE, AUDIO_SSRC, RTP_MAX_PACKET, VIDEO_PAYLOAD_TYPE, VIDEO_SSRC } from './codecs.ts';
import type { LadderLayer } from './ladder.ts';
import {
  CLOCK_ROW_Y,
  FRAME_ROW_Y,
  PATTERN_FPS,
  PATTERN_HEIGHT,
  PATTERN_WIDTH,
  STRIP_BITS,
  STRIP_CELL,
  STRIP_HEIGHT,
  STRIP_WIDTH,
  STRIP_X,
} from './pattern-layout.ts';

/*
 * Pure construction of ffmpeg's argv: no process here, so the exact command
 * line is unit-testable and printable (`npm start -- --print-ffmpeg`).
 */

export const TESTPATTERN = 'testpattern';

export interface FfmpegPlan {
  /** 'testpattern' or any ffmpeg input (file path, rtmp://, srt://...). */
  source: string;
  videoPort: number;
  audioPort: number;
  videoBitrateKbps: number;
  /** Frames between key frames (default one second). Shorter = faster splice after a reconnect. */
  gopFrames?: number;
  /** Burn the frame/clock strips (always on for the test pattern). */
  burnStrips: boolean;
  /** For files: loop forever at native rate. */
  loop: boolean;
  /** For rtmp:// URLs: act as the RTMP server OBS pushes to. */
  listen: boolean;
  /** False when the input is known to have no audio: a silent track is sent instead. */
  sourceHasAudio: boolean;
  fontFile: string;
  /** Encoded picture size (default 1280x720); the pattern and its strips scale with it. */
  size?: VideoSize;
  /**
   * Simulcast: encode these layers (lowest first) from one decode of the
   * source, layer i to `layerPorts[i]`. `size`, `videoPort` and
   * `videoBitrateKbps` are then unused.
   */
  ladder?: LadderEncoding;
  /**
   * The GStreamer encoder path (gst-pipeline.ts): ffmpeg only draws or decodes
   * the picture and writes raw I420 frames of the top size at a constant
   * `fps` to its stdout; the encoder scales and encodes every layer. Audio is
   * still encoded here. `videoPort`, `ladder.layerPorts` and the x264 options
   * are then unused.
   */
  rawVideo?: { fps: number };
}

export interface LadderEncoding {
  layers: readonly LadderLayer[];
  /** One RTP port per layer, same order as `layers`. */
  layerPorts: readonly number[];
  /** Key frame interval in ms: every layer gets a key frame at the same instants. */
  keyframeIntervalMs: number;
  /** x264 preset of every layer (default 'ultrafast'). */
  preset?: X264Preset;
}

export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium'] as const;
export type X264Preset = (typeof X264_PRESETS)[number];

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
 * Quote a filter option value. The filtergraph parser keeps quoted text
 * literally; the option parser then unescapes `\:` and `\,`. drawtext's
 * `%{fn:arg}` expansion needs real colons after that second pass.
 */
function q(value: string): string {
  if (value.includes("'")) throw new Error('filter values must not contain single quotes');
  return `'${value.replace(/\\/g, '\\\\').replace(/[:,]/g, (m) => `\\${m}`)}'`;
}

function filter(name: string, opts: Record<string, string | number>): string {
  const args = Object.entries(opts)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? v : q(v)}`)
    .join(':');
  return `${name}=${args}`;
}

function box(x: number, y: number, w: number, h: number, color: string, enable?: string): string {
  const opts: Record<string, string | number> = { x, y, w, h, color, t: 'fill' };
  if (enable) opts.enable = enable;
  return filter('drawbox', opts);
}

/**
 * Coordinates in the pattern's native 1280x720 space, scaled to the encoded
 * size: the whole picture, strips included, is the same picture smaller, so a
 * reader scales the layout by the decoded video's size (cellCenter does).
 * Drawn at the small size rather than scaled down afterwards: drawing and
 * encoding a quarter of the pixels is what makes it cheap.
 */
type Scale = (v: number) => number;
const scaler =
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
function overlayFilters(font: string, px: Scale): string[] {
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

/** H.264 Constrained Baseline 3.1, 1 s GOP (default), no B-frames, in-band SPS/PPS on every keyframe. */
export function videoEncoderArgs(kbps: number, gopFrames: number = PATTERN_FPS): string[] {
  // biome-ignore format: ffmpeg flag/value pairs read best one pair per line
  return [
    '-c:v', 'libx264',
    '-preset', 'ultrafast',
    '-tune', 'zerolatency',
    '-profile:v', 'baseline',
    '-level:v', '3.1',
    '-pix_fmt', 'yuv420p',
    '-g', String(gopFrames),
    '-keyint_min', String(gopFrames),
    '-sc_threshold', '0',
    '-bf', '0',
    '-b:v', `${kbps}k`,
    '-maxrate', `${kbps}k`,
    // Half a second of VBV: keeps keyframes from bursting far above the rate.
    '-bufsize', `${Math.round(kbps / 2)}k`,
    '-threads', '1',
    // Repeat SPS/PPS before each IDR: a receiver joining (or the ingest after
    // a reconnect) can decode from the next keyframe; the RTP muxer would
    // otherwise only put them in an SDP we never send.
    '-x264-params', 'repeat-headers=1',
    '-flags', '-global_header',
  ];
}

function rtpOutput(port: number, payloadType: number, ssrc: number): string[] {
  // biome-ignore format: ffmpeg flag/value pairs read best one pair per line
  return [
    '-payload_type', String(payloadType),
    '-ssrc', String(ssrc),
    '-f', 'rtp',
    // rtcpport = the RTP port: ffmpeg's sender reports land on our socket
    // (and are dropped) instead of port+1, which might belong to someone else.
    `rtp://127.0.0.1:${port}?pkt_size=${RTP_MAX_PACKET}&rtcpport=${port}`,
  ];
}

function audioOutput(plan: FfmpegPlan, inputLabel: string): string[] {
  // biome-ignore format: ffmpeg flag/value pairs read best one pair per line
  return [
    '-map', inputLabel,
    '-c:a', 'libopus',
    '-b:a', '64k',
    '-ar', '48000',
    '-ac', '2',
    '-application', 'lowdelay',
    '-frame_duration', '20',
    ...rtpOutput(plan.audioPort, AUDIO_PAYLOAD_TYPE, AUDIO_SSRC),
  ];
}

/**
 * One ladder layer's x264 arguments: Constrained Baseline at the layer's own
 * level, no B-frames, in-band SPS/PPS, and key frames forced at the same
 * instants (multiples of the key frame interval, by time) in every layer, so
 * the GOPs of all layers start on the same source frame whatever their frame
 * rates. x264's own key frames (`-g`, twice the interval) and scene-cut key
 * frames are off, so no layer gets an extra, misaligned one.
 */
export function layerEncoderArgs(
  layer: LadderLayer,
  keyframeIntervalMs: number,
  preset: X264Preset,
  capped = false,
): string[] {
  const seconds = Number((keyframeIntervalMs / 1000).toFixed(3));
  // Sliced threads (zerolatency) for the big layers: ffmpeg 5.1 runs the
  // encoders one after the other, so a 1080p frame must not take one core's
  // whole frame interval.
  const threads = layer.width * layer.height >= 1280 * 720 ? 2 : 1;
  // biome-ignore format: ffmpeg flag/value pairs read best one pair per line
  return [
    '-c:v', 'libx264',
    '-preset', preset,
    '-tune', 'zerolatency',
    '-profile:v', 'baseline',
    '-level:v', layer.level,
    '-pix_fmt', 'yuv420p',
    '-force_key_frames', `expr:gte(t,n_forced*${seconds})`,
    '-g', String(Math.max(2, Math.ceil((2 * keyframeIntervalMs * layer.maxFps) / 1000))),
    '-sc_threshold', '0',
    '-bf', '0',
    '-b:v', `${layer.kbps}k`,
    '-maxrate', `${layer.kbps}k`,
    '-bufsize', `${Math.round(layer.kbps / 2)}k`,
    '-threads', String(threads),
    // A capped layer's frames come through the select filter, which keeps
    // the source's nominal rate on the link: x264 would size its VBV for
    // that rate and hit only half the bitrate at 60 -> 30. Tell it the cap.
    '-x264-params', capped ? `repeat-headers=1:fps=${layer.maxFps}` : 'repeat-headers=1',
    '-flags', '-global_header',
    // Keep each frame's source timestamp (no CFR duplication back to the
    // input's rate after the frame-rate cap): RTP timestamps stay exact.
    '-fps_mode', 'passthrough',
  ];
}

/**
 * A frame-rate cap that only drops frames: keep a frame when at least 0.9 of
 * 1/fps has passed since the last one kept. 60 fps under a 30 cap keeps every
 * other frame, 50 fps keeps every other (25), 25 fps keeps all; the `fps`
 * filter would duplicate frames to reach the rate instead.
 */
export function fpsCapFilter(maxFps: number): string {
  const gap = Number((0.9 / maxFps).toFixed(6));
  return filter('select', { expr: `isnan(prev_selected_t)+gte(t-prev_selected_t,${gap})` });
}

/**
 * The ladder's filter graph from a picture already at the top layer's size
 * (`[in]`): split once, scale each lower layer, cap frame rates. Outputs
 * `[v0]`..`[vN-1]`, lowest layer first.
 */
export function ladderGraph(
  input: string,
  layers: readonly LadderLayer[],
  capFps: (layer: LadderLayer) => boolean,
): string {
  const n = layers.length;
  const branch = (layer: LadderLayer, i: number) => {
    const top = i === n - 1;
    const steps = [
      ...(top ? [] : [`scale=${layer.width}:${layer.height}:flags=bilinear`]),
      ...(capFps(layer) ? [fpsCapFilter(layer.maxFps)] : []),
    ];
    return steps.length ? `[s${i}]${steps.join(',')}[v${i}]` : `[s${i}]null[v${i}]`;
  };
  if (n === 1) return `${input}${capFps(layers[0]!) ? fpsCapFilter(layers[0]!.maxFps) : 'null'}[v0]`;
  return [`${input}split=${n}${layers.map((_, i) => `[s${i}]`).join('')}`, ...layers.map(branch)].join(';');
}

function ladderOutputs(ladder: LadderEncoding, capFps: (layer: LadderLayer) => boolean): string[] {
  const { layers, layerPorts } = ladder;
  if (layerPorts.length !== layers.length) throw new Error('one RTP port per ladder layer');
  return layers.flatMap((layer, i) => [
    '-map',
    `[v${i}]`,
    ...layerEncoderArgs(layer, ladder.keyframeIntervalMs, ladder.preset ?? 'ultrafast', capFps(layer)),
    ...rtpOutput(layerPorts[i]!, VIDEO_PAYLOAD_TYPE, layer.ssrc),
  ]);
}

function buildLadderArgs(plan: FfmpegPlan, ladder: LadderEncoding, args: string[]): string[] {
  const top = ladder.layers.at(-1)!;
  const size = { width: top.width, height: top.height };
  if (plan.source === TESTPATTERN) {
    // The pattern is drawn once, at the top layer's size, and scaled down for the others.
    // biome-ignore format: ffmpeg flag/value pairs read best one pair per line
    args.push(
      '-re', '-f', 'lavfi', '-i', `color=c=0x1e1e1e:s=${size.width}x${size.height}:r=${PATTERN_FPS}`,
      '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    );
    const chain = testPatternChain(plan.fontFile, size).join(',');
    const capFps = (l: LadderLayer) => l.maxFps < PATTERN_FPS;
    args.push('-filter_complex', `[0:v]${chain}[top];${ladderGraph('[top]', ladder.layers, capFps)}`);
    args.push(...ladderOutputs(ladder, capFps), ...audioOutput(plan, '1:a'));
    return args;
  }
  pushExternalInput(plan, args);
  // The source's own frame rate is kept (no fps filter): each layer is only capped at its maximum.
  const chain = [
    `scale=w=${size.width}:h=${size.height}:force_original_aspect_ratio=decrease`,
    `pad=${size.width}:${size.height}:(ow-iw)/2:(oh-ih)/2`,
    ...(plan.burnStrips ? overlayFilters(plan.fontFile, scaler(size)) : []),
    'format=yuv420p',
  ];
  // The source's rate is unknown here (an RTMP push may start later): every
  // layer is capped, which drops nothing when the source is slower. Only the
  // layers below the ladder's top rate (there to thin a fast source) tell x264
  // their rate; the others keep the source's own rate on the link.
  const topFps = Math.max(...ladder.layers.map((l) => l.maxFps));
  args.push('-filter_complex', `[0:v:0]${chain.join(',')}[top];${ladderGraph('[top]', ladder.layers, () => true)}`);
  args.push(
    ...ladderOutputs(ladder, (l) => l.maxFps < topFps),
    ...audioOutput(plan, plan.sourceHasAudio ? '0:a:0' : '1:a'),
  );
  return args;
}

function pushExternalInput(plan: FfmpegPlan, args: string[]): void {
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(plan.source);
  // Files are read at their native rate (-re), as a live source would deliver them.
  if (!isUrl) args.push('-re');
  if (!isUrl && plan.loop) args.push('-stream_loop', '-1');
  if (isUrl) args.push('-fflags', 'nobuffer', '-flags', 'low_delay');
  if (plan.listen && plan.source.startsWith('rtmp://')) args.push('-listen', '1');
  args.push('-i', plan.source);
  if (!plan.sourceHasAudio) args.push('-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=stereo');
}

/** The picture the encoder gets from ffmpeg on the GStreamer path: the top layer's size, or the single layer's. */
export function rawPictureSize(plan: Pick<FfmpegPlan, 'size' | 'ladder'>): VideoSize {
  const top = plan.ladder?.layers.at(-1);
  return top ? { width: top.width, height: top.height } : (plan.size ?? FULL_SIZE);
}

function buildRawArgs(plan: FfmpegPlan, fps: number, args: string[]): string[] {
  const size = rawPictureSize(plan);
  let video: string;
  if (plan.source === TESTPATTERN) {
    // biome-ignore format: ffmpeg flag/value pairs read best one pair per line
    args.push(
      '-re', '-f', 'lavfi', '-i', `color=c=0x1e1e1e:s=${size.width}x${size.height}:r=${PATTERN_FPS}`,
      '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    );
    video = `[0:v]${testPatternChain(plan.fontFile, size).join(',')}[v]`;
  } else {
    pushExternalInput(plan, args);
    // A constant rate: raw frames carry no timestamps, the encoder numbers them at `fps`.
    const chain = [
      `fps=${fps}`,
      `scale=w=${size.width}:h=${size.height}:force_original_aspect_ratio=decrease`,
      `pad=${size.width}:${size.height}:(ow-iw)/2:(oh-ih)/2`,
      ...(plan.burnStrips ? overlayFilters(plan.fontFile, scaler(size)) : []),
      'format=yuv420p',
    ];
    video = `[0:v:0]${chain.join(',')}[v]`;
  }
  args.push('-filter_complex', video);
  args.push('-map', '[v]', '-c:v', 'rawvideo', '-pix_fmt', 'yuv420p', '-f', 'rawvideo', 'pipe:1');
  const externalAudio = plan.source !== TESTPATTERN && plan.sourceHasAudio;
  args.push(...audioOutput(plan, externalAudio ? '0:a:0' : '1:a'));
  return args;
}

export function buildFfmpegArgs(plan: FfmpegPlan): string[] {
  const args = ['-hide_banner', '-loglevel', 'warning', '-nostats', '-nostdin'];
  if (plan.rawVideo) return buildRawArgs(plan, plan.rawVideo.fps, args);
  if (plan.ladder) return buildLadderArgs(plan, plan.ladder, args);
  const size = plan.size ?? FULL_SIZE;
  if (plan.source === TESTPATTERN) {
    // biome-ignore format: ffmpeg flag/value pairs read best one pair per line
    args.push(
      '-re', '-f', 'lavfi', '-i', `color=c=0x1e1e1e:s=${size.width}x${size.height}:r=${PATTERN_FPS}`,
      '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    );
    args.push('-filter_complex', `[0:v]${testPatternChain(plan.fontFile, size).join(',')}[v]`);
    args.push(
      '-map',
      '[v]',
      ...videoEncoderArgs(plan.videoBitrateKbps, plan.gopFrames),
      ...rtpOutput(plan.videoPort, VIDEO_PAYLOAD_TYPE, VIDEO_SSRC),
    );
    args.push(...audioOutput(plan, '1:a'));
    return args;
  }

  pushExternalInput(plan, args);
  // Level 3.1 allows at most 1280x720@30: fit, letterbox, and fix the rate so
  // frame n is always at n * 1000 / 30 ms.
  const chain = [
    `fps=${PATTERN_FPS}`,
    `scale=w=${size.width}:h=${size.height}:force_original_aspect_ratio=decrease`,
    `pad=${size.width}:${size.height}:(ow-iw)/2:(oh-ih)/2`,
    ...(plan.burnStrips ? overlayFilters(plan.fontFile, scaler(size)) : []),
    'format=yuv420p',
  ];
  args.push('-filter_complex', `[0:v:0]${chain.join(',')}[v]`);
  args.push(
    '-map',
    '[v]',
    ...videoEncoderArgs(plan.videoBitrateKbps, plan.gopFrames),
    ...rtpOutput(plan.videoPort, VIDEO_PAYLOAD_TYPE, VIDEO_SSRC),
  );
  args.push(...audioOutput(plan, plan.sourceHasAudio ? '0:a:0' : '1:a'));
  return args;
}
