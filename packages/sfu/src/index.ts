/**
 * @matchmesh/sfu — media only: mediasoup workers, routers, transports, pipes,
 * and the SDP bridge for WHIP/WHEP. Knows nothing of Redis or HTTP; the node
 * server wires it to the cluster and the network edge.
 */
export { capabilitiesFitRouter } from './capabilities.ts';
export { MEDIA_CODECS } from './codecs.ts';
export { type BoothOptions, CommentaryBooth, DEFAULT_BOOTH_OPTIONS } from './commentary/CommentaryBooth.ts';
export { LanguageMixer, MixerFullError, type MixerOptions } from './commentary/LanguageMixer.ts';
export { type EgressBytes, type EgressKind, EgressMeter, type EgressTarget, egressTargetOf } from './EgressMeter.ts';
export { MediaError, type MediaErrorCode } from './errors.ts';
export { type FanoutOptions, FanoutRouter } from './FanoutRouter.ts';
export { DEFAULT_LAYER_GOVERNOR, LayerGovernor, type LayerGovernorOptions, type ViewerLink } from './LayerGovernor.ts';
export { layerCounts, PROGRAM_VIDEO_PRIORITY, type VideoLayers } from './layers.ts';
export { reserveRtpPorts } from './localPorts.ts';
export { type Logger, silentLogger } from './logger.ts';
export { MEDIA_OBJECT_KINDS, MediaCensus, type MediaObjectCounts, type MediaObjectKind } from './MediaCensus.ts';
export { type MediaOptions, MediaService, type Seat, type SeatRequest } from './MediaService.ts';
export { PeerMedia, PeerMediaError, type PeerMediaErrorCode } from './PeerMedia.ts';
export { PlainTap, spatialLayersOf, type TappedTrack } from './PlainTap.ts';
export {
  PIPE_RTX_ENV,
  PIPE_RTX_MAX_AGE_AUTO,
  type PipeRtxMaxAge,
  pipeRtxWorkerEnv,
  withWorkerEnv,
} from './pipeRtxAge.ts';
export {
  type CommentaryChange,
  type PipeAnswer,
  type PipedDataProducer,
  type PipedProducer,
  type PipeEndpoint,
  PipeIn,
  type PipeListen,
  PipeOut,
} from './pipes.ts';
export { RECENT_SCORES, ScoreGate, type ScoreStats, type ScoreVerdict } from './ScoreGate.ts';
export { createViewerTransport, type StreamOutlet, type StreamOutletEvents } from './StreamOutlet.ts';
export {
  commentaryLanguage,
  DEFAULT_FANOUT_LINGER_MS,
  SCORE_SCTP_STREAM_ID,
  StreamRouter,
  type StreamRouterOptions,
  type TransportRequest,
} from './StreamRouter.ts';
export { buildAnswer } from './sdp/answer.ts';
export { MAX_SDP_BYTES, type ParsedOffer, parseOffer } from './sdp/offer.ts';
export {
  DEFAULT_SIMULCAST_MAX_LAYERS,
  type OfferedSimulcast,
  offeredSimulcast,
  REPAIRED_RID_URI,
  RID_URI,
  type SimulcastLayer,
} from './sdp/simulcast.ts';
export { DEFAULT_FEED_WINDOW, FeedPacer } from './stable/FeedPacer.ts';
export { PathMerge, type PathShare } from './stable/PathMerge.ts';
export { h264SpsSize, keyFramePictureSize, type PictureSize } from './stable/picture.ts';
export {
  DEFAULT_PROGRAM_OPTIONS,
  type ProgramOptions,
  type ProgramSource,
  type ProgramStatus,
  type SourceRole,
  type SwitchRecord,
} from './stable/programTypes.ts';
export { Splicer } from './stable/Splicer.ts';
export { StableLayer } from './stable/StableLayer.ts';
export { StableProgram } from './stable/StableProgram.ts';
export { type MergeReport, type SpliceInfo, STABLE_SSRC, StableTrack } from './stable/StableTrack.ts';
export type { LayerInfo, LayerOutput } from './stable/types.ts';
export { WhepSession } from './WhepSession.ts';
export { type WhipOptions, WhipSession } from './WhipSession.ts';
export {
  createRouterOn,
  DEFAULT_SOCKET_BUFFER_BYTES,
  type PooledWorker,
  socketBuffers,
  type WorkerLoad,
  type WorkerLogTag,
  WorkerPool,
  type WorkerPoolOptions,
} from './WorkerPool.ts';
