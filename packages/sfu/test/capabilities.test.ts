import { describe, expect, it } from 'vitest';
import { capabilitiesFitRouter } from '../src/capabilities.ts';

const router = {
  codecs: [
    { kind: 'audio' as const, mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: 100 },
    { kind: 'video' as const, mimeType: 'video/H264', clockRate: 90000, preferredPayloadType: 101 },
    { kind: 'video' as const, mimeType: 'video/rtx', clockRate: 90000, preferredPayloadType: 102 },
  ],
  headerExtensions: [
    { kind: 'video' as const, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' as const, preferredId: 1 },
    { kind: 'audio' as const, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' as const, preferredId: 1 },
  ],
};

describe('capabilitiesFitRouter', () => {
  it("takes a Device's subset of the router's own capabilities (case of the mime type aside)", () => {
    const peer = {
      codecs: [{ ...router.codecs[1]!, mimeType: 'video/h264' }, router.codecs[0]!],
      headerExtensions: [router.headerExtensions[0]!],
    };
    expect(capabilitiesFitRouter(peer, router)).toBe(true);
  });

  it('refuses capabilities from another router: other payload types, extension ids, or none at all', () => {
    const shifted = { codecs: router.codecs.map((c) => ({ ...c, preferredPayloadType: c.preferredPayloadType + 1 })) };
    expect(capabilitiesFitRouter(shifted, router)).toBe(false);
    const otherExt = {
      codecs: [router.codecs[0]!],
      headerExtensions: [{ ...router.headerExtensions[1]!, preferredId: 9 }],
    };
    expect(capabilitiesFitRouter(otherExt, router)).toBe(false);
    expect(capabilitiesFitRouter({ codecs: [] }, router)).toBe(false);
    expect(capabilitiesFitRouter({}, router)).toBe(false);
  });
});
