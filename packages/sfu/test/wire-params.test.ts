import {
  DtlsParameters,
  type IceCandidates,
  IceParameters,
  type MediaKind,
  PipeEndpointMessage,
  RtpCapabilities,
  RtpParameters,
  type SctpParameters,
  SctpStreamParameters,
  type SrtpParameters,
  TransportInfo,
} from '@matchmesh/protocol';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import { MEDIA_CODECS } from '../src/codecs.ts';

/*
 * Where @matchmesh/protocol's parameter schemas meet mediasoup. The protocol
 * may not import mediasoup, so the two are tied together here.
 *
 * At compile time (`tsc -b` checks this file), both directions: mediasoup's
 * values are what the node answers with (and a pipe's upstream sends), and the
 * wire's are what the node hands mediasoup (a request, a pipe answer), without
 * a cast either way. At run time, a real worker's objects go through JSON and
 * the schemas unchanged (no field refused, none dropped), and mediasoup takes
 * the parsed result back.
 */

// mediasoup → wire.
expectTypeOf<types.MediaKind>().toExtend<MediaKind>();
expectTypeOf<types.RtpCapabilities>().toExtend<RtpCapabilities>();
expectTypeOf<types.RtpParameters>().toExtend<RtpParameters>();
expectTypeOf<types.IceParameters>().toExtend<IceParameters>();
expectTypeOf<types.IceCandidate[]>().toExtend<z.infer<typeof IceCandidates>>();
expectTypeOf<types.DtlsParameters>().toExtend<DtlsParameters>();
expectTypeOf<types.SctpParameters>().toExtend<SctpParameters>();
expectTypeOf<types.SctpStreamParameters>().toExtend<SctpStreamParameters>();
expectTypeOf<types.SrtpParameters>().toExtend<SrtpParameters>();
// wire → mediasoup. SctpParameters only ever goes to the browser: the wire
// leaves mediasoup's own SCTP settings optional, mediasoup-client ignores them.
expectTypeOf<MediaKind>().toExtend<types.MediaKind>();
expectTypeOf<RtpCapabilities>().toExtend<types.RtpCapabilities>();
expectTypeOf<RtpParameters>().toExtend<types.RtpParameters>();
expectTypeOf<IceParameters>().toExtend<types.IceParameters>();
expectTypeOf<z.infer<typeof IceCandidates>>().toExtend<types.IceCandidate[]>();
expectTypeOf<DtlsParameters>().toExtend<types.DtlsParameters>();
expectTypeOf<SctpStreamParameters>().toExtend<types.SctpStreamParameters>();
expectTypeOf<SrtpParameters>().toExtend<types.SrtpParameters>();

/** What the other end reads: the value through JSON, then through the schema. */
function overTheWire<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const json: unknown = JSON.parse(JSON.stringify(value));
  const parsed = schema.parse(json);
  expect(parsed).toEqual(json);
  return parsed;
}

