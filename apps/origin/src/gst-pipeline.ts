import { RTP_MAX_PACKET, VIDEO_PAYLOAD_TYPE } from './codecs.ts';
import type { X264Preset } from './ffmpeg-args.ts';

/*
 * Pure construction of the GStreamer encoder's pipeline (encoder/gst-encoder.py
 * runs it): raw I420 frames from ffmpeg on fd 3 → one x264enc per layer → RTP
 * to the agent's loopback ports. No process here, so the description is
 * unit-testable and printable.
 *
 * Why GStreamer: x264enc honours a force-key-unit event between two frames
 * (ffmpeg's CLI has no way to ask for a key frame while it runs), so a
 * viewer's PLI becomes a key frame within one frame interval.
 */

/** Which encoder the origin agent runs: `gstreamer` honours key-frame requests, `ffmpeg` does not. */
export const ORIGIN_ENCODERS = ['auto', 'gstreamer', 'ffmpeg'] as const;
export type OriginEncoder = (typeof ORIGIN_ENCODERS)[number];

export interface GstLayer {
  width: number;
  height: number;
  kbps: number;
  /** Frame-rate cap (frames are only dropped); undefined = every input frame. */
  maxFps?: number;
  /** H.264 level written into the SPS, e.g. '3.1'. */
  level: string;
  ssrc: number;
  port: number;
}

export interface GstPlan {
  /** The raw picture ffmpeg writes (every layer is scaled from it). */
  width: number;
  height: number;
  fps: number;
  /** Lowest first, as the agent's ladder. */
  layers: readonly GstLayer[];
  /** Periodic key frames, in frames of `fps` (a forced one restarts the count). */
  gopFrames: number;
  preset: X264Preset;
}

function layerBranch(plan: GstPlan, layer: GstLayer, index: number, from: string): string {
  const scaled = layer.width !== plan.width || layer.height !== plan.height;
  const capped = layer.maxFps !== undefined && layer.maxFps < plan.fps;
  // A capped layer counts its GOP in its own frames, so its key frames fall on the same instants.
  const gop = capped ? Math.max(1, Math.round((plan.gopFrames * layer.maxFps!) / plan.fps)) : plan.gopFrames;
  // Sliced threads for the big layers, as the ffmpeg path: a 1080p frame must not take a core's frame interval.
  const threads = layer.width * layer.height >= 1280 * 720 ? 2 : 1;
  return [
    from,
    ...(scaled ? ['videoscale method=bilinear', `video/x-raw,width=${layer.width},height=${layer.height}`] : []),
    ...(capped ? [`videorate drop-only=true max-rate=${layer.maxFps}`] : []),
    // aud=false: no access-unit delimiters (the ffmpeg path sends none, and a STAP-A must start with the SPS).
    // scenecut=0: only periodic and forced key frames, at the same instants in every layer.
    `x264enc name=enc${index} aud=false tune=zerolatency speed-preset=${plan.preset} bitrate=${layer.kbps}` +
      ` vbv-buf-capacity=500 key-int-max=${gop} bframes=0 threads=${threads}` +
      ` option-string="scenecut=0:repeat-headers=1"`,
    // GStreamer spells whole levels without ".0" ("3", "4"): "3.0" would not negotiate.
    `video/x-h264,profile=constrained-baseline,level=(string)${layer.level.replace(/\.0$/, '')}`,
    // config-interval=0: the SPS/PPS x264 writes before each IDR (repeat-headers) are the only ones. With -1
    // the payloader also put SPS/PPS before *each* IDR slice (zerolatency's sliced threads make two at 720p),
    // and the HLS packager's H.264 parser took the second SPS for a new access unit: every key frame became
    // two half pictures 1 tick apart, and hls.js players showed a broken picture for the rest of each GOP
    // (bench g2g's LL-HLS page read 3–9 clocks in 10 s; WebRTC, which assembles frames by timestamp, was fine).
    `rtph264pay pt=${VIDEO_PAYLOAD_TYPE} ssrc=${layer.ssrc} mtu=${RTP_MAX_PACKET} config-interval=0 aggregate-mode=zero-latency`,
    `udpsink host=127.0.0.1 port=${layer.port} sync=false async=false`,
  ].join(' ! ');
}

/** The gst-launch description: `raw` is the frame source, `enc<i>` layer i's encoder (the script's names). */
export function buildGstPipeline(plan: GstPlan): string {
  if (plan.layers.length === 0) throw new Error('at least one layer');
  const frameBytes = (plan.width * plan.height * 3) / 2;
  // The queue lets fdsrc take each frame from ffmpeg's pipe the moment it is written, in its own thread,
  // while the encoders work on the one before: without it ffmpeg blocked on the pipe for a whole encode,
  // and with it its audio output (same process), which made the viewers' audio jitter buffer — and the
  // video lip-synced to it — grow (bench g2g at 720p: 117 ms p50 without, 78 ms with, in the same minutes).
  // After the queue, rawvideoparse and the tee share one streaming thread, where a key frame is forced on
  // the "raw" pad (each layer then encodes in its own thread: see the branch queues below).
  const source =
    `fdsrc fd=3 blocksize=${frameBytes} ! queue max-size-buffers=4 max-size-bytes=0 max-size-time=0` +
    ` ! rawvideoparse name=raw format=i420 width=${plan.width} height=${plan.height} framerate=${plan.fps}/1`;
  if (plan.layers.length === 1) return layerBranch(plan, plan.layers[0]!, 0, source);
  // A queue per branch: each layer encodes in its own thread, so a frame's 720p does not wait for its
  // 1080p (one thread for all made every layer's frames leave late and unevenly, which the viewers'
  // jitter buffers then absorbed: bench g2g-1080). A forced key frame names the source frame's running
  // time (encoder/gst-encoder.py), so it still lands on the same source frame in every layer.
  const branchQueue = 'queue max-size-buffers=2 max-size-bytes=0 max-size-time=0';
  return [
    `${source} ! tee name=split`,
    ...plan.layers.map((l, i) => layerBranch(plan, l, i, `split. ! ${branchQueue}`)),
  ].join(' ');
}
