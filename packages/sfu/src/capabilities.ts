import type { RtpCapabilities } from '@matchmesh/protocol';
import type { types } from 'mediasoup';

/**
 * Whether a peer's RTP capabilities were derived from this router's: a
 * mediasoup-client Device loaded with the router's capabilities answers a
 * subset of them, with the router's payload types and extension ids. A join
 * carrying capabilities from a Device loaded with another node's (different
 * codecs or a different mediasoup) would get consumers the browser cannot
 * map, so such a join is answered the step-by-step way instead. (mediasoup's
 * own canConsume matches codecs by name only, not by payload type.)
 */
export function capabilitiesFitRouter(peer: RtpCapabilities, router: types.RtpCapabilities): boolean {
  const codecs = peer.codecs ?? [];
  if (codecs.length === 0) return false;
  const codecFits = codecs.every((c) =>
    (router.codecs ?? []).some(
      (r) =>
        r.kind === c.kind &&
        r.preferredPayloadType === c.preferredPayloadType &&
        r.mimeType.toLowerCase() === c.mimeType.toLowerCase() &&
        r.clockRate === c.clockRate,
    ),
  );
  const extensionsFit = (peer.headerExtensions ?? []).every((e) =>
    (router.headerExtensions ?? []).some(
      (r) => r.kind === e.kind && r.uri === e.uri && r.preferredId === e.preferredId,
    ),
  );
  return codecFits && extensionsFit;
}