describe('mediasoup parameters through the wire schemas (real worker)', () => {
  let worker: types.Worker;
  let router: types.Router;
  let source: types.DirectTransport;
  let audio: types.Producer;
  let video: types.Producer;
  let scores: types.DataProducer;

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'error' });
    router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    source = await router.createDirectTransport();
    const caps = router.rtpCapabilities.codecs!;
    const opus = caps.find((c) => c.mimeType === 'audio/opus')!;
    const h264 = caps.find((c) => c.mimeType === 'video/H264')!;
    audio = await source.produce({
      kind: 'audio',
      rtpParameters: {
        codecs: [{ mimeType: opus.mimeType, payloadType: 100, clockRate: opus.clockRate, channels: 2 }],
        encodings: [{ ssrc: 1111 }],
      },
    });
    video = await source.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [{ mimeType: h264.mimeType, payloadType: 102, clockRate: 90000, parameters: h264.parameters }],
        encodings: [{ ssrc: 2222 }],
      },
    });
    scores = await source.produceData({ label: 'scores', protocol: 'json' });
  });

  afterAll(() => worker?.close());

  it("a WebRTC viewer's whole signaling: capabilities, transport, consumers, score channel, ICE restart", async () => {
    const caps = overTheWire(RtpCapabilities, router.rtpCapabilities);
    // toffset is one of them: the URI mediasoup-client's type list lacks (packages/client/src/mediaTypes.ts).
    expect(caps.headerExtensions?.map((h) => h.uri)).toContain('urn:ietf:params:rtp-hdrext:toffset');

    const transport = await router.createWebRtcTransport({
      listenInfos: [
        { protocol: 'udp', ip: '127.0.0.1' },
        { protocol: 'tcp', ip: '127.0.0.1' },
      ],
      enableSctp: true,
    });
    const info = overTheWire(TransportInfo, {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
      sctpParameters: transport.sctpParameters,
    });
    expect(info.iceCandidates.map((c) => c.protocol).sort()).toEqual(['tcp', 'udp']);
    expect(info.sctpParameters?.port).toBe(5000);

    // The browser's answer: mediasoup takes the parsed DTLS parameters.
    const dtls = overTheWire(DtlsParameters, {
      role: 'client',
      fingerprints: [{ algorithm: 'sha-256', value: transport.dtlsParameters.fingerprints[2]!.value }],
    });
    await transport.connect({ dtlsParameters: dtls });

    for (const producer of [audio, video]) {
      expect(router.canConsume({ producerId: producer.id, rtpCapabilities: caps })).toBe(true);
      const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: caps, paused: true });
      const rtp = overTheWire(RtpParameters, consumer.rtpParameters);
      expect(rtp.codecs[0]?.mimeType).toBe(producer.kind === 'audio' ? 'audio/opus' : 'video/H264');
      expect(rtp.encodings?.[0]?.ssrc).toBeGreaterThan(0);
    }

    const dc = await transport.consumeData({ dataProducerId: scores.id });
    const stream = overTheWire(SctpStreamParameters, dc.sctpStreamParameters);
    expect(stream.streamId).toBeGreaterThanOrEqual(0);

    overTheWire(IceParameters, await transport.restartIce());
    transport.close();
  });

  it("a pipe between two nodes: SRTP keying, and the producers' RTP and SCTP parameters", async () => {
    // Another worker, as on another node (the piped producers keep their ids).
    const other = await mediasoup.createWorker({ logLevel: 'error' });
    try {
      const downstream = await other.createRouter({ mediaCodecs: MEDIA_CODECS });
      const pipe = { listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, enableSrtp: true, enableRtx: true } as const;
      const up = await router.createPipeTransport({ ...pipe, enableSctp: true });
      const down = await downstream.createPipeTransport({ ...pipe, enableSctp: true });
      const upEnd = overTheWire(PipeEndpointMessage, {
        ip: up.tuple.localAddress ?? up.tuple.localIp,
        port: up.tuple.localPort,
        srtpParameters: up.srtpParameters,
      });
      const downEnd = overTheWire(PipeEndpointMessage, {
        ip: down.tuple.localAddress ?? down.tuple.localIp,
        port: down.tuple.localPort,
        srtpParameters: down.srtpParameters,
      });
      await up.connect(downEnd);
      await down.connect(upEnd);

      const piped = await up.consume({ producerId: video.id });
      const rtp = overTheWire(RtpParameters, piped.rtpParameters);
      const copy = await down.produce({ id: video.id, kind: piped.kind, rtpParameters: rtp });
      expect(copy.rtpParameters.codecs.map((c) => c.mimeType)).toContain('video/H264');

      const pipedScores = await up.consumeData({ dataProducerId: scores.id });
      const sctp = overTheWire(SctpStreamParameters, pipedScores.sctpStreamParameters);
      const scoresCopy = await down.produceData({ id: scores.id, sctpStreamParameters: sctp, label: 'scores' });
      expect(scoresCopy.sctpStreamParameters?.streamId).toBe(sctp.streamId);
    } finally {
      other.close();
    }
  });
});
