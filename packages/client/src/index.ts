/**
 * @matchmesh/client — browser library for watching a matchmesh stream.
 *
 * - SignalingClient: the `/ws` request/response + notification protocol.
 * - WebRtcSession: one WebRTC connection to one node (media + score DataChannel).
 * - ScoreFeed: ordered, de-duplicated score updates with media-time lookup.
 * - ScreenScore: the score of the frame on screen (never ahead of the picture).
 * - Player: orchestrates playback paths (WebRTC today; TCP/HLS ladder later).
 */

export {
  levelDbfs,
  type MuteStore,
  microphoneErrorText,
  type OnAirLight,
  onAirLight,
  PushToTalk,
  SPEAKING_DBFS,
  speaking,
  TalkbackMutes,
  type TalkMode,
  voiceLive,
} from './boothControls.ts';
export {
  CommentaryPublisher,
  type CommentaryPublisherEvents,
  type CommentaryPublisherOptions,
  type CommentaryState,
} from './CommentaryPublisher.ts';
export {
  COMMENTARY_PLAYOUT_MS,
  programPlayoutMs,
  RecentAverage,
  ViewDelayMeter,
  viewDelayOf,
} from './commentaryAlignment.ts';
export { TypedEmitter, type Unsubscribe } from './emitter.ts';
export {
  SignalingClientError,
  SignalingClosedError,
  SignalingProtocolError,
  SignalingRequestError,
  SignalingTimeoutError,
} from './errors.ts';
export { HLS_JS_CONFIG } from './hlsConfig.ts';
export type { HlsClockState } from './hlsStreamClock.ts';
export {
  choose,
  edgeUrls,
  type FreshLoad,
  fetchEdges,
  type Placement,
  type PlacementReason,
  type PlaceOptions,
  place,
  probeRegions,
  probeRelays,
} from './Placement.ts';
export {
  Player,
  type PlayerEvents,
  type PlayerOptions,
  type PlayerPath,
  type PlayerStateChange,
  type PlayerStats,
  type RetryOptions,
} from './Player.ts';
export { layerLabel, maxLayerFor, type Quality } from './quality.ts';
export {
  platformOf,
  type RecordedPlayer,
  ReportError,
  ReportRecorder,
  type ReportRecorderOptions,
  sendProblemReport,
} from './ReportRecorder.ts';
export { type ReceivedScore, ScoreFeed, type ScoreFeedOptions, type ScorePushResult } from './ScoreFeed.ts';
export { type FrameMediaTime, rtpMediaTime, ScreenScore, type ScreenScoreEvents } from './ScreenScore.ts';
export { SessionError, SessionKeeper, type SessionKeeperEvents } from './SessionKeeper.ts';
export {
  SignalingClient,
  type SignalingClientEvents,
  type SignalingClientOptions,
  type SignalingClientState,
  type SignalingCloseInfo,
  type SignalingRequestInput,
  type SignalingResponseData,
  signalingUrl,
  type WebSocketConstructor,
} from './SignalingClient.ts';
export { balanceGains, SoundMix, type SoundTrack } from './SoundMix.ts';
export { Talkback, type TalkbackEvents, type TalkbackTrack } from './Talkback.ts';
export { TalkbackPlayout } from './TalkbackPlayout.ts';
export {
  type SessionState,
  type SessionStateChange,
  type SessionStats,
  summarizeStats,
  type VideoLayers,
  WebRtcSession,
  type WebRtcSessionEvents,
  type WebRtcSessionOptions,
} from './WebRtcSession.ts';
export { loadDevice, warmUpDevice } from './warmDevice.ts';
