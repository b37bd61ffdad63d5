import type { types as ms } from 'mediasoup-client';
import { z } from 'zod';

/*
 * The signaling schemas (@matchmesh/protocol) carry mediasoup's RTP, ICE,
 * DTLS and SCTP parameters as opaque records: the protocol package depends on
 * neither mediasoup nor mediasoup-client. On the way in, the client narrows
 * them to mediasoup-client's own types here, with a shape check that catches
 * a node sending the wrong thing (a clear error instead of a TypeError deep in
 * the SDP code). mediasoup-client validates the details itself. On the way
 * out no conversion is needed: its types are plain object types, which fit
 * the protocol's records as they are.
 */

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const RtpCapabilities = z.custom<ms.RtpCapabilities>(
  (v) => isRecord(v) && (v.codecs === undefined || Array.isArray(v.codecs)),
  'RtpCapabilities: an object with a codecs array',
);

export const RtpParameters = z.custom<ms.RtpParameters>(
  (v) => isRecord(v) && Array.isArray(v.codecs),
  'RtpParameters: an object with a codecs array',
);

export const IceParameters = z.custom<ms.IceParameters>(
  (v) => isRecord(v) && typeof v.usernameFragment === 'string' && typeof v.password === 'string',
  'IceParameters: usernameFragment and password',
);

export const IceCandidates = z.array(
  z.custom<ms.IceCandidate>(
    (v) =>
      isRecord(v) &&
      typeof v.foundation === 'string' &&
      typeof v.port === 'number' &&
      (v.protocol === 'udp' || v.protocol === 'tcp'),
    'IceCandidate: foundation, port and protocol udp|tcp',
  ),
);

export const DtlsParameters = z.custom<ms.DtlsParameters>(
  (v) => isRecord(v) && Array.isArray(v.fingerprints),
  'DtlsParameters: an object with a fingerprints array',
);

export const SctpParameters = z.custom<ms.SctpParameters>(
  (v) => isRecord(v) && typeof v.port === 'number',
  'SctpParameters: an object with a port',
);

export const SctpStreamParameters = z.custom<ms.SctpStreamParameters>(
  (v) => isRecord(v) && typeof v.streamId === 'number',
  'SctpStreamParameters: an object with a streamId',
);

/** The transport half of a TransportInfo, as mediasoup-client's createRecvTransport/createSendTransport take it. */
export function transportParameters(info: {
  iceParameters: unknown;
  iceCandidates: unknown;
  dtlsParameters: unknown;
  sctpParameters?: unknown;
}): Pick<ms.TransportOptions, 'iceParameters' | 'iceCandidates' | 'dtlsParameters' | 'sctpParameters'> {
  const sctp = info.sctpParameters === undefined ? undefined : SctpParameters.parse(info.sctpParameters);
  return {
    iceParameters: IceParameters.parse(info.iceParameters),
    iceCandidates: IceCandidates.parse(info.iceCandidates),
    dtlsParameters: DtlsParameters.parse(info.dtlsParameters),
    ...(sctp ? { sctpParameters: sctp } : {}),
  };
}
