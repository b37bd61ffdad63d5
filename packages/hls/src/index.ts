/**
 * @matchmesh/hls — LL-HLS packaging of a stream's program on one node:
 * PlainTap → RtpRelay → ffmpeg → fMP4 parts and segments on disk, playlists,
 * and the score log that dates scores on the HLS timeline. It takes streams
 * from @matchmesh/sfu (StreamRouter, PlainTap) and knows nothing of HTTP,
 * Redis or the mesh: the node's routes serve what it produces.
 */
export {
  AudioRendition,
  AudioRenditions,
  type AudioTimelineView,
  audioFolder,
  languageName,
  VENUE_ONLY_NAME,
} from './AudioRenditions.ts';
export { initWithoutTrack, mediaWithoutTrack } from './demux.ts';
export {
  buildPackagerSdp,
  FfmpegPackager,
  PACKAGER_TS_OFFSET_S,
  type PackagerOutput,
  type PackagerTrack,
  packagerArgs,
  reserveRtpPorts,
} from './FfmpegPackager.ts';
export {
  type Box,
  childBoxes,
  Fmp4Splitter,
  type Fragment,
  type InitSegment,
  parseMoof,
  parseMoov,
  shiftFragment,
  type TrackInfo,
  type TrackRun,
} from './fmp4.ts';
export { type HlsConfig, HlsService, type HlsServiceOptions } from './HlsService.ts';
export { type HlsSource, HlsStream, type HlsStreamOptions } from './HlsStream.ts';
export {
  AUDIO_GROUP_ID,
  type AudioRenditionInfo,
  canSkipUntil,
  type MediaPlaylistInput,
  renderMediaPlaylist,
  renderMultivariant,
  type VariantInfo,
} from './playlist.ts';
export { Rendition } from './Rendition.ts';
export { isH264KeyFrameStart, type RelayTarget, RtpRelay, rtpPayloadOffset } from './RtpRelay.ts';
export { ScoreLog } from './ScoreLog.ts';
export {
  FIRST_MSN,
  type FragmentIn,
  type Part,
  type Segment,
  SegmentStore,
  type SegmentStoreOptions,
} from './SegmentStore.ts';
