import { z } from 'zod';

/*
 * mediasoup's parameter objects as they cross the wire: RTP capabilities and
 * parameters, ICE, DTLS, SCTP and SRTP. Signaling (signaling.ts) carries them
 * between mediasoup-client and mediasoup, the cluster bus (mesh.ts) between
 * two mediasoups.
 *
 * Modeled field by field on mediasoup 3.27's types (node/lib/*Types.d.ts)
 * and mediasoup-client 3.24's (lib/RtpParameters.d.ts, SctpParameters.d.ts,
 * Transport.d.ts), so that each inferred type is assignable to and from both
 * libraries' types without a cast. This package may not import either (not
 * even their types: the browser and every server import it); the checks live
 * where the types meet: packages/sfu/test/wire-params.test.ts (mediasoup) and
 * packages/client/test/wire-params.test.ts (mediasoup-client).
 *
 * Where the two libraries differ, the schema takes the union of their fields
 * (mediasoup-client's extra encoding and RTCP fields) so that both sides'
 * values pass, and for what only one side sends, the sender's values with
 * the receiver's idea of what is required (IceCandidate, SctpParameters). The
 * one gap is a header extension URI mediasoup offers and mediasoup-client's
 * type list lacks (see RtpHeaderExtensionUri).
 *
 * Objects drop keys neither library declares (zod's default): nothing reads
 * them, and mediasoup's worker would drop them anyway (it serializes the
 * declared fields only). Arrays, strings and maps are bounded so that a
 * hostile message stays small; numbers are checked only where RTP itself
 * fixes the range, since mediasoup validates the rest.
 */

/** Bounds well above anything mediasoup or a browser produces (a router offers ~10 codecs, 24 extensions). */
const MAX = {
  codecs: 64,
  headerExtensions: 32,
  rtcpFeedback: 16,
  encodings: 16,
  parameters: 32,
  fingerprints: 8,
  iceCandidates: 32,
  /** Identifiers and tokens (mid, rid, cname, msid, ICE credentials, fingerprint hex). */
  text: 256,
} as const;

const Text = z.string().max(MAX.text);
const UInt = z.number().int().min(0);
const Uint32 = UInt.max(0xffff_ffff);
const PayloadType = UInt.max(127);
const Port = UInt.max(65535);

export const MediaKind = z.enum(['audio', 'video']);
export type MediaKind = z.infer<typeof MediaKind>;

/**
 * Codec-specific parameters (fmtp: profile-level-id, apt, useinbandfec...).
 * Both libraries declare them `Record<string, unknown>`, so their values stay
 * unknown here (mediasoup checks they are strings or numbers); the keys and
 * their number are bounded.
 */
const Parameters = z
  .record(z.string().max(64), z.unknown())
  .refine((p) => Object.keys(p).length <= MAX.parameters, `at most ${MAX.parameters} parameters`);

export const RtcpFeedback = z.object({
  type: z.string().max(64),
  parameter: z.string().max(64).optional(),
});
export type RtcpFeedback = z.infer<typeof RtcpFeedback>;

/** What a codec is, in both a capability and a negotiated parameter set. */
const codecFields = {
  mimeType: z.string().max(64),
  clockRate: UInt,
  channels: UInt.optional(),
  parameters: Parameters.optional(),
  rtcpFeedback: z.array(RtcpFeedback).max(MAX.rtcpFeedback).optional(),
};

export const RtpCodecCapability = z.object({
  kind: MediaKind,
  preferredPayloadType: PayloadType,
  ...codecFields,
});
export type RtpCodecCapability = z.infer<typeof RtpCodecCapability>;

/**
 * mediasoup's list. mediasoup-client 3.24's type lacks toffset, which a
 * mediasoup router offers (so it reaches the browser): the client narrows it
 * in one place, packages/client/src/mediaTypes.ts.
 */
export const RtpHeaderExtensionUri = z.enum([
  'urn:ietf:params:rtp-hdrext:sdes:mid',
  'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
  'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension',
  'urn:3gpp:video-orientation',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time',
  'urn:ietf:params:rtp-hdrext:toffset',
  'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
  'urn:mediasoup:params:rtp-hdrext:packet-id',
]);
export type RtpHeaderExtensionUri = z.infer<typeof RtpHeaderExtensionUri>;

/** One-byte header extension ids are 1..14, two-byte ones 1..255 (RFC 8285). */
const ExtensionId = z.number().int().min(1).max(255);

export const RtpHeaderExtension = z.object({
  kind: MediaKind,
  uri: RtpHeaderExtensionUri,
  preferredId: ExtensionId,
  preferredEncrypt: z.boolean().optional(),
  direction: z.enum(['sendrecv', 'sendonly', 'recvonly', 'inactive']).optional(),
});
export type RtpHeaderExtension = z.infer<typeof RtpHeaderExtension>;

export const RtpCapabilities = z.object({
  codecs: z.array(RtpCodecCapability).max(MAX.codecs).optional(),
  headerExtensions: z.array(RtpHeaderExtension).max(MAX.headerExtensions).optional(),
});
export type RtpCapabilities = z.infer<typeof RtpCapabilities>;

export const RtpCodecParameters = z.object({
  payloadType: PayloadType,
  ...codecFields,
});
export type RtpCodecParameters = z.infer<typeof RtpCodecParameters>;

