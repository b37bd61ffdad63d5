import { generateRouterRtpCapabilities } from 'mediasoup/ortc';
import { parse } from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { MEDIA_CODECS } from '../src/codecs.ts';
import { MediaError } from '../src/errors.ts';
import { buildAnswer } from '../src/sdp/answer.ts';
import { parseOffer } from '../src/sdp/offer.ts';
import { producerParametersFromOffer } from '../src/sdp/rtp.ts';
import { offeredSimulcast, RID_URI } from '../src/sdp/simulcast.ts';

/**
 * Simulcast WHIP offers (RFC 8853 / 8851 / 8852) through the SDP bridge:
 * parsing the layers, the producer's encodings, the answer, and every kind
 * of bad input the mesh refuses with a typed 422.
 */

const routerCaps = generateRouterRtpCapabilities(MEDIA_CODECS);

/** A Chromium 13x offer for a WHIP publisher: addTransceiver(track, {direction: 'sendonly', sendEncodings: [q, h, f]}). */
const CHROMIUM_OFFER = [
  'v=0',
  'o=- 5736424153591744394 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Jq4F',
  'a=ice-pwd:6cA1s+Zfl2cGq0nW4jSk9y7B',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=sendonly',
  'a=msid:- 2a6c2b5e-8f1f-4f44-9d3a-3f1d2f0f6c11',
  'a=rtcp-mux',
  'a=rtcp-rsize',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'a=fmtp:63 111/111',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:13 CN/8000',
  'a=rtpmap:110 telephone-event/48000',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:3185243446 cname:Bq0Ihx9zsXzkGmWE',
  'a=ssrc:3185243446 msid:- 2a6c2b5e-8f1f-4f44-9d3a-3f1d2f0f6c11',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 45 46',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Jq4F',
  'a=ice-pwd:6cA1s+Zfl2cGq0nW4jSk9y7B',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E',
  'a=setup:actpass',
  'a=mid:1',
  'a=extmap:14 urn:ietf:params:rtp-hdrext:toffset',
  'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'a=extmap:13 urn:3gpp:video-orientation',
  'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
  'a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type',
  'a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing',
  'a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space',
  'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
  'a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
  'a=sendonly',
  'a=msid:- 9b7e6c0d-3c55-4a8e-bb43-0d5f1e2a7c90',
  'a=rtcp-mux',
  'a=rtcp-rsize',
  'a=rtpmap:96 VP8/90000',
  'a=rtcp-fb:96 goog-remb',
  'a=rtcp-fb:96 transport-cc',
  'a=rtcp-fb:96 ccm fir',
  'a=rtcp-fb:96 nack',
  'a=rtcp-fb:96 nack pli',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000',
  'a=rtcp-fb:102 goog-remb',
  'a=rtcp-fb:102 transport-cc',
  'a=rtcp-fb:102 ccm fir',
  'a=rtcp-fb:102 nack',
  'a=rtcp-fb:102 nack pli',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
  'a=rtpmap:103 rtx/90000',
  'a=fmtp:103 apt=102',
  'a=rtpmap:104 H264/90000',
  'a=rtcp-fb:104 goog-remb',
  'a=rtcp-fb:104 transport-cc',
  'a=rtcp-fb:104 ccm fir',
  'a=rtcp-fb:104 nack',
  'a=rtcp-fb:104 nack pli',
  'a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f',
  'a=rtpmap:105 rtx/90000',
  'a=fmtp:105 apt=104',
  'a=rtpmap:106 H264/90000',
  'a=rtcp-fb:106 goog-remb',
  'a=rtcp-fb:106 transport-cc',
  'a=rtcp-fb:106 ccm fir',
  'a=rtcp-fb:106 nack',
  'a=rtcp-fb:106 nack pli',
  'a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=rtpmap:107 rtx/90000',
  'a=fmtp:107 apt=106',
  'a=rtpmap:108 H264/90000',
  'a=rtcp-fb:108 goog-remb',
  'a=rtcp-fb:108 transport-cc',
  'a=rtcp-fb:108 ccm fir',
  'a=rtcp-fb:108 nack',
  'a=rtcp-fb:108 nack pli',
  'a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f',
  'a=rtpmap:109 rtx/90000',
  'a=fmtp:109 apt=108',
  'a=rtpmap:127 H264/90000',
  'a=rtcp-fb:127 goog-remb',
  'a=rtcp-fb:127 transport-cc',
  'a=rtcp-fb:127 ccm fir',
  'a=rtcp-fb:127 nack',
  'a=rtcp-fb:127 nack pli',
  'a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f',
  'a=rtpmap:125 rtx/90000',
  'a=fmtp:125 apt=127',
  'a=rtpmap:45 AV1/90000',
  'a=rtcp-fb:45 goog-remb',
  'a=rtcp-fb:45 transport-cc',
  'a=rtcp-fb:45 ccm fir',
  'a=rtcp-fb:45 nack',
  'a=rtcp-fb:45 nack pli',
  'a=fmtp:45 level-idx=5;profile=0;tier=0',
  'a=rtpmap:46 rtx/90000',
  'a=fmtp:46 apt=45',
  'a=rid:q send',
  'a=rid:h send',
  'a=rid:f send',
  'a=simulcast:send q;h;f',
  '',
].join('\r\n');

