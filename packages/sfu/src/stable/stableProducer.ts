import type { types } from 'mediasoup';

/**
 * SSRCs of the stable producers inside a router (viewers' consumers pick their
 * own). Simulcast layer i of the video has STABLE_SSRC.video + i.
 */
export const STABLE_SSRC: Record<types.MediaKind, number> = { audio: 0x6d6d_0a01, video: 0x6d6d_0f01 };

/**
 * Default of mediasoup's `keyFrameRequestDelay` on the stable video producer
 * (`MM_KEYFRAME_REQUEST_INTERVAL_MS`): a request goes upstream at once, then
 * those arriving within this time are merged into one sent when it ends. The
 * origin agent's encoder honours every request it gets (a forced key frame),
 * so this is what bounds the forced key frames of a join storm: at most one
 * per interval per stream (1,000 joins in a second: about 2, not 1,000).
 * Per layer (per SSRC). 600 ms: measured on the origin's x264 (720p30,
 * 1.5 Mbit/s, 1 s GOP), a forced key frame every 300 / 500 / 600 / 800 ms
 * costs +12–13 / +9–12 / +8–9 / +1–4 % bitrate; 600 keeps a join storm
 * under the 10 % goal while a joining viewer waits at most 0.6 s behind
 * another's request (the first request after a quiet spell goes at once).
 */
export const KEY_FRAME_REQUEST_DELAY_MS = 600;

/** The stable producer of one media kind, with the codec it carries and its number of simulcast layers. */
export interface StableProducer {
  producer: types.Producer;
  codec: types.RtpCodecParameters;
  layerCount: number;
}

/**
 * Build the stable producer on the DirectTransport from the first source's
 * consumable parameters (codec as the router maps it, one encoding per
 * simulcast layer), with our SSRCs and no header extensions.
 */
export async function produceStable(
  transport: types.DirectTransport,
  first: types.Producer,
  appData: types.AppData,
  keyFrameIntervalMs: number,
): Promise<StableProducer> {
  const params = first.consumableRtpParameters;
  const codec = params.codecs.find((c) => !/\/rtx$/i.test(c.mimeType));
  if (!codec) throw new Error(`source ${first.id} has no media codec`);
  const sourceEncodings = params.encodings?.length ? params.encodings : [{}];
  const encodings: types.RtpEncodingParameters[] = sourceEncodings.map((e, i) => {
    const out: types.RtpEncodingParameters = { ssrc: STABLE_SSRC[first.kind] + i };
    if (sourceEncodings.length > 1) out.scalabilityMode = e.scalabilityMode ?? 'L1T1';
    if (e.maxBitrate !== undefined) out.maxBitrate = e.maxBitrate;
    return out;
  });
  const producer = await transport.produce({
    kind: first.kind,
    rtpParameters: {
      codecs: [{ ...codec, rtcpFeedback: codec.rtcpFeedback ?? [] }],
      headerExtensions: [],
      encodings,
      rtcp: { cname: `matchmesh-${String(appData.stream ?? 'stream')}`, reducedSize: true },
    },
    // Every viewer's key-frame request (PLI at join, after loss) on every worker of every
    // region funnels into this producer: at most one request per interval goes upstream.
    keyFrameRequestDelay: first.kind === 'video' ? keyFrameIntervalMs : 0,
    appData: { ...appData, stable: true, source: 'program' },
  });
  return { producer, codec, layerCount: encodings.length };
}
