import { generateRouterRtpCapabilities } from 'mediasoup/ortc';
import { parse } from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { MEDIA_CODECS } from '../src/codecs.ts';
import { MediaError } from '../src/errors.ts';
import { h264ProfileName } from '../src/sdp/h264-profile.ts';
import { producerParametersFromOffer } from '../src/sdp/rtp.ts';

const routerCaps = generateRouterRtpCapabilities(MEDIA_CODECS);

/** A one-codec H.264 video section with the given fmtp. */
function h264Section(fmtp: string) {
  const sdp = [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'c=IN IP4 0.0.0.0',
    'a=mid:0',
    'a=sendonly',
    'a=rtpmap:96 H264/90000',
    `a=fmtp:96 ${fmtp}`,
    '',
  ].join('\r\n');
  return parse(sdp).media[0]!;
}

/** The refusal producerParametersFromOffer raises for a section (fails the test if it accepts it). */
function refusal(fmtp: string): MediaError {
  try {
    producerParametersFromOffer(h264Section(fmtp), '0', routerCaps);
  } catch (err) {
    if (err instanceof MediaError) return err;
    throw err;
  }
  throw new Error(`accepted ${fmtp}`);
}

describe('H.264 profiles', () => {
  it('names profiles from profile-level-id', () => {
    expect(h264ProfileName('42e01f')).toBe('Constrained Baseline');
    expect(h264ProfileName('42001f')).toBe('Baseline');
    expect(h264ProfileName('4d001f')).toBe('Main');
    expect(h264ProfileName('640c1f')).toBe('High');
    expect(h264ProfileName('64001f')).toBe('High');
    expect(h264ProfileName('f4001f')).toBe('High 4:4:4 Predictive');
    expect(h264ProfileName('zz')).toBeUndefined();
  });

  it('accepts OBS-style Constrained Baseline, and Main, with packetization-mode=1', () => {
    for (const pli of ['42e01f', '4d001f']) {
      const params = producerParametersFromOffer(
        h264Section(`profile-level-id=${pli};packetization-mode=1;level-asymmetry-allowed=1`),
        '0',
        routerCaps,
      );
      expect(params.codecs[0]!.parameters).toMatchObject({ 'profile-level-id': pli });
    }
  });

  it('refuses H.264 High with 422 naming the profiles to publish instead', () => {
    const err = refusal('profile-level-id=640c1f;packetization-mode=1;level-asymmetry-allowed=1');
    expect(err.status).toBe(422);
    expect(err.code).toBe('unsupported_media');
    expect(err.message).toBe(
      'H.264 High (640c1f) is not supported: publish Constrained Baseline 42e01f or Main 4d001f (packetization-mode=1)',
    );
    expect(refusal('profile-level-id=64001f;packetization-mode=1').message).toMatch(/^H\.264 High \(64001f\) is not/);
  });

  // mediasoup matches profiles exactly: plain Baseline (no constraint_set1) is not Constrained Baseline.
  it('refuses plain Baseline 42001f, naming Constrained Baseline', () => {
    expect(refusal('profile-level-id=42001f;packetization-mode=1').message).toBe(
      'H.264 Baseline (42001f) is not supported: publish Constrained Baseline 42e01f or Main 4d001f (packetization-mode=1)',
    );
  });

  it('names packetization-mode 0 as the reason when the profile itself would do', () => {
    expect(refusal('profile-level-id=42e01f;packetization-mode=0').message).toBe(
      'H.264 Constrained Baseline (42e01f) with packetization-mode=0 is not supported: publish Constrained Baseline 42e01f or Main 4d001f (packetization-mode=1)',
    );
  });
});