export const RtpHeaderExtensionParameters = z.object({
  uri: RtpHeaderExtensionUri,
  id: ExtensionId,
  encrypt: z.boolean().optional(),
  parameters: Parameters.optional(),
});
export type RtpHeaderExtensionParameters = z.infer<typeof RtpHeaderExtensionParameters>;

const Priority = z.enum(['very-low', 'low', 'medium', 'high']);

/** mediasoup's fields, plus the sender-side ones mediasoup-client adds (active ... networkPriority). */
export const RtpEncodingParameters = z.object({
  ssrc: Uint32.optional(),
  rid: Text.optional(),
  codecPayloadType: PayloadType.optional(),
  rtx: z.object({ ssrc: Uint32 }).optional(),
  dtx: z.boolean().optional(),
  scalabilityMode: z.string().max(32).optional(),
  maxBitrate: z.number().min(0).optional(),
  active: z.boolean().optional(),
  scaleResolutionDownBy: z.number().min(1).optional(),
  maxFramerate: z.number().min(0).optional(),
  adaptivePtime: z.boolean().optional(),
  priority: Priority.optional(),
  networkPriority: Priority.optional(),
});
export type RtpEncodingParameters = z.infer<typeof RtpEncodingParameters>;

/** `mux` is mediasoup-client's (it always sends true); mediasoup ignores it. */
export const RtcpParameters = z.object({
  cname: Text.optional(),
  reducedSize: z.boolean().optional(),
  mux: z.boolean().optional(),
});
export type RtcpParameters = z.infer<typeof RtcpParameters>;

export const RtpParameters = z.object({
  mid: Text.optional(),
  codecs: z.array(RtpCodecParameters).max(MAX.codecs),
  headerExtensions: z.array(RtpHeaderExtensionParameters).max(MAX.headerExtensions).optional(),
  encodings: z.array(RtpEncodingParameters).max(MAX.encodings).optional(),
  rtcp: RtcpParameters.optional(),
  msid: Text.optional(),
});
export type RtpParameters = z.infer<typeof RtpParameters>;

// ------------------------------------------------------------ ICE and DTLS

export const IceParameters = z.object({
  usernameFragment: Text,
  password: Text,
  iceLite: z.boolean().optional(),
});
export type IceParameters = z.infer<typeof IceParameters>;

/**
 * mediasoup, the only sender, gathers host candidates only (passive when
 * TCP); mediasoup-client's type allows every kind, so mediasoup's narrower
 * set fits both. `ip` is the deprecated twin of `address`: both libraries
 * declare it required, and mediasoup sends both.
 */
export const IceCandidate = z.object({
  foundation: z.string().max(64),
  priority: Uint32,
  ip: Text,
  address: Text,
  protocol: z.enum(['udp', 'tcp']),
  port: Port,
  type: z.enum(['host']),
  tcpType: z.enum(['passive']).optional(),
});
export type IceCandidate = z.infer<typeof IceCandidate>;

/** One per listen address: a few at most. */
export const IceCandidates = z.array(IceCandidate).max(MAX.iceCandidates);

export const DtlsFingerprint = z.object({
  algorithm: z.enum(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']),
  /** Colon-separated hex: 191 characters for sha-512. */
  value: Text,
});
export type DtlsFingerprint = z.infer<typeof DtlsFingerprint>;

/** A DTLS handshake needs a fingerprint to check: one at least (a browser sends one, mediasoup five). */
export const DtlsParameters = z.object({
  role: z.enum(['auto', 'client', 'server']).optional(),
  fingerprints: z.array(DtlsFingerprint).min(1).max(MAX.fingerprints),
});
export type DtlsParameters = z.infer<typeof DtlsParameters>;

// ------------------------------------------------------------ SCTP and SRTP

/**
 * A transport's SCTP parameters, as mediasoup announces them (only mediasoup
 * sends them). Required is what mediasoup-client, the receiver, requires; the
 * rest (mediasoup's own settings, and OS/MIS/maxMessageSize, which it keeps
 * for older clients) is optional.
 */
export const SctpParameters = z.object({
  port: Port,
  maxSendMessageSize: UInt,
  maxReceiveMessageSize: UInt,
  OS: UInt.optional(),
  MIS: UInt.optional(),
  maxMessageSize: UInt.optional(),
  sendBufferSize: UInt.optional(),
  perStreamSendQueueLimit: UInt.optional(),
  maxReceiverWindowBufferSize: UInt.optional(),
  isDataChannel: z.boolean().optional(),
});
export type SctpParameters = z.infer<typeof SctpParameters>;

/** One SCTP stream (a DataChannel). Stream ids are 0..65534 (RFC 8831). */
export const SctpStreamParameters = z.object({
  streamId: UInt.max(65535),
  ordered: z.boolean().optional(),
  maxPacketLifeTime: UInt.optional(),
  maxRetransmits: UInt.optional(),
});
export type SctpStreamParameters = z.infer<typeof SctpStreamParameters>;

/** A pipe transport's SRTP keying (mediasoup to mediasoup only). */
export const SrtpParameters = z.object({
  cryptoSuite: z.enum(['AEAD_AES_256_GCM', 'AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32']),
  /** Key and salt: 60 base64 characters for AES-256-GCM. */
  keyBase64: z.string().max(128),
});
export type SrtpParameters = z.infer<typeof SrtpParameters>;
