import type { types } from 'mediasoup';
import * as ortc from 'mediasoup/ortc';
import type { MediaDescription } from 'sdp-transform';
import { parseParams } from 'sdp-transform';
import { MediaError } from '../errors.ts';
import { h264Refusal } from './h264-profile.ts';
import type { OfferedSimulcast } from './simulcast.ts';

/**
 * The bridge between an SDP m= section and mediasoup's RTP parameters.
 * Payload types and header-extension ids are the offerer's own: a producer
 * keeps them (mediasoup maps them onto the router's), and a WHEP answer must
 * repeat them.
 */

export interface OfferedCodec {
  payloadType: number;
  mimeType: string;
  clockRate: number;
  channels?: number;
  parameters: Record<string, string | number>;
  rtcpFeedback: types.RtcpFeedback[];
  /** Payload type of the RTX codec bound to this one (a=fmtp:X apt=PT). */
  rtxPayloadType?: number;
}

/** Every media codec of a section (RTX/RED/FEC are folded away or dropped). */
export function offeredCodecs(section: MediaDescription): OfferedCodec[] {
  const kind = section.type;
  const fmtpOf = (pt: number): Record<string, string | number> => {
    const line = section.fmtp.find((f) => f.payload === pt);
    return line ? (parseParams(line.config) as Record<string, string | number>) : {};
  };
  const feedbackOf = (pt: number): types.RtcpFeedback[] =>
    (section.rtcpFb ?? [])
      .filter((fb) => fb.payload === pt || fb.payload === '*' || String(fb.payload) === String(pt))
      .map((fb) => ({ type: fb.type, parameter: fb.subtype ?? '' }));

  const codecs: OfferedCodec[] = [];
  for (const rtp of section.rtp ?? []) {
    const name = String(rtp.codec);
    const lower = name.toLowerCase();
    if (lower === 'rtx' || lower === 'red' || lower === 'ulpfec' || lower === 'flexfec-03') continue;
    if (!Number.isInteger(rtp.payload) || rtp.payload < 0 || rtp.payload > 127) continue;
    const codec: OfferedCodec = {
      payloadType: rtp.payload,
      mimeType: `${kind}/${name}`,
      clockRate: Number(rtp.rate ?? 0),
      parameters: fmtpOf(rtp.payload),
      rtcpFeedback: feedbackOf(rtp.payload),
    };
    if (kind === 'audio') codec.channels = Number(rtp.encoding ?? 1);
    codecs.push(codec);
  }
  // Bind RTX payload types to their media codec.
  for (const rtp of section.rtp ?? []) {
    if (String(rtp.codec).toLowerCase() !== 'rtx') continue;
    const apt = Number(fmtpOf(rtp.payload).apt);
    const target = codecs.find((c) => c.payloadType === apt);
    if (target) target.rtxPayloadType = rtp.payload;
  }
  return codecs;
}

/** Header extensions of the section that the router understands, with the offer's ids. */
export function supportedHeaderExtensions(
  section: MediaDescription,
  routerCaps: types.RtpCapabilities,
): types.RtpHeaderExtensionParameters[] {
  const kind = section.type;
  return (section.ext ?? [])
    .filter((ext) => (routerCaps.headerExtensions ?? []).some((cap) => cap.kind === kind && cap.uri === ext.uri))
    .map((ext) => ({ uri: ext.uri as types.RtpHeaderExtensionUri, id: ext.value }));
}

function toCodecParameters(codec: OfferedCodec): types.RtpCodecParameters[] {
  const main: types.RtpCodecParameters = {
    mimeType: codec.mimeType,
    payloadType: codec.payloadType,
    clockRate: codec.clockRate,
    parameters: codec.parameters,
    rtcpFeedback: codec.rtcpFeedback,
  };
  if (codec.channels !== undefined) main.channels = codec.channels;
  const out = [main];
  if (codec.rtxPayloadType !== undefined) {
    out.push({
      mimeType: `${codec.mimeType.split('/')[0]}/rtx`,
      payloadType: codec.rtxPayloadType,
      clockRate: codec.clockRate,
      parameters: { apt: codec.payloadType },
      rtcpFeedback: [],
    });
  }
  return out;
}

