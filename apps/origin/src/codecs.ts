import {
  RTCRtpCodecParameters,
  type RTCRtpHeaderExtensionParameters,
  useAbsSendTime,
  useFIR,
  useNACK,
  usePLI,
  useSdesMid,
  useSdesRTPStreamId,
} from 'werift';

/*
 * The one RTP configuration the origin publishes. Fixed values (rather than
 * whatever a stack picks) make the ingest's life and packet captures simple:
 * the same payload types and SSRCs appear in ffmpeg's output, in the WHIP
 * offer and on the wire, across every reconnect.
 */

export const VIDEO_PAYLOAD_TYPE = 102;
export const AUDIO_PAYLOAD_TYPE = 111;

/** 'MMV\x01' and 'MMA\x01': recognisable in a capture, constant across reconnects. */
export const VIDEO_SSRC = 0x4d4d5601;
export const AUDIO_SSRC = 0x4d4d4101;

export const VIDEO_CLOCK_RATE = 90_000;
export const AUDIO_CLOCK_RATE = 48_000;

/**
 * Constrained Baseline (42 e0) level 3.1 (1f): what every browser and
 * mediasoup's H.264 matching accept, and level 3.1 caps us at 1280x720@30,
 * which is exactly the pattern (external inputs are scaled to fit).
 */
export const H264_PROFILE_LEVEL_ID = '42e01f';
export const H264_FMTP = `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${H264_PROFILE_LEVEL_ID}`;
export const OPUS_FMTP = 'minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1';

/** Largest RTP packet ffmpeg may emit: leaves room for SRTP tag and header extensions under a 1280 MTU path. */
export const RTP_MAX_PACKET = 1200;

/** The H.264 fmtp at another level of Constrained Baseline (a ladder's top layer decides it). */
export function h264Fmtp(profileLevelId: string = H264_PROFILE_LEVEL_ID): string {
  return `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${profileLevelId}`;
}

export function videoCodec(profileLevelId: string = H264_PROFILE_LEVEL_ID): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: 'video/H264',
    clockRate: VIDEO_CLOCK_RATE,
    payloadType: VIDEO_PAYLOAD_TYPE,
    parameters: h264Fmtp(profileLevelId),
    // NACK is served from werift's send cache; PLI/FIR are only counted (the
    // encoder already sends a keyframe every second).
    rtcpFeedback: [useNACK(), usePLI(), useFIR()],
  });
}

export function audioCodec(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: 'audio/opus',
    clockRate: AUDIO_CLOCK_RATE,
    channels: 2,
    payloadType: AUDIO_PAYLOAD_TYPE,
    parameters: OPUS_FMTP,
    rtcpFeedback: [],
  });
}

/**
 * mid lets the SFU demux by m-line; abs-send-time feeds its bandwidth
 * estimator.
 *
 * werift numbers extensions by position over audio ++ video (`id = 1 + i`),
 * so two separate mid objects would get id 1 in the audio m-line and id 2 in
 * the video m-line. mediasoup reads the MID extension id per transport, not
 * per producer, so the id must be the same in every bundled m-line (RFC 8843
 * section 7.2.2 wants that too). Sharing ONE object makes werift assign it
 * twice and the last write (2) wins for both: mid=2, abs-send-time=3.
 *
 * With simulcast the video m-line also carries the RTP stream id (RFC 8852,
 * id 4): every packet of a layer names its rid, so the ingest tells the
 * layers apart by rid (its offer lists no SSRCs).
 */
export function headerExtensions(simulcast = false): {
  audio: RTCRtpHeaderExtensionParameters[];
  video: RTCRtpHeaderExtensionParameters[];
} {
  const mid = useSdesMid();
  return {
    audio: [mid],
    video: simulcast ? [mid, useAbsSendTime(), useSdesRTPStreamId()] : [mid, useAbsSendTime()],
  };
}

export const RTP_STREAM_ID_URI = 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id';
