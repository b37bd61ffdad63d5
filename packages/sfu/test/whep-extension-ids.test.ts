import path from 'node:path';
import type { types } from 'mediasoup';
import {
  generateRouterRtpCapabilities,
  getConsumableRtpParameters,
  getConsumerRtpParameters,
  getProducerRtpParametersMapping,
} from 'mediasoup/ortc';
import { parse } from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { MEDIA_CODECS } from '../src/codecs.ts';
import { buildAnswer } from '../src/sdp/answer.ts';
import { parseOffer } from '../src/sdp/offer.ts';
import { capabilitiesFromOffer, producerParametersFromOffer } from '../src/sdp/rtp.ts';
// @ts-expect-error: a dependency-free .mjs script without type declarations
import { patchMediasoupNodeLib } from '../worker-build/node-lib.mjs';

/**
 * A WHEP player's header-extension ids (worker-build node-lib patch 001 + recipe patch 002):
 * the consumer keeps the extensions the player offered *with the player's ids*, so the answer
 * repeats the offer's ids (Chromium refuses a reassignment) and the consumer has transport-cc.
 */

const TCC = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';
const ABS_SEND_TIME = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time';
const MID = 'urn:ietf:params:rtp-hdrext:sdes:mid';

const routerCaps = generateRouterRtpCapabilities(MEDIA_CODECS);

/** Debian Chromium's WHEP offer (addTransceiver('video'|'audio', {direction: 'recvonly'})), as it sends it. */
const CHROMIUM_WHEP_OFFER = [
  'v=0',
  'o=- 4215775240449105457 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS',
  'm=video 9 UDP/TLS/RTP/SAVPF 108 109',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:Jq4F',
  'a=ice-pwd:6cA1s+Zfl2cGq0nW4jSk9y7B',
  'a=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:toffset',
  `a=extmap:2 ${ABS_SEND_TIME}`,
  'a=extmap:3 urn:3gpp:video-orientation',
  `a=extmap:4 ${TCC}`,
  'a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
  'a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type',
  'a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing',
  'a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space',
  `a=extmap:9 ${MID}`,
  'a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
  'a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
  'a=recvonly',
  'a=rtcp-mux',
  'a=rtcp-rsize',
  'a=rtpmap:108 H264/90000',
  'a=rtcp-fb:108 goog-remb',
  'a=rtcp-fb:108 transport-cc',
  'a=rtcp-fb:108 ccm fir',
  'a=rtcp-fb:108 nack',
  'a=rtcp-fb:108 nack pli',
  'a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=rtpmap:109 rtx/90000',
  'a=fmtp:109 apt=108',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=mid:1',
  'a=extmap:14 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  `a=extmap:2 ${ABS_SEND_TIME}`,
  `a=extmap:4 ${TCC}`,
  `a=extmap:9 ${MID}`,
  'a=recvonly',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  '',
].join('\r\n');

/** What the program's video producer offers its consumers on a router (H.264 CB, the router's extension ids). */
function programVideo(): types.RtpParameters {
  const section = parse(
    [
      'v=0',
      'o=- 1 2 IN IP4 127.0.0.1',
      's=-',
      't=0 0',
      'm=video 9 UDP/TLS/RTP/SAVPF 102',
      'c=IN IP4 0.0.0.0',
      'a=mid:0',
      'a=sendonly',
      'a=rtpmap:102 H264/90000',
      'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      'a=ssrc:1111 cname:origin',
      '',
    ].join('\r\n'),
  ).media[0]!;
  const params = producerParametersFromOffer(section, '0', routerCaps);
  return getConsumableRtpParameters('video', params, routerCaps, getProducerRtpParametersMapping(params, routerCaps));
}

/** The player's capabilities for one section, with the one codec WhepSession picks (as planSection does). */
function playerCaps(index: number): types.RtpCapabilities {
  const caps = capabilitiesFromOffer(parseOffer(CHROMIUM_WHEP_OFFER).media[index]!.section);
  return { codecs: [caps.codecs![0]!], headerExtensions: caps.headerExtensions };
}

