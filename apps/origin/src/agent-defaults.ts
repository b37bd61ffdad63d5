import { existsSync } from 'node:fs';
import type { OriginAgentOptions } from './agent-types.ts';
import { TESTPATTERN } from './ffmpeg-args.ts';
import { gstreamerAvailable } from './gst-encoder.ts';
import type { OriginEncoder } from './gst-pipeline.ts';
import type { LadderLayer } from './ladder.ts';
import { type Logger, quietLogger } from './log.ts';
import { FULL_SIZE } from './video-size.ts';

/** The options that may stay unset; every other one gets a default. */
type OptionalOption = 'scoreSeed' | 'backupIngestUrl' | 'backupToken' | 'scoreQueueFile' | 'ladder';

/** OriginAgentOptions with the library's defaults filled in. */
export type ResolvedAgentOptions = Required<Omit<OriginAgentOptions, OptionalOption>> &
  Pick<OriginAgentOptions, OptionalOption>;

/** The options as given, over the library's defaults (an option given as undefined keeps its default). */
export function withAgentDefaults(options: OriginAgentOptions, source: string): ResolvedAgentOptions {
  return {
    source,
    videoBitrateKbps: 1500,
    videoSize: FULL_SIZE,
    keyframeIntervalMs: 1000,
    burnStrips: false,
    loop: true,
    rtmpListen: true,
    ffmpegPath: 'ffmpeg',
    scoreIntervalMs: source === TESTPATTERN ? 2000 : 0,
    queueCapacity: 10_000,
    backoffBaseMs: 200,
    backoffCapMs: 5000,
    firstRetryJitterMs: 50,
    slowRetryMs: 15_000,
    stableAfterMs: 5000,
    connectTimeoutMs: 10_000,
    livenessTimeoutMs: 800,
    replayMarginMs: 2000,
    useIpv6: true,
    x264Preset: 'ultrafast',
    encoder: 'auto',
    keyFrameMergeMs: 100,
    // Debian's python3, where python3-gst-1.0 lives (a pyenv or venv python3 earlier on PATH lacks it).
    pythonPath: existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3',
    logger: quietLogger(),
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as ResolvedAgentOptions;
}

/**
 * The encoder `wanted` resolves to: 'auto' takes GStreamer where it covers
 * the source (the test pattern, any single-layer source) and is installed;
 * a missing GStreamer falls back to ffmpeg with a warning, unless it was
 * asked for by name.
 */
export function chooseEncoder(
  wanted: OriginEncoder,
  source: string,
  ladder: readonly LadderLayer[] | undefined,
  pythonPath: string,
  log: Logger,
): 'gstreamer' | 'ffmpeg' {
  if (wanted === 'ffmpeg') return 'ffmpeg';
  const covered = source === TESTPATTERN || !ladder || ladder.length === 1;
  if (wanted === 'auto' && !covered) return 'ffmpeg';
  if (gstreamerAvailable(pythonPath)) return 'gstreamer';
  if (wanted === 'gstreamer')
    throw new Error('MM_ORIGIN_ENCODER=gstreamer: python3 with GStreamer (gi, x264enc) is not available');
  log.warn('GStreamer (python3-gst-1.0, x264enc) not found: encoding with ffmpeg, key-frame requests are not honoured');
  return 'ffmpeg';
}
