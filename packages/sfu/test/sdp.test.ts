import { generateRouterRtpCapabilities } from 'mediasoup/ortc';
import { parse } from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { MEDIA_CODECS } from '../src/codecs.ts';
import { producerParametersFromOffer } from '../src/sdp/rtp.ts';

const routerCaps = generateRouterRtpCapabilities(MEDIA_CODECS);

function videoSection(extra: string[]) {
  const sdp = [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'm=video 9 UDP/TLS/RTP/SAVPF 102 103',
    'c=IN IP4 0.0.0.0',
    'a=mid:1',
    'a=sendonly',
    'a=rtpmap:102 H264/90000',
    'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    'a=rtpmap:103 rtx/90000',
    'a=fmtp:103 apt=102',
    ...extra,
    '',
  ].join('\r\n');
  return parse(sdp).media[0]!;
}

describe('producerParametersFromOffer', () => {
  it('takes the media and RTX SSRCs from the FID group', () => {
    const params = producerParametersFromOffer(
      videoSection(['a=ssrc-group:FID 2222 3333', 'a=ssrc:2222 cname:c', 'a=ssrc:3333 cname:c']),
      '1',
      routerCaps,
    );
    expect(params.encodings).toEqual([{ ssrc: 2222, rtx: { ssrc: 3333 } }]);
    expect(params.rtcp?.cname).toBe('c');
    expect(params.codecs.map((c) => c.mimeType)).toEqual(['video/H264', 'video/rtx']);
  });

  // Found by the fuzzer (case 2208 of seed 20261125): sdp-transform hands a
  // one-SSRC group over as a number, and the node answered 500.
  it('accepts an FID group with a single SSRC', () => {
    const params = producerParametersFromOffer(
      videoSection(['a=ssrc-group:FID 2222', 'a=ssrc:2222 cname:c']),
      '1',
      routerCaps,
    );
    expect(params.encodings).toEqual([{ ssrc: 2222 }]);
  });
});
