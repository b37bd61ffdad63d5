import type { types } from 'mediasoup';

/**
 * The codecs every matchmesh router offers. H.264 constrained baseline first:
 * the HLS fallback copies video without transcoding and every browser decodes
 * it; VP8 stays available for WebRTC-only publishers (e.g. a commentator's
 * camera). Opus for audio.
 */
export const MEDIA_CODECS: types.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: {
      'packetization-mode': 1,
      'profile-level-id': '42e01f',
      'level-asymmetry-allowed': 1,
    },
  },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: {
      'packetization-mode': 1,
      'profile-level-id': '4d001f',
      'level-asymmetry-allowed': 1,
    },
  },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];