const TRANSPORT = {
  iceParameters: { usernameFragment: 'msufrag', password: 'mspassword0123456789abcd', iceLite: true },
  iceCandidates: [
    {
      foundation: 'udp',
      priority: 1076302079,
      ip: '127.0.0.1',
      address: '127.0.0.1',
      protocol: 'udp' as const,
      port: 44400,
      type: 'host' as const,
    },
  ],
  dtlsParameters: {
    role: 'auto' as const,
    fingerprints: [
      {
        algorithm: 'sha-256' as const,
        value: 'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99',
      },
    ],
  },
};

/** The origin-agent contract: one H.264 video m-section, rids with restrictions. */
function originOffer(
  o: { rids?: string[]; simulcast?: string; video?: string[]; kind?: 'video' | 'audio' } = {},
): string {
  const rids = o.rids ?? [
    'a=rid:l send max-width=320;max-height=180;max-fps=30',
    'a=rid:m send max-width=640;max-height=360;max-fps=30',
    'a=rid:h send max-width=1280;max-height=720;max-fps=30',
  ];
  const video = o.video ?? [
    'm=video 9 UDP/TLS/RTP/SAVPF 102 103',
    'c=IN IP4 0.0.0.0',
    'a=mid:0',
    'a=sendonly',
    'a=rtcp-mux',
    'a=rtpmap:102 H264/90000',
    'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    'a=rtcp-fb:102 nack',
    'a=rtcp-fb:102 nack pli',
    'a=rtpmap:103 rtx/90000',
    'a=fmtp:103 apt=102',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    `a=extmap:10 ${RID_URI}`,
    'a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
  ];
  return [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=ice-ufrag:abcd',
    'a=ice-pwd:0123456789abcdef01234567',
    'a=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E',
    'a=setup:actpass',
    ...video,
    ...rids,
    o.simulcast ?? 'a=simulcast:send l;m;h',
    '',
  ].join('\r\n');
}

function videoOf(sdp: string) {
  return parseOffer(sdp).media.find((m) => m.kind === 'video')!;
}

function refusal(f: () => unknown): MediaError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(MediaError);
    return err as MediaError;
  }
  throw new Error('not refused');
}

