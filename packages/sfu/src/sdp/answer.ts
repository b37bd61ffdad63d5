import { randomInt } from 'node:crypto';
import type { types } from 'mediasoup';
import * as sdpTransform from 'sdp-transform';
import type { MediaAttributes, MediaDescription, SessionDescription } from 'sdp-transform';
import type { OfferMedia, ParsedOffer } from './offer.ts';
import type { OfferedSimulcast } from './simulcast.ts';

/** What we answer for one offered m= section. */
export type AnsweredSection =
  | { kind: 'rejected' }
  | {
      kind: 'rtp';
      direction: 'recvonly' | 'sendonly';
      /** Codecs and header extensions to answer with (payload types = the offer's). */
      rtpParameters: types.RtpParameters;
      /** For sendonly: the SSRCs we will send with, announced so players can demux. */
      send?: { ssrc: number; rtxSsrc?: number; cname: string; msid: string };
      /** For a WHIP simulcast offer: answered `a=rid:<rid> recv` and `a=simulcast:recv <list>`. */
      simulcast?: OfferedSimulcast;
    }
  | { kind: 'sctp'; port: number; maxMessageSize: number };

export interface AnswerTransport {
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
}

function candidates(transport: AnswerTransport): NonNullable<MediaAttributes['candidates']> {
  return transport.iceCandidates.map((c) => {
    const line: NonNullable<MediaAttributes['candidates']>[number] = {
      foundation: c.foundation,
      component: 1,
      transport: c.protocol,
      priority: c.priority,
      ip: c.address,
      port: c.port,
      type: c.type,
    };
    if (c.tcpType) line.tcptype = c.tcpType;
    return line;
  });
}

function rtpSection(
  offered: OfferMedia,
  answered: Extract<AnsweredSection, { kind: 'rtp' }>,
): Partial<MediaDescription> {
  const p = answered.rtpParameters;
  const section: Partial<MediaDescription> = {
    rtp: [],
    fmtp: [],
    rtcpFb: [],
    ext: (p.headerExtensions ?? []).map((e) => ({ value: e.id, uri: e.uri })),
    direction: answered.direction,
    rtcpMux: 'rtcp-mux',
    payloads: p.codecs.map((c) => c.payloadType).join(' '),
  };
  if (offered.section.rtcpRsize !== undefined) section.rtcpRsize = 'rtcp-rsize';
  for (const codec of p.codecs) {
    const [, name] = codec.mimeType.split('/');
    const rtp: MediaAttributes['rtp'][number] = {
      payload: codec.payloadType,
      codec: name ?? codec.mimeType,
      rate: codec.clockRate,
    };
    if (codec.channels && codec.channels > 1) rtp.encoding = codec.channels;
    section.rtp!.push(rtp);
    const params = Object.entries(codec.parameters ?? {});
    if (params.length > 0) {
      section.fmtp!.push({ payload: codec.payloadType, config: params.map(([k, v]) => `${k}=${v}`).join(';') });
    }
    for (const fb of codec.rtcpFeedback ?? []) {
      const line: NonNullable<MediaAttributes['rtcpFb']>[number] = { payload: codec.payloadType, type: fb.type };
      if (fb.parameter) line.subtype = fb.parameter;
      section.rtcpFb!.push(line);
    }
  }
  if (answered.simulcast) {
    // Echo the rids (offered order) as recv, and the simulcast list as offered (paused ones stay paused).
    const offeredOrder = answered.simulcast.list.split(';').map((r) => r.replace(/^~/, ''));
    section.rids = offeredOrder.map((id) => ({ id, direction: 'recv' }));
    section.simulcast = { dir1: 'recv', list1: answered.simulcast.list };
  }
  if (answered.send) {
    const { ssrc, rtxSsrc, cname, msid } = answered.send;
    // sdp-transform 3 parses a=msid as a list of {id, appdata}.
    (section as { msid?: unknown }).msid = [{ id: msid, appdata: `${msid}-${offered.mid}` }];
    section.ssrcs = [{ id: ssrc, attribute: 'cname', value: cname }];
    if (rtxSsrc !== undefined) {
      section.ssrcs.push({ id: rtxSsrc, attribute: 'cname', value: cname });
      section.ssrcGroups = [{ semantics: 'FID', ssrcs: `${ssrc} ${rtxSsrc}` }];
    }
  }
  return section;
}

/**
 * Write the SDP answer for a WHIP/WHEP offer. mediasoup is ICE-lite and the
 * DTLS server, so the answer carries its ICE credentials, all its candidates
 * (the offerer may have sent none and will never trickle) and a=setup:passive.
 */
export function buildAnswer(offer: ParsedOffer, transport: AnswerTransport, answers: AnsweredSection[]): string {
  const fingerprint =
    transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ??
    transport.dtlsParameters.fingerprints[0]!;
  const bundled = offer.media.filter((_, i) => answers[i]?.kind !== 'rejected').map((m) => m.mid);

  const session: SessionDescription = {
    version: 0,
    origin: {
      username: 'matchmesh',
      sessionId: randomInt(1, 2 ** 47),
      sessionVersion: 1,
      netType: 'IN',
      ipVer: 4,
      address: '0.0.0.0',
    },
    name: '-',
    timing: { start: 0, stop: 0 },
    icelite: 'ice-lite',
    fingerprint: { type: fingerprint.algorithm, hash: fingerprint.value },
    msidSemantic: { semantic: 'WMS', token: '*' },
    groups: bundled.length > 0 ? [{ type: 'BUNDLE', mids: bundled.join(' ') }] : [],
    media: [],
  } as SessionDescription;

  for (const [i, offered] of offer.media.entries()) {
    const answered = answers[i] ?? { kind: 'rejected' as const };
    const base: Partial<MediaDescription> = {
      type: offered.section.type,
      protocol: offered.section.protocol,
      connection: { version: 4, ip: '0.0.0.0' },
      mid: offered.mid,
    };
    if (answered.kind === 'rejected') {
      session.media.push({
        ...base,
        port: 0,
        payloads: offered.section.payloads ?? '0',
        direction: 'inactive',
      } as MediaDescription);
      continue;
    }
    const common: Partial<MediaDescription> = {
      ...base,
      port: 9,
      iceUfrag: transport.iceParameters.usernameFragment,
      icePwd: transport.iceParameters.password,
      candidates: candidates(transport),
      endOfCandidates: 'end-of-candidates',
      setup: offer.setup === 'passive' ? 'active' : 'passive',
    };
    if (answered.kind === 'sctp') {
      session.media.push({
        ...common,
        payloads: 'webrtc-datachannel',
        sctpPort: answered.port,
        maxMessageSize: answered.maxMessageSize,
      } as MediaDescription);
    } else {
      session.media.push({ ...common, ...rtpSection(offered, answered) } as MediaDescription);
    }
  }
  return sdpTransform.write(session);
}