const idsOf = (params: types.RtpParameters) =>
  Object.fromEntries((params.headerExtensions ?? []).map((e) => [e.uri, e.id]));

describe("a WHEP consumer's header extensions", () => {
  it('are the ones both sides know, with the ids the player offered', () => {
    const consumable = programVideo();
    // The router's own ids differ from Chromium's: that is the case at hand.
    expect(idsOf(consumable)[TCC]).toBe(5);
    const consumer = getConsumerRtpParameters({
      consumableRtpParameters: consumable,
      remoteRtpCapabilities: playerCaps(0),
      pipe: false,
      enableRtx: false,
    });
    expect(idsOf(consumer)).toEqual({
      'urn:ietf:params:rtp-hdrext:toffset': 1,
      [ABS_SEND_TIME]: 2,
      'urn:3gpp:video-orientation': 3,
      [TCC]: 4,
      'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay': 5,
      [MID]: 9,
    });
    // transport-cc is negotiated, so the consumer's feedback is transport-cc (goog-remb reduced away):
    // the worker gives the transport its bandwidth estimator.
    const feedback = consumer.codecs[0]!.rtcpFeedback!.map((fb) => `${fb.type} ${fb.parameter ?? ''}`.trim());
    expect(feedback).toContain('transport-cc');
    expect(feedback).not.toContain('goog-remb');
  });

  it("are unchanged for a remote that uses the router's ids (mediasoup-client)", () => {
    const consumable = programVideo();
    const consumer = getConsumerRtpParameters({
      consumableRtpParameters: consumable,
      remoteRtpCapabilities: routerCaps,
      pipe: false,
      enableRtx: false,
    });
    expect(consumer.headerExtensions).toEqual(consumable.headerExtensions);
  });

  it('never give two extensions one id, whatever the remote claims', () => {
    const caps = playerCaps(0);
    // A malformed offer naming id 4 twice.
    caps.headerExtensions!.push({ kind: 'video', uri: ABS_SEND_TIME, preferredId: 4, direction: 'sendrecv' });
    caps.headerExtensions = caps.headerExtensions!.filter((e) => e.uri !== ABS_SEND_TIME || e.preferredId === 4);
    const consumer = getConsumerRtpParameters({
      consumableRtpParameters: programVideo(),
      remoteRtpCapabilities: caps,
      pipe: false,
      enableRtx: false,
    });
    const ids = consumer.headerExtensions!.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('are answered with the ids of the offer: no id names another extension than it did in the offer', () => {
    const offer = parseOffer(CHROMIUM_WHEP_OFFER);
    const consumer = getConsumerRtpParameters({
      consumableRtpParameters: programVideo(),
      remoteRtpCapabilities: playerCaps(0),
      pipe: false,
      enableRtx: false,
    });
    const answer = buildAnswer(
      offer,
      {
        iceParameters: { usernameFragment: 'msufrag', password: 'mspassword0123456789abcd', iceLite: true },
        iceCandidates: [],
        dtlsParameters: { role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB' }] },
      },
      [
        {
          kind: 'rtp',
          direction: 'sendonly',
          rtpParameters: consumer,
          send: { ssrc: 1234, cname: 'c', msid: 'm' },
        },
        { kind: 'rejected' },
      ],
    );
    const offered = new Map((offer.media[0]!.section.ext ?? []).map((e) => [e.value, e.uri]));
    const answered = parse(answer).media[0]!.ext ?? [];
    expect(answered.map((e) => `${e.value} ${e.uri}`)).toContain(`4 ${TCC}`);
    for (const e of answered) expect(offered.get(e.value)).toBe(e.uri);
  });
});

describe("mediasoup's Node library patches (worker-build/node-lib)", () => {
  it('are applied by the set-up, and applying them again changes nothing', () => {
    const mediasoupDir = path.resolve(import.meta.dirname, '../../../node_modules/mediasoup');
    expect(patchMediasoupNodeLib({ mediasoupDir })).toEqual(['001-ortc-extension-ids-by-uri.patch: already applied']);
  });
});
