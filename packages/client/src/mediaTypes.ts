import type { RtpCapabilities, RtpHeaderExtensionUri, RtpParameters } from '@matchmesh/protocol';
import type { types as ms } from 'mediasoup-client';

/*
 * The signaling schemas (@matchmesh/protocol, rtc-params.ts) type mediasoup's
 * parameters so that mediasoup-client takes them as they are, validated on
 * arrival by SignalingClient. All but one detail: mediasoup-client 3.24's
 * RtpHeaderExtensionUri lacks 'urn:ietf:params:rtp-hdrext:toffset', which a
 * mediasoup router offers. mediasoup-client matches header extensions by their
 * URI string at run time, so it handles toffset like any other; only its type
 * list lags. The two functions below narrow that one field, so the compiler
 * still checks the rest of the shape. packages/client/test/wire-params.test.ts
 * checks that toffset is the only URI concerned: when mediasoup-client learns
 * it, that test fails and this file can go.
 */

function clientUri(uri: RtpHeaderExtensionUri): ms.RtpHeaderExtensionUri {
  return uri as ms.RtpHeaderExtensionUri;
}

/** A router's RTP capabilities (the join answer), as mediasoup-client's Device.load() takes them. */
export function clientRtpCapabilities(caps: RtpCapabilities): ms.RtpCapabilities {
  const { headerExtensions, ...rest } = caps;
  if (!headerExtensions) return rest;
  return { ...rest, headerExtensions: headerExtensions.map((ext) => ({ ...ext, uri: clientUri(ext.uri) })) };
}

/** A consumer's RTP parameters (the consume answer), as mediasoup-client's Transport.consume() takes them. */
export function clientRtpParameters(params: RtpParameters): ms.RtpParameters {
  const { headerExtensions, ...rest } = params;
  if (!headerExtensions) return rest;
  return { ...rest, headerExtensions: headerExtensions.map((ext) => ({ ...ext, uri: clientUri(ext.uri) })) };
}
