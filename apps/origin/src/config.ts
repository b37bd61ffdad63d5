import { StreamId } from '@matchmesh/protocol';
import { z } from 'zod';
import { parseVideoSize, TESTPATTERN, VIDEO_SIZES, X264_PRESETS } from './ffmpeg-args.ts';
import { ORIGIN_ENCODERS } from './gst-pipeline.ts';
import { DEFAULT_LADDER, type LadderLayer, parseLadder } from './ladder.ts';

/*
 * Configuration from the environment, validated once at startup: a typo in a
 * variable fails loudly before anything is published.
 */

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
    .optional()
    .transform((v) => (v === undefined ? fallback : ['true', '1', 'yes', 'on'].includes(v)));

const int = (fallback: number, min = 0) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : Number(v)))
    .pipe(z.number().int().min(min));

export const EnvSchema = z
  .object({
    MM_INGEST_URL: z.string().url().default('http://127.0.0.1:8080'),
    MM_STREAM: StreamId.default('match'),
    MM_PUBLISH_TOKEN: z.string({ error: 'MM_PUBLISH_TOKEN is required' }).min(1, 'MM_PUBLISH_TOKEN is required'),
    /** Redundant ingest: a second node the same stream is published to at the same time. */
    MM_BACKUP_INGEST_URL: z.string().url().optional(),
    /** Token for the backup ingest (needs the `backup` claim); defaults to MM_PUBLISH_TOKEN. */
    MM_BACKUP_PUBLISH_TOKEN: z.string().min(1).optional(),
    /** On-disk score queue (survives an agent restart); 'off' keeps it in memory only. */
    MM_SCORE_QUEUE_FILE: z.string().min(1).optional(),
    /** 'testpattern' or an ffmpeg input (file, rtmp://127.0.0.1:1935/live, srt://...). */
    MM_SOURCE: z.string().min(1).default(TESTPATTERN),
    /** Built-in score generator period; 0 = off. Default 2000 for the test pattern, 0 otherwise. */
    MM_SCORE_INTERVAL_MS: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v === '' ? undefined : Number(v)))
      .pipe(z.number().int().min(0).optional()),
    MM_SCORE_SEED: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v === '' ? undefined : Number(v)))
      .pipe(z.number().int().optional()),
    /** Score API port; 0 = any free port; 'off' = no API. */
    MM_ORIGIN_API_PORT: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v === '' ? 8090 : v === 'off' ? null : Number(v)))
      .pipe(z.number().int().min(0).max(65535).nullable()),
    /** Loopback by default: the score API is for the venue machine, not the internet. */
    MM_ORIGIN_API_HOST: z.string().min(1).default('127.0.0.1'),
    /** Bearer token of the score API; defaults to the publish token. */
    ORIGIN_API_TOKEN: z.string().min(1).optional(),
    MM_VIDEO_BITRATE_KBPS: int(1500, 100),
    /** Encoded picture size; the test pattern is drawn at it (a smaller one costs the encoder and every decoder less). */
    MM_VIDEO_SIZE: z.enum(VIDEO_SIZES).default('1280x720'),
    /** Key frame interval: bounds the freeze after a reconnect (the ingest splices from a key frame). */
    MM_KEYFRAME_INTERVAL_MS: int(1000, 100),
    /**
     * Simulcast ladder `WxH@FPS:KBPS,...` (ladder.ts), encoded once by one
     * ffmpeg; 'off' = one layer of MM_VIDEO_SIZE at MM_VIDEO_BITRATE_KBPS,
     * 30 fps, no simulcast (the behaviour before the ladder).
     */
    MM_LADDER: z
      .string()
      .optional()
      .transform((v, ctx): LadderLayer[] | undefined => {
        const text = v === undefined || v.trim() === '' ? DEFAULT_LADDER : v.trim();
        if (['off', 'none', 'false', '0'].includes(text.toLowerCase())) return undefined;
        try {
          return parseLadder(text);
        } catch (err) {
          ctx.addIssue({
            code: 'custom',
            message: `${(err as Error).message} (MM_LADDER is "WxH@FPS:KBPS,..." e.g. "${DEFAULT_LADDER}", or "off")`,
          });
          return z.NEVER;
        }
      }),
    /** x264 preset of the ladder's layers: CPU against quality at the same bitrate. */
    MM_X264_PRESET: z.enum(X264_PRESETS).default('ultrafast'),
    /**
     * 'auto': GStreamer's x264 (forces a key frame on each of the ingest's requests) where it covers
     * the source and is installed, else ffmpeg; 'gstreamer' or 'ffmpeg' insist (agent.ts chooseEncoder).
     */
    MM_ORIGIN_ENCODER: z.enum(ORIGIN_ENCODERS).default('auto'),
    /** Key-frame requests within this long of a forwarded one are answered by its key frame (keyframe-gate.ts). */
    MM_KEYFRAME_MERGE_MS: int(100, 0),
    MM_BURN_STRIPS: bool(false),
    MM_SOURCE_LOOP: bool(true),
    MM_RTMP_LISTEN: bool(true),
    MM_FFMPEG: z.string().min(1).default('ffmpeg'),
    MM_CONNECT_TIMEOUT_MS: int(10_000, 500),
    MM_LIVENESS_TIMEOUT_MS: int(800, 200),
    MM_QUEUE_CAPACITY: int(10_000, 1),
    MM_ICE_IPV6: bool(true),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .transform((env) => ({
    ingestUrl: env.MM_INGEST_URL,
    stream: env.MM_STREAM,
    token: env.MM_PUBLISH_TOKEN,
    backupIngestUrl: env.MM_BACKUP_INGEST_URL,
    backupToken: env.MM_BACKUP_PUBLISH_TOKEN,
    scoreQueueFile:
      env.MM_SCORE_QUEUE_FILE === 'off'
        ? undefined
        : (env.MM_SCORE_QUEUE_FILE ?? `.matchmesh/origin-${env.MM_STREAM}.scores.jsonl`),
    source: env.MM_SOURCE,
    scoreIntervalMs: env.MM_SCORE_INTERVAL_MS ?? (env.MM_SOURCE === TESTPATTERN ? 2000 : 0),
    scoreSeed: env.MM_SCORE_SEED,
    apiPort: env.MM_ORIGIN_API_PORT,
    apiHost: env.MM_ORIGIN_API_HOST,
    apiToken: env.ORIGIN_API_TOKEN ?? env.MM_PUBLISH_TOKEN,
    videoBitrateKbps: env.MM_VIDEO_BITRATE_KBPS,
    videoSize: parseVideoSize(env.MM_VIDEO_SIZE),
    keyframeIntervalMs: env.MM_KEYFRAME_INTERVAL_MS,
    ladder: env.MM_LADDER,
    x264Preset: env.MM_X264_PRESET,
    encoder: env.MM_ORIGIN_ENCODER,
    keyFrameMergeMs: env.MM_KEYFRAME_MERGE_MS,
    burnStrips: env.MM_BURN_STRIPS,
    loop: env.MM_SOURCE_LOOP,
    rtmpListen: env.MM_RTMP_LISTEN,
    ffmpegPath: env.MM_FFMPEG,
    connectTimeoutMs: env.MM_CONNECT_TIMEOUT_MS,
    livenessTimeoutMs: env.MM_LIVENESS_TIMEOUT_MS,
    queueCapacity: env.MM_QUEUE_CAPACITY,
    useIpv6: env.MM_ICE_IPV6,
    logLevel: env.LOG_LEVEL,
  }));

export type OriginConfig = z.output<typeof EnvSchema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): OriginConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
