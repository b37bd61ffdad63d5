import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_CODECS as mediaCodecs } from '../src/codecs.ts';
import { EgressMeter, egressTargetOf } from '../src/EgressMeter.ts';

/**
 * What the cost figures count (issue 17 item 3), on real mediasoup
 * transports: viewers' WebRTC transports and region copies leaving for another
 * node are egress; the plain RTP to the node's own packager, the pipes between
 * the node's own workers and the send side of publishers are not.
 */
let worker: types.Worker;
let router: types.Router;
let other: types.Router;
const meter = new EgressMeter();

beforeAll(async () => {
  worker = await mediasoup.createWorker({ logLevel: 'error' });
  meter.watchWorker(worker);
  router = await worker.createRouter({ mediaCodecs });
  other = await worker.createRouter({ mediaCodecs });
});
afterAll(() => worker?.close());

const webrtc = (appData: types.AppData) =>
  router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }], appData });

describe('egressTargetOf', () => {
  it('a viewer’s WebRTC transport (signaling receive side, WHEP) carries viewers’ bytes', async () => {
    expect(egressTargetOf(await webrtc({ direction: 'recv', peer: true }))).toEqual({ kind: 'viewers' });
    expect(egressTargetOf(await webrtc({ role: 'whep' }))).toEqual({ kind: 'viewers' });
  });

  it('a WHIP publisher’s or a commentator’s send transport only returns RTCP: not viewers’ bytes', async () => {
    expect(egressTargetOf(await webrtc({ role: 'publisher' }))).toEqual({ kind: 'other' });
    expect(egressTargetOf(await webrtc({ direction: 'send', peer: true }))).toEqual({ kind: 'other' });
  });

  it('a PipeOut’s transport is a region copy to the region at its far end; an inbound pipe is not', async () => {
    const listenInfo = { protocol: 'udp' as const, ip: '127.0.0.1' };
    const out = await router.createPipeTransport({
      listenInfo,
      appData: { pipe: 'out', nodeId: 'a1', region: 'asia' },
    });
    expect(egressTargetOf(out)).toEqual({ kind: 'pipes', region: 'asia' });
    const inbound = await router.createPipeTransport({ listenInfo, appData: { pipe: 'in', role: 'primary' } });
    expect(egressTargetOf(inbound)).toEqual({ kind: 'other' });
  });

  it('the plain RTP to the local packager and the pipes between the node’s own routers are internal', async () => {
    const plain = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      appData: { stream: 's', purpose: 'hls' },
    });
    expect(egressTargetOf(plain)).toEqual({ kind: 'other' });
    const direct = await router.createDirectTransport();
    const producer = await direct.produce({
      kind: 'audio',
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
        encodings: [{ ssrc: 1111 }],
      },
    });
    const seen: types.Transport[] = [];
    const collect = (t: types.Transport) => seen.push(t);
    router.observer.on('newtransport', collect);
    other.observer.on('newtransport', collect);
    // What a fan-out router does for a stream's viewers on another worker (same host, loopback).
    await router.pipeToRouter({ producerId: producer.id, router: other, keepId: false });
    const pipes = seen.filter((t) => t.type === 'pipe');
    expect(pipes.length).toBe(2);
    for (const p of pipes) expect(egressTargetOf(p)).toEqual({ kind: 'other' });
  });

  it('the meter counts a region copy’s bytes under its destination region, and internal bytes apart', async () => {
    await meter.sample();
    const before = meter.totalBytes;
    const listenInfo = { protocol: 'udp' as const, ip: '127.0.0.1' };
    const out = await router.createPipeTransport({ listenInfo, appData: { pipe: 'out', nodeId: 'e1', region: 'eu2' } });
    const inbound = await other.createPipeTransport({ listenInfo, appData: { pipe: 'in', role: 'primary' } });
    await out.connect({ ip: '127.0.0.1', port: inbound.tuple.localPort });
    await inbound.connect({ ip: '127.0.0.1', port: out.tuple.localPort });
    const direct = await router.createDirectTransport();
    const producer = await direct.produce({
      kind: 'audio',
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
        encodings: [{ ssrc: 2222 }],
      },
    });
    await out.consume({ producerId: producer.id });
    for (let seq = 1; seq <= 50; seq++) {
      const packet = Buffer.alloc(12 + 100);
      packet[0] = 0x80;
      packet[1] = 100;
      packet.writeUInt16BE(seq, 2);
      packet.writeUInt32BE(seq * 960, 4);
      packet.writeUInt32BE(2222, 8);
      producer.send(packet);
    }
    // The worker forwards asynchronously: sample until the pipe's bytes show (bounded).
    const deadline = Date.now() + 5_000;
    while ((meter.pipeBytesByRegion.get('eu2') ?? 0) < 50 * 100 && Date.now() < deadline) await meter.sample();
    expect(meter.pipeBytesByRegion.get('eu2')).toBeGreaterThanOrEqual(50 * 100);
    expect(meter.totalBytes.pipes - before.pipes).toBe(meter.pipeBytesByRegion.get('eu2'));
    expect(meter.totalBytes.viewers).toBe(before.viewers);
  });
});
