/**
 * @matchmesh/origin — the origin agent as a library: publish a stream to a
 * matchmesh ingest over WHIP, with score updates on the 'scores' channel.
 */
export {
  type AgentEvents,
  type AgentStats,
  type ConnectedInfo,
  OriginAgent,
  type OriginAgentOptions,
} from './agent.ts';
export { type ApiOptions, buildApi, type ScoreSink } from './api.ts';
export * from './codecs.ts';
export { loadConfig, type OriginConfig } from './config.ts';
export { buildFfmpegArgs, TESTPATTERN, X264_PRESETS, type X264Preset } from './ffmpeg-args.ts';
export type { KeyFrameCounts } from './gst-encoder.ts';
export { buildGstPipeline, ORIGIN_ENCODERS, type OriginEncoder } from './gst-pipeline.ts';
export {
  capLadderFps,
  DEFAULT_LADDER,
  describeLadder,
  h264Level,
  type LadderLayer,
  ladderProfileLevelId,
  parseLadder,
} from './ladder.ts';
export { quietLogger } from './log.ts';
export { MediaSource, type MediaSourceOptions } from './media-source.ts';
export * from './pattern-layout.ts';
export { ScoreGenerator, type ScoreGeneratorOptions } from './score-generator.ts';