describe('simulcast offers', () => {
  it("takes Chromium's own offer: three rids in sendEncodings order, the rid and repaired-rid extensions, and answers recv", () => {
    const offer = parseOffer(CHROMIUM_OFFER);
    const video = offer.media[1]!;
    const simulcast = offeredSimulcast(video.section, 3)!;
    expect(simulcast.layers.map((l) => l.rid)).toEqual(['q', 'h', 'f']);
    expect(offeredSimulcast(offer.media[0]!.section, 3)).toBeUndefined();
    const params = producerParametersFromOffer(video.section, video.mid, routerCaps, simulcast);
    // Chromium lists VP8 first; VP8 simulcast from Chromium carries three temporal layers.
    expect(params.codecs[0]!.mimeType).toBe('video/VP8');
    expect(params.encodings).toEqual([
      { rid: 'q', scalabilityMode: 'L1T3' },
      { rid: 'h', scalabilityMode: 'L1T3' },
      { rid: 'f', scalabilityMode: 'L1T3' },
    ]);
    const uris = params.headerExtensions!.map((e) => `${e.id} ${e.uri}`);
    expect(uris).toContain(`10 ${RID_URI}`);
    expect(uris).toContain('11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id');

    const answer = buildAnswer(offer, TRANSPORT, [
      { kind: 'rejected' },
      { kind: 'rtp', direction: 'recvonly', rtpParameters: params, simulcast },
    ]);
    const section = parse(answer).media[1]!;
    expect(section.rids).toEqual([
      { id: 'q', direction: 'recv' },
      { id: 'h', direction: 'recv' },
      { id: 'f', direction: 'recv' },
    ]);
    expect(section.simulcast).toMatchObject({ dir1: 'recv', list1: 'q;h;f' });
    expect(answer).toContain(`a=extmap:10 ${RID_URI}\r\n`);
    expect(answer).toContain('a=rid:q recv\r\n');
    expect(answer).toContain('a=simulcast:recv q;h;f\r\n');
  });

  it("orders the origin's layers by max-height (lowest first) and reads their restrictions", () => {
    const sdp = originOffer({
      rids: [
        'a=rid:hi send max-width=1920;max-height=1080;max-fps=60;max-br=4500000',
        'a=rid:lo send max-width=640;max-height=360;max-fps=30',
        'a=rid:mid send max-width=1280;max-height=720;max-fps=60',
      ],
      simulcast: 'a=simulcast:send hi;lo;mid',
    });
    const simulcast = offeredSimulcast(videoOf(sdp).section, 3)!;
    expect(simulcast.layers).toEqual([
      { rid: 'lo', paused: false, maxWidth: 640, maxHeight: 360, maxFps: 30 },
      { rid: 'mid', paused: false, maxWidth: 1280, maxHeight: 720, maxFps: 60 },
      { rid: 'hi', paused: false, maxWidth: 1920, maxHeight: 1080, maxFps: 60, maxBitrate: 4_500_000 },
    ]);
    const params = producerParametersFromOffer(videoOf(sdp).section, '0', routerCaps, simulcast);
    expect(params.encodings).toEqual([
      { rid: 'lo', scalabilityMode: 'L1T1' },
      { rid: 'mid', scalabilityMode: 'L1T1' },
      { rid: 'hi', scalabilityMode: 'L1T1', maxBitrate: 4_500_000 },
    ]);
    // Without max-height on every layer: the listed order; a paused (~) layer is kept.
    const listed = offeredSimulcast(
      videoOf(originOffer({ rids: ['a=rid:b send', 'a=rid:a send max-height=90'], simulcast: 'a=simulcast:send b;~a' }))
        .section,
      3,
    )!;
    expect(listed.layers.map((l) => [l.rid, l.paused])).toEqual([
      ['b', false],
      ['a', true],
    ]);
  });

  it('leaves a plain single-layer offer exactly as before', () => {
    const sdp = originOffer({ rids: [], simulcast: 'a=ssrc:1234 cname:obs' });
    const video = videoOf(sdp);
    expect(offeredSimulcast(video.section, 3)).toBeUndefined();
    const params = producerParametersFromOffer(video.section, video.mid, routerCaps);
    expect(params.encodings).toEqual([{ ssrc: 1234 }]);
    const answer = buildAnswer(parseOffer(sdp), TRANSPORT, [
      { kind: 'rtp', direction: 'recvonly', rtpParameters: params },
    ]);
    expect(answer).not.toMatch(/a=rid|a=simulcast/);
  });

  it('refuses bad simulcast with a typed 422 that names what is accepted', () => {
    const cases: [string, string, RegExp][] = [
      [
        'four layers, three configured',
        originOffer({
          rids: ['a=rid:a send', 'a=rid:b send', 'a=rid:c send', 'a=rid:d send'],
          simulcast: 'a=simulcast:send a;b;c;d',
        }),
        /4 simulcast layers; this node takes at most 3/,
      ],
      ['an unknown rid', originOffer({ simulcast: 'a=simulcast:send l;m;x' }), /unknown rid "x"/],
      [
        'a malformed rid',
        originOffer({ rids: ['a=rid:l.1 send', 'a=rid:m send'], simulcast: 'a=simulcast:send m' }),
        /malformed rid "l\.1"/,
      ],
      [
        'a rid too long',
        originOffer({ rids: ['a=rid:abcdefghijklmnopq send'], simulcast: 'a=simulcast:send abcdefghijklmnopq' }),
        /malformed rid/,
      ],
      [
        'a restriction that is not a number',
        originOffer({
          rids: ['a=rid:l send max-width=wide;max-height=180', 'a=rid:m send', 'a=rid:h send'],
        }),
        /"max-width=wide" is not a positive number/,
      ],
      [
        'a negative restriction',
        originOffer({ rids: ['a=rid:l send max-fps=-30', 'a=rid:m send', 'a=rid:h send'] }),
        /max-fps=-30/,
      ],
      [
        'simulcast on audio',
        originOffer({
          video: [
            'm=audio 9 UDP/TLS/RTP/SAVPF 111',
            'c=IN IP4 0.0.0.0',
            'a=mid:0',
            'a=sendonly',
            'a=rtpmap:111 opus/48000/2',
            `a=extmap:10 ${RID_URI}`,
          ],
        }),
        /simulcast on m=audio is not supported/,
      ],
      ['rids without a=simulcast', originOffer({ simulcast: 'a=x-nothing' }), /a=rid without a=simulcast/],
      ['a recv simulcast in a WHIP offer', originOffer({ simulcast: 'a=simulcast:recv l;m;h' }), /must only send/],
      ['a rid listed twice', originOffer({ simulcast: 'a=simulcast:send l;l' }), /listed twice/],
      ['alternatives', originOffer({ simulcast: 'a=simulcast:send l,m;h' }), /alternative rids/],
      [
        'no rid header extension',
        originOffer({
          video: [
            'm=video 9 UDP/TLS/RTP/SAVPF 102',
            'c=IN IP4 0.0.0.0',
            'a=mid:0',
            'a=sendonly',
            'a=rtpmap:102 H264/90000',
          ],
        }),
        /needs the urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id header extension/,
      ],
    ];
    for (const [what, sdp, message] of cases) {
      const media = parseOffer(sdp).media[0]!;
      const err = refusal(() => offeredSimulcast(media.section, 3));
      expect(err.code, what).toBe('bad_simulcast');
      expect(err.status, what).toBe(422);
      expect(err.message, what).toMatch(message);
      expect(err.message, what).toMatch(/accepted: one video m-section with "a=simulcast:send/);
    }
    // The same four layers pass when four are configured.
    const four = originOffer({
      rids: ['a=rid:a send', 'a=rid:b send', 'a=rid:c send', 'a=rid:d send'],
      simulcast: 'a=simulcast:send a;b;c;d',
    });
    expect(offeredSimulcast(videoOf(four).section, 4)!.layers).toHaveLength(4);
  });
});
