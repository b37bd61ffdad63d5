import {
  DtlsParameters,
  type IceCandidates,
  type IceParameters,
  type MediaKind,
  RtpCapabilities,
  type RtpHeaderExtensionUri,
  RtpParameters,
  type SctpParameters,
  SctpStreamParameters,
  TransportInfo,
} from '@matchmesh/protocol';
import { Device, FakeHandler, type types as ms, testFakeParameters } from 'mediasoup-client';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import { clientRtpCapabilities, clientRtpParameters } from '../src/mediaTypes.ts';

/*
 * Where @matchmesh/protocol's parameter schemas meet mediasoup-client (the
 * mediasoup side: packages/sfu/test/wire-params.test.ts).
 *
 * At compile time (`tsc -b` checks this file): what the browser sends
 * (connect, consume, produce) fits the wire as it is, and what the node
 * answers fits mediasoup-client as it is, but for one header extension URI
 * (see src/mediaTypes.ts). At run time, mediasoup-client's own values (its
 * FakeHandler runs the same ORTC code as the browser handlers) go through
 * JSON and the schemas unchanged.
 */

// browser → node.
expectTypeOf<ms.DtlsParameters>().toExtend<DtlsParameters>();
expectTypeOf<ms.RtpCapabilities>().toExtend<RtpCapabilities>();
expectTypeOf<ms.RtpParameters>().toExtend<RtpParameters>();
expectTypeOf<ms.MediaKind>().toExtend<MediaKind>();
// node → browser, as they are.
expectTypeOf<IceParameters>().toExtend<ms.IceParameters>();
expectTypeOf<z.infer<typeof IceCandidates>>().toExtend<ms.IceCandidate[]>();
expectTypeOf<DtlsParameters>().toExtend<ms.DtlsParameters>();
expectTypeOf<SctpParameters>().toExtend<ms.SctpParameters>();
expectTypeOf<SctpStreamParameters>().toExtend<ms.SctpStreamParameters>();
expectTypeOf<Omit<TransportInfo, 'id'>>().toExtend<Omit<ms.TransportOptions, 'id'>>();
// node → browser through mediaTypes.ts, whose narrowing concerns this one URI and no other: when
// mediasoup-client learns it, this line fails, and mediaTypes.ts can go.
expectTypeOf<
  Exclude<RtpHeaderExtensionUri, ms.RtpHeaderExtensionUri>
>().toEqualTypeOf<'urn:ietf:params:rtp-hdrext:toffset'>();

/** What the other end reads: the value through JSON, then through the schema. */
function overTheWire<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const json: unknown = JSON.parse(JSON.stringify(value));
  const parsed = schema.parse(json);
  expect(parsed).toEqual(json);
  return parsed;
}

/** Just enough MediaStreamTrack for mediasoup-client's produce() in node. */
function fakeAudioTrack(): MediaStreamTrack {
  const track: Partial<MediaStreamTrack> = {
    id: 'mic-1',
    kind: 'audio',
    readyState: 'live',
    enabled: true,
    addEventListener: () => {},
    removeEventListener: () => {},
    stop: () => {},
  };
  return track as MediaStreamTrack;
}

describe("mediasoup-client's parameters through the wire schemas", () => {
  it("a commentator's signaling: capabilities, send transport, connect, produce", async () => {
    const device = new Device({ handlerFactory: FakeHandler.createFactory(testFakeParameters) });
    const routerCaps = overTheWire(RtpCapabilities, testFakeParameters.generateRouterRtpCapabilities());
    await device.load({ routerRtpCapabilities: clientRtpCapabilities(routerCaps) });
    overTheWire(RtpCapabilities, device.recvRtpCapabilities);

    const info = overTheWire(TransportInfo, testFakeParameters.generateTransportRemoteParameters());
    const { sctpParameters: _none, ...parameters } = info;
    const transport = device.createSendTransport(parameters);
    const sent: { dtls?: DtlsParameters; rtp?: RtpParameters } = {};
    transport.on('connect', ({ dtlsParameters }, callback) => {
      sent.dtls = overTheWire(DtlsParameters, dtlsParameters);
      callback();
    });
    transport.on('produce', ({ rtpParameters }, callback) => {
      sent.rtp = overTheWire(RtpParameters, rtpParameters);
      callback({ id: 'producer-1' });
    });
    const producer = await transport.produce({ track: fakeAudioTrack() });
    expect(producer.id).toBe('producer-1');
    expect(sent.dtls?.fingerprints.length).toBeGreaterThan(0);
    expect(sent.rtp?.codecs[0]?.mimeType).toBe('audio/opus');
    // mediasoup-client's sender fields the schema carries on (mediasoup ignores them).
    expect(sent.rtp?.rtcp?.mux).toBe(true);
    transport.close();
  });

  it("a viewer's signaling: recv transport with SCTP, consumer and score channel", async () => {
    const device = new Device({ handlerFactory: FakeHandler.createFactory(testFakeParameters) });
    await device.load({
      routerRtpCapabilities: clientRtpCapabilities(
        overTheWire(RtpCapabilities, testFakeParameters.generateRouterRtpCapabilities()),
      ),
    });
    overTheWire(RtpCapabilities, device.recvRtpCapabilities);
    const remote = testFakeParameters.generateTransportRemoteParameters();
    const info = overTheWire(TransportInfo, remote);
    expect(info.sctpParameters).toEqual(remote.sctpParameters);
    const transport = device.createRecvTransport(info);
    transport.on('connect', (_params, callback) => callback());

    const consumerRemote = testFakeParameters.generateConsumerRemoteParameters({ codecMimeType: 'audio/opus' });
    const rtpParameters = clientRtpParameters(overTheWire(RtpParameters, consumerRemote.rtpParameters));
    expect(rtpParameters).toEqual(consumerRemote.rtpParameters);
    const consumer = await transport.consume({ ...consumerRemote, rtpParameters });
    expect(consumer.kind).toBe('audio');

    const dataRemote = testFakeParameters.generateDataConsumerRemoteParameters();
    const sctpStreamParameters = overTheWire(SctpStreamParameters, dataRemote.sctpStreamParameters);
    const dataConsumer = await transport.consumeData({ ...dataRemote, sctpStreamParameters });
    expect(dataConsumer.sctpStreamParameters.streamId).toBe(sctpStreamParameters.streamId);
    transport.close();
  });

  it("takes a router's toffset header extension, which mediasoup-client's type list lacks", async () => {
    const toffset = {
      kind: 'video',
      uri: 'urn:ietf:params:rtp-hdrext:toffset',
      preferredId: 12,
      preferredEncrypt: false,
      direction: 'sendrecv',
    } as const;
    const fake = testFakeParameters.generateRouterRtpCapabilities();
    const caps = overTheWire(RtpCapabilities, { ...fake, headerExtensions: [...fake.headerExtensions!, toffset] });
    const forClient = clientRtpCapabilities(caps);
    expect(forClient).toEqual(caps);
    const device = new Device({ handlerFactory: FakeHandler.createFactory(testFakeParameters) });
    await device.load({ routerRtpCapabilities: forClient });
    expect(device.loaded).toBe(true);
  });
});
