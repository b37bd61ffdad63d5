import { AUDIO_PAYLOAD_TYPE, AUDIO_SSRC, RTP_MAX_PACKET, VIDEO_PAYLOAD_TYPE, VIDEO_SSRC } from './codecs.ts';
import { filter } from './ffmpeg-filter.ts';
import type { LadderLayer } from './ladder.ts';
import { overlayFilters, scaler, testPatternChain } from './pattern-filters.ts';
import { PATTERN_FPS } from './pattern-layout.ts';
import { FULL_SIZE, type VideoSize } from './video-size.ts';
import { layerEncoderArgs, videoEncoderArgs, type X264Preset } from './x264-args.ts';

// Moved to their own modules (the pattern's filters, picture sizes, x264 arguments); re-exported for the
// modules, tests and benches that import them from here.
export { findFont, testPatternChain } from './pattern-filters.ts';
export { FULL_SIZE, parseVideoSize, VIDEO_SIZES, type VideoSize } from './video-size.ts';
export { layerEncoderArgs, videoEncoderArgs, X264_PRESETS, type X264Preset } from './x264-args.ts';

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
