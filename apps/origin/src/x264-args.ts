import type { LadderLayer } from './ladder.ts';
import { PATTERN_FPS } from './pattern-layout.ts';

/* ffmpeg's libx264 arguments: the single-layer encoder and one ladder layer's. */

export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium'] as const;
export type X264Preset = (typeof X264_PRESETS)[number];

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
