import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  ConnectTransportRequest,
  ConsumeRequest,
  DtlsParameters,
  PipeOpenResponse,
  ProduceRequest,
  RtpCapabilities,
  RtpParameters,
  TransportInfo,
} from '../src/index.ts';

/*
 * The mediasoup parameter schemas on their own: what a browser sends passes,
 * what is malformed or oversized fails naming the field. That real mediasoup
 * objects round-trip is tested where mediasoup is (packages/sfu/test/
 * wire-params.test.ts), mediasoup-client's in packages/client/test.
 */

/** The first issue of a failed parse: its path and code, what the signaling error reply names. */
function firstIssue(schema: z.ZodType, value: unknown): { path: PropertyKey[]; code: string } {
  const parsed = schema.safeParse(value);
  if (parsed.success) throw new Error('expected the parse to fail');
  const issue = parsed.error.issues[0]!;
  return { path: issue.path, code: issue.code };
}

const transportId = '6b2f5c1e-8f61-4c1a-9d7e-2a3b4c5d6e7f';

/** mediasoup-client's `connect` event in Chromium: the browser's one fingerprint, role client. */
const chromiumDtls = {
  role: 'client',
  fingerprints: [
    {
      algorithm: 'sha-256',
      value: '4E:1D:7C:0B:86:6F:1C:1E:12:55:8A:32:6D:21:A4:9A:67:0F:8C:3E:2B:90:7D:5A:C1:E4:3F:76:0A:BB:29:D4',
    },
  ],
};

/** A commentator's `produce` from mediasoup-client's Chrome111 handler: Opus, one encoding. */
const chromiumOpusProduce = {
  mid: '0',
  codecs: [
    {
      mimeType: 'audio/opus',
      payloadType: 100,
      clockRate: 48000,
      channels: 2,
      parameters: { minptime: 10, useinbandfec: 1, usedtx: 1, 'sprop-stereo': 0 },
      rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
    },
  ],
  headerExtensions: [
    { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 1, encrypt: false, parameters: {} },
    { uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', id: 4, encrypt: false, parameters: {} },
    {
      uri: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
      id: 5,
      encrypt: false,
      parameters: {},
    },
    { uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 10, encrypt: false, parameters: {} },
  ],
  encodings: [{ ssrc: 2_914_052_713, dtx: true }],
  rtcp: { cname: 'qQyW3ZvTnL0bVgQ9', reducedSize: true, mux: true },
};

describe('mediasoup parameters on the wire', () => {
  it('passes what mediasoup-client sends from Chromium, unchanged', () => {
    const connect = { transportId, dtlsParameters: chromiumDtls };
    expect(ConnectTransportRequest.parse(connect)).toEqual(connect);
    const produce = { transportId, kind: 'audio', rtpParameters: chromiumOpusProduce };
    expect(ProduceRequest.parse(produce)).toEqual(produce);
    // An empty capability set is valid (mediasoup then has nothing it can send).
    expect(ConsumeRequest.parse({ transportId, rtpCapabilities: {} })).toEqual({ transportId, rtpCapabilities: {} });
  });

  it('names the field of a wrong DTLS role', () => {
    const dtlsParameters = { ...chromiumDtls, role: 'master' };
    expect(firstIssue(ConnectTransportRequest, { transportId, dtlsParameters })).toEqual({
      path: ['dtlsParameters', 'role'],
      code: 'invalid_value',
    });
  });

  it('refuses DTLS parameters without a fingerprint to check', () => {
    expect(firstIssue(DtlsParameters, { role: 'client' })).toEqual({ path: ['fingerprints'], code: 'invalid_type' });
    expect(firstIssue(DtlsParameters, { role: 'client', fingerprints: [] })).toEqual({
      path: ['fingerprints'],
      code: 'too_small',
    });
    expect(firstIssue(DtlsParameters, { fingerprints: [{ algorithm: 'sha-256' }] })).toEqual({
      path: ['fingerprints', 0, 'value'],
      code: 'invalid_type',
    });
    expect(firstIssue(DtlsParameters, { fingerprints: [{ algorithm: 'md5', value: 'AA' }] })).toEqual({
      path: ['fingerprints', 0, 'algorithm'],
      code: 'invalid_value',
    });
  });

  it('names the field of malformed RTP parameters', () => {
    const codec = chromiumOpusProduce.codecs[0]!;
    const cases: [unknown, PropertyKey[], string][] = [
      [{ ...chromiumOpusProduce, codecs: undefined }, ['codecs'], 'invalid_type'],
      [{ ...chromiumOpusProduce, codecs: [{ ...codec, payloadType: 128 }] }, ['codecs', 0, 'payloadType'], 'too_big'],
      [
        { ...chromiumOpusProduce, codecs: [{ ...codec, clockRate: '48000' }] },
        ['codecs', 0, 'clockRate'],
        'invalid_type',
      ],
      [
        { ...chromiumOpusProduce, headerExtensions: [{ uri: 'urn:example:not-mediasoup', id: 3 }] },
        ['headerExtensions', 0, 'uri'],
        'invalid_value',
      ],
      [{ ...chromiumOpusProduce, encodings: [{ ssrc: -1 }] }, ['encodings', 0, 'ssrc'], 'too_small'],
    ];
    for (const [value, path, code] of cases) expect(firstIssue(RtpParameters, value)).toEqual({ path, code });
  });

  it('bounds what a hostile peer can make the node hold', () => {
    const codec = { kind: 'video', mimeType: 'video/VP8', preferredPayloadType: 101, clockRate: 90000 };
    expect(firstIssue(RtpCapabilities, { codecs: Array.from({ length: 65 }, () => codec) })).toEqual({
      path: ['codecs'],
      code: 'too_big',
    });
    const parameters = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`p${i}`, i]));
    expect(firstIssue(RtpCapabilities, { codecs: [{ ...codec, parameters }] })).toEqual({
      path: ['codecs', 0, 'parameters'],
      code: 'custom',
    });
    expect(firstIssue(RtpParameters, { codecs: [], mid: 'x'.repeat(257) })).toEqual({ path: ['mid'], code: 'too_big' });
  });

  it('drops keys neither mediasoup nor mediasoup-client declares', () => {
    const parsed = DtlsParameters.parse({ ...chromiumDtls, extra: 'x'.repeat(100) });
    expect(parsed).toEqual(chromiumDtls);
  });

  it('checks what the node answers too: a transport without ICE credentials fails', () => {
    const transport = {
      id: transportId,
      iceParameters: { usernameFragment: 'h3hk1iz6qqlnqlne' },
      iceCandidates: [],
      dtlsParameters: chromiumDtls,
    };
    expect(firstIssue(TransportInfo, transport)).toEqual({ path: ['iceParameters', 'password'], code: 'invalid_type' });
  });

  it('types the pipe answer between nodes: SRTP keying with a known suite', () => {
    const answer = {
      ip: '10.0.0.2',
      port: 40000,
      srtpParameters: { cryptoSuite: 'AEAD_AES_256_GCM', keyBase64: 'a'.repeat(60) },
      pipeId: 'p1',
      producers: [],
      scores: { id: 's1', sctpStreamParameters: { streamId: 1, ordered: true }, label: 'scores', protocol: 'json' },
    };
    expect(PipeOpenResponse.parse(answer)).toEqual(answer);
    const weak = { ...answer, srtpParameters: { cryptoSuite: 'NULL', keyBase64: '' } };
    expect(firstIssue(PipeOpenResponse, weak)).toEqual({
      path: ['srtpParameters', 'cryptoSuite'],
      code: 'invalid_value',
    });
  });
});