/** SSRCs the offerer announced: the media SSRC, its RTX twin, and the CNAME. */
function announcedSsrcs(section: MediaDescription): { ssrc?: number; rtxSsrc?: number; cname?: string } {
  const fid = (section.ssrcGroups ?? []).find((g) => g.semantics === 'FID');
  if (fid) {
    // sdp-transform turns a lone numeric value ("a=ssrc-group:FID 2222") into a number.
    const [ssrc, rtxSsrc] = String(fid.ssrcs).split(' ').map(Number);
    const cname = section.ssrcs?.find((s) => s.id === ssrc && s.attribute === 'cname')?.value;
    return { ssrc, rtxSsrc, cname: cname === undefined ? undefined : String(cname) };
  }
  const first = section.ssrcs?.[0];
  if (!first) return {};
  const cname = section.ssrcs?.find((s) => s.id === first.id && s.attribute === 'cname')?.value;
  return { ssrc: Number(first.id), cname: cname === undefined ? undefined : String(cname) };
}

/**
 * Build Producer RTP parameters for a sending m= section (WHIP). Tries the
 * offered codecs in the offerer's order and keeps the first one the router
 * accepts, judged by mediasoup's own ortc rules (H.264 profile matching and
 * all), so we never second-guess codec compatibility by hand.
 */
export function producerParametersFromOffer(
  section: MediaDescription,
  mid: string,
  routerCaps: types.RtpCapabilities,
  simulcast?: OfferedSimulcast,
): types.RtpParameters {
  const headerExtensions = supportedHeaderExtensions(section, routerCaps);
  const { ssrc, rtxSsrc, cname } = announcedSsrcs(section);
  const encoding: types.RtpEncodingParameters = {};
  if (ssrc !== undefined && Number.isInteger(ssrc)) {
    encoding.ssrc = ssrc;
    if (rtxSsrc !== undefined && Number.isInteger(rtxSsrc)) encoding.rtx = { ssrc: rtxSsrc };
  }
  const offered = offeredCodecs(section);
  for (const codec of offered) {
    const params: types.RtpParameters = {
      mid,
      codecs: toCodecParameters(codec),
      headerExtensions,
      encodings: simulcast ? simulcastEncodings(simulcast, codec.mimeType) : [encoding],
      rtcp: { cname: cname ?? mid, reducedSize: section.rtcpRsize !== undefined },
    };
    try {
      ortc.getProducerRtpParametersMapping(structuredClone(params), routerCaps);
      return params;
    } catch {
      // Not acceptable to the router; try the next offered codec.
    }
  }
  // An H.264 the router cannot take (High, packetization-mode 0): say which profiles to publish.
  const h264 = h264Refusal(offered);
  if (h264 !== undefined) throw new MediaError('unsupported_media', h264);
  const names = [...new Set(offered.map((c) => c.mimeType))].join(', ') || 'none';
  throw new MediaError(
    'unsupported_media',
    `no acceptable ${section.type} codec in m=${section.type} (offered: ${names}; accepted: H.264 packetization-mode 1 baseline/main, VP8, Opus)`,
  );
}

/**
 * One encoding per simulcast layer, lowest first, told apart by rid (the
 * offerer announces no SSRCs for them). VP8 from Chromium carries three
 * temporal layers in each (declared, or mediasoup would forward only the
 * base one); H.264 is taken as one temporal layer.
 */
function simulcastEncodings(simulcast: OfferedSimulcast, mimeType: string): types.RtpEncodingParameters[] {
  const scalabilityMode = mimeType.toLowerCase() === 'video/vp8' ? 'L1T3' : 'L1T1';
  return simulcast.layers.map((layer) => {
    const e: types.RtpEncodingParameters = { rid: layer.rid, scalabilityMode };
    if (layer.maxBitrate !== undefined) e.maxBitrate = layer.maxBitrate;
    return e;
  });
}

/**
 * RTP capabilities of a receiving m= section (WHEP), expressed with the
 * offer's payload types and header-extension ids, so mediasoup's consumer
 * parameters can be checked against what the player can decode.
 */
export function capabilitiesFromOffer(section: MediaDescription): types.RtpCapabilities {
  const kind = section.type as types.MediaKind;
  const codecs: types.RtpCodecCapability[] = [];
  for (const c of offeredCodecs(section)) {
    const cap: types.RtpCodecCapability = {
      kind,
      mimeType: c.mimeType,
      preferredPayloadType: c.payloadType,
      clockRate: c.clockRate,
      parameters: c.parameters,
      rtcpFeedback: c.rtcpFeedback,
    };
    if (c.channels !== undefined) cap.channels = c.channels;
    codecs.push(cap);
  }
  const headerExtensions: types.RtpHeaderExtension[] = (section.ext ?? []).map((ext) => ({
    kind,
    uri: ext.uri as types.RtpHeaderExtensionUri,
    preferredId: ext.value,
    direction: 'sendrecv',
  }));
  return { codecs, headerExtensions };
}
