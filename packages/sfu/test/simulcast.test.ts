import { createSocket } from 'node:dgram';
import type { types } from 'mediasoup';
import { afterEach, describe, expect, it } from 'vitest';
import { MediaError } from '../src/errors.ts';
import { silentLogger } from '../src/logger.ts';
import { MediaService } from '../src/MediaService.ts';
import { PeerMedia } from '../src/PeerMedia.ts';
import { PlainTap } from '../src/PlainTap.ts';
import { PipeIn, PipeOut } from '../src/pipes.ts';
import type { StreamOutlet } from '../src/StreamOutlet.ts';
import type { StreamRouter } from '../src/StreamRouter.ts';
import { parseOffer } from '../src/sdp/offer.ts';
import { producerParametersFromOffer } from '../src/sdp/rtp.ts';
import { offeredSimulcast, RID_URI } from '../src/sdp/simulcast.ts';
import { STABLE_SSRC } from '../src/stable/StableTrack.ts';
import { WorkerPool } from '../src/WorkerPool.ts';
import { freePortRange } from './free-ports.ts';

/**
 * Simulcast through the mesh on real mediasoup workers (issue 14, item 2).
 * An origin's three H.264 layers (180p / 90p / 45p sized packets, tagged with
 * their layer and frame number) enter as a WHIP producer would receive them —
 * the producer's parameters come from the origin's simulcast offer through
 * the SDP bridge, and each packet carries the RtpStreamId (rid) and MID
 * header extensions — and the tests follow them to viewers, through a
 * source reconnect, a pipe to another router, a fan-out worker and the HLS tap.
 */

const FPS = 30;
const GOP = 15;
/** Layer i: packets per frame and payload bytes per packet (what a 80x45 / 160x90 / 320x180 encode roughly takes). */
const PACKETS = [1, 2, 4];
/** mediasoup marks a producer stream inactive (score 0) after this long without a packet (RtpStreamRecv). */
const MEDIASOUP_INACTIVITY_MS = 1500;
const BYTES = [180, 500, 1000];
const MID_EXT = 4;
const RID_EXT = 10;

const ORIGIN_OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789abcdef01234567',
  'a=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E',
  'a=setup:actpass',
  'm=video 9 UDP/TLS/RTP/SAVPF 102 103',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=sendonly',
  'a=rtcp-mux',
  'a=rtpmap:102 H264/90000',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=rtcp-fb:102 nack',
  'a=rtcp-fb:102 nack pli',
  'a=rtcp-fb:102 ccm fir',
  'a=rtpmap:103 rtx/90000',
  'a=fmtp:103 apt=102',
  `a=extmap:${MID_EXT} urn:ietf:params:rtp-hdrext:sdes:mid`,
  `a=extmap:${RID_EXT} ${RID_URI}`,
  'a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
  // Listed highest first: the bridge orders them by max-height.
  'a=rid:f send max-width=320;max-height=180;max-fps=30',
  'a=rid:h send max-width=160;max-height=90;max-fps=30',
  'a=rid:q send max-width=80;max-height=45;max-fps=30',
  'a=simulcast:send f;h;q',
  '',
].join('\r\n');

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function startMedia(
  o: { simulcastMaxLayers?: number; workers?: number; keyFrameIntervalMs?: number } = {},
): Promise<MediaService> {
  const size = o.workers ?? 2;
  const pool = await WorkerPool.create({
    size,
    listenIp: '127.0.0.1',
    basePort: await freePortRange(size),
    rtcMinPort: 20_000,
    rtcMaxPort: 59_999,
    viewersPerWorker: 0,
  });
  const media = new MediaService(pool, silentLogger, {
    simulcastMaxLayers: o.simulcastMaxLayers,
    keyFrameIntervalMs: o.keyFrameIntervalMs,
  });
  cleanups.push(() => media.close());
  return media;
}

/** RTP with a one-byte header extension block carrying the MID and the rid. */
function rtp(seq: number, ts: number, ssrc: number, marker: boolean, rid: string, payload: Buffer): Buffer {
  const ext = Buffer.from([(MID_EXT << 4) | 0, 0x30, (RID_EXT << 4) | 0, rid.charCodeAt(0)]);
  const b = Buffer.alloc(12 + 4 + ext.length + payload.length);
  b[0] = 0x90; // V=2, X=1
  b[1] = (marker ? 0x80 : 0) | 102;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  b.writeUInt16BE(0xbede, 12);
  b.writeUInt16BE(ext.length / 4, 14);
  ext.copy(b, 16);
  payload.copy(b, 16 + ext.length);
  return b;
}

/**
 * Packet k of frame n of layer l from feed `feed`: a key frame starts with an
 * SPS, the rest are FU-A fragments; bytes 4..6 of the SPS and 2..4 of a
 * fragment are (layer, feed, frame).
 */
/** Each layer's SPS as libx264 writes it for 80x46, 160x90 and 320x180 (constrained baseline). */
const LAYER_SPS = [
  '6742c00ad9057fac0440000003004000000f03c48992',
  '6742c00bd9028df930110000030001000003003c0f142a48',
  '6742c00dd901419f9f0110000003001000000303c0f142a480',
].map((hex) => Buffer.from(hex, 'hex'));
const LAYER_SIZES = [
  { width: 80, height: 46 },
  { width: 160, height: 90 },
  { width: 320, height: 180 },
];

function payload(l: number, feed: number, n: number, k: number): Buffer {
  const p = Buffer.alloc(BYTES[l]!);
  const key = n % GOP === 0;
  if (key && k === 0) {
    // A STAP-A: the layer's real SPS, then a tag NAL unit (type 6) with (layer, feed, frame).
    const sps = LAYER_SPS[l]!;
    p.set([0x78, 0, sps.length]);
    sps.copy(p, 3);
    p.set([0, 4, 0x06, l, feed, n & 0xff], 3 + sps.length);
  } else p.set([0x7c, (k === 0 ? 0x80 : 0) | (k === PACKETS[l]! - 1 ? 0x40 : 0) | (key ? 5 : 1), l, feed, n & 0xff]);
  return p;
}

interface Tag {
  layer: number;
  feed: number;
  frame: number;
}

function tagOf(packet: Buffer): Tag | undefined {
  // RTCP on the same port (rtcp-mux: the tap's Sender Reports) is not a tagged frame: packet types 192–223
  // (a loaded run caught one in the window and read layer 228 from it).
  if (packet[1]! >= 192 && packet[1]! <= 223) return undefined;
  let off = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) off += 4 + 4 * packet.readUInt16BE(off + 2);
  const p = packet.subarray(off);
  if ((p[0]! & 0x1f) === 24) {
    const tag = 1 + 2 + p.readUInt16BE(1) + 2;
    return { layer: p[tag + 1]!, feed: p[tag + 2]!, frame: p[tag + 3]! };
  }
  if ((p[0]! & 0x1f) === 28) return { layer: p[2]!, feed: p[3]!, frame: p[4]! };
  return undefined;
}

interface Feed {
  producer: types.Producer;
  /** Key-frame requests (PLI/FIR) that reached this origin: when, and for which of its SSRCs. */
  keyFrameRequests: { at: number; ssrc: number }[];
  /** Stop sending (a dead connection), the producer stays. */
  stop(): void;
}

/**
 * One origin session: a producer with the offer's parameters (rid encodings,
 * the rid extension) sending three layers at 30 fps on the shared media
 * clock `t0` (a reconnecting origin continues its timeline).
 */
async function startFeed(
  stream: StreamRouter,
  feed: number,
  t0: number,
  opts: { layers?: number } = {},
): Promise<Feed> {
  const offer = parseOffer(ORIGIN_OFFER);
  const section = offer.media[0]!.section;
  const simulcast = offeredSimulcast(section, 3)!;
  const layers = opts.layers ?? 3;
  // A source with fewer layers sends its best ones (top-aligned).
  simulcast.layers = simulcast.layers.slice(3 - layers);
  const params = producerParametersFromOffer(section, '0', stream.rtpCapabilities, simulcast);
  const input = await stream.router.createDirectTransport();
  const producer = await input.produce({ kind: 'video', rtpParameters: params });
  const keyFrameRequests: Feed['keyFrameRequests'] = [];
  input.on('rtcp', (packet) => {
    for (let off = 0; off + 12 <= packet.length; off += (packet.readUInt16BE(off + 2) + 1) * 4) {
      const fmt = packet[off]! & 0x1f;
      if (packet[off + 1] === 206 && fmt === 1)
        keyFrameRequests.push({ at: performance.now(), ssrc: packet.readUInt32BE(off + 8) });
      if (packet[off + 1] === 206 && fmt === 4)
        keyFrameRequests.push({ at: performance.now(), ssrc: packet.readUInt32BE(off + 12) });
    }
  });
  const seqs = simulcast.layers.map((_, i) => 1000 * feed + 20_000 * i);
  let frame = Math.floor(((performance.now() - t0) * FPS) / 1000);
  let on = true;
  const timer = setInterval(() => {
    while (on && frame < Math.floor(((performance.now() - t0) * FPS) / 1000)) {
      for (const [i, layer] of simulcast.layers.entries()) {
        const l = 3 - layers + i;
        for (let k = 0; k < PACKETS[l]!; k++) {
          const packet = rtp(
            seqs[i]!++,
            90_000 + frame * 3000,
            0x1000 * feed + l,
            k === PACKETS[l]! - 1,
            layer.rid,
            payload(l, feed, frame, k),
          );
          if (!producer.closed) producer.send(packet);
        }
      }
      frame++;
    }
  }, 5);
  cleanups.push(() => clearInterval(timer));
  return {
    producer,
    keyFrameRequests,
    stop: () => {
      on = false;
    },
  };
}

interface Received {
  at: number;
  ssrc: number;
  seq: number;
  ts: number;
  bytes: number;
  tag: Tag | undefined;
}

function record(consumer: types.Consumer): Received[] {
  const got: Received[] = [];
  consumer.on('rtp', (p) =>
    got.push({
      at: performance.now(),
      ssrc: p.readUInt32BE(8),
      seq: p.readUInt16BE(2),
      ts: p.readUInt32BE(4),
      bytes: p.length,
      tag: tagOf(p),
    }),
  );
  return got;
}

/** Every RTP stream of the outlet's program video, through a pipe consumer (as pipes and fan-outs see it). */
async function observeAll(outlet: StreamOutlet): Promise<{ got: Received[]; layerOf: Map<number, number> }> {
  const video = outlet.programProducers().find((p) => p.kind === 'video')!;
  const sink = await outlet.router.createDirectTransport();
  const consumer = await sink.consume({ producerId: video.id, rtpCapabilities: outlet.rtpCapabilities, pipe: true });
  const layerOf = new Map((consumer.rtpParameters.encodings ?? []).map((e, i) => [e.ssrc!, i]));
  return { got: record(consumer), layerOf };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Packets per layer tag received in [from, to). */
function perLayer(got: Received[], from: number, to = Number.POSITIVE_INFINITY): number[] {
  const n = [0, 0, 0];
  for (const r of got) if (r.at >= from && r.at < to && r.tag) n[r.tag.layer]!++;
  return n;
}

const BWE_EXTENSIONS = [
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
];

/**
 * A viewer's PeerMedia whose transport is a DirectTransport in its outlet (no
 * ICE in a unit test), consuming the program. Without `bwe` its capabilities
 * leave out transport-cc and abs-send-time: mediasoup then runs no bandwidth
 * estimation for it and the consumer follows the preferred layer. With them,
 * mediasoup estimates as for a browser — but no feedback ever comes back over a
 * DirectTransport, so the estimate stays at mediasoup's initial 600 kbit/s.
 */
async function viewer(
  media: MediaService,
  stream: StreamRouter,
  o: { bwe?: boolean } = {},
): Promise<{ peer: PeerMedia; got: Received[]; consumer: types.Consumer }> {
  const seat = await media.seat(stream, { commentator: true });
  const peer = new PeerMedia(seat);
  cleanups.push(() => peer.close());
  const transport = await seat.outlet.router.createDirectTransport();
  peer.transports.set(transport.id, transport as unknown as types.WebRtcTransport);
  const caps = seat.outlet.rtpCapabilities;
  const rtpCapabilities = o.bwe
    ? caps
    : { ...caps, headerExtensions: (caps.headerExtensions ?? []).filter((e) => !BWE_EXTENSIONS.includes(e.uri)) };
  const [info] = await peer.consume(transport.id, rtpCapabilities as never);
  const consumer = peer.consumers.get(info!.id)!;
  const got = record(consumer);
  await peer.resumeConsumer(info!.id);
  return { peer, got, consumer };
}

describe('simulcast through the mesh', () => {
  it('a viewer gets the layer it prefers, switches with setPreferredLayers, and the HLS tap keeps the highest', async () => {
    const media = await startMedia();
    const stream = await media.getOrCreateStream('sim');
    const t0 = performance.now();
    const feed = await startFeed(stream, 1, t0);
    await stream.attachProgram({ id: 'origin-1', role: 'primary', producers: [feed.producer], label: 'whip:primary' });

    const stable = stream.programProducers()[0]!;
    expect(stable.type).toBe('simulcast');
    expect(stable.rtpParameters.encodings!.map((e) => e.ssrc)).toEqual([0, 1, 2].map((i) => STABLE_SSRC.video + i));

    const { peer, got, consumer } = await viewer(media, stream);
    expect(consumer.type).toBe('simulcast');
    expect(consumer.priority).toBe(2);
    const changes: (number | undefined)[] = [];
    peer.on('layerschange', (l) => changes.push(l.current?.spatialLayer));
    await until(() => peer.layers?.current?.spatialLayer === 2, 5000, 'the top layer');
    expect(peer.layers).toMatchObject({ spatialLayers: 3, temporalLayers: 1, preferred: { spatialLayer: 2 } });
    // Each layer described from its own key frames and timestamps (what a quality menu lists).
    await until(() => peer.layers!.layers.every((l) => l.height !== undefined), 3000, 'every layer described');
    expect(peer.layers!.layers).toEqual(LAYER_SIZES.map((size, i) => ({ spatialLayer: i, ...size, fps: 30 })));
    let from = performance.now();
    await sleep(1000);
    const top = perLayer(got, from);
    const bytesTop = got.filter((r) => r.at >= from).reduce((n, r) => n + r.bytes, 0);
    console.log(`simulcast: preferred 2 → packets per layer in 1 s ${JSON.stringify(top)}, ${bytesTop} bytes`);
    expect(top[0]! + top[1]!).toBe(0);
    expect(top[2]!).toBeGreaterThan(PACKETS[2]! * FPS * 0.7);

    // A viewer with bandwidth estimation (transport-cc) whose estimate is mediasoup's initial
    // 600 kbit/s: the top layer (~1 Mbit/s here) does not fit, so it gets the best that does.
    const limited = await viewer(media, stream, { bwe: true });
    expect(limited.consumer.rtpParameters.headerExtensions!.map((e) => e.uri)).toContain(BWE_EXTENSIONS[0]);
    await until(() => limited.peer.layers?.current?.spatialLayer !== undefined, 5000, 'the limited viewer');
    const t = performance.now() + 200;
    await sleep(1200);
    const fits = perLayer(limited.got, t);
    console.log(`simulcast: a viewer estimated at 600 kbit/s → packets per layer in 1 s ${JSON.stringify(fits)}`);
    expect(fits[2]).toBe(0);
    expect(fits[1]!).toBeGreaterThan(PACKETS[1]! * FPS * 0.7);
    limited.peer.close();

    // Down to the lowest: mediasoup switches on a key frame of that layer (and once the
    // Sender Reports let it align the layers' timestamps).
    const asked = performance.now();
    const layers = await peer.setPreferredLayers(0);
    expect(layers.preferred).toEqual({ spatialLayer: 0, temporalLayer: 0 });
    await until(() => peer.layers?.current?.spatialLayer === 0, 5000, 'layer 0');
    const switchMs = performance.now() - asked;
    from = performance.now() + 100;
    await sleep(1100);
    const low = perLayer(got, from);
    const bytesLow = got.filter((r) => r.at >= from).reduce((n, r) => n + r.bytes, 0);
    console.log(
      `simulcast: preferred 0 → on layer 0 after ${Math.round(switchMs)} ms; packets per layer in 1 s ${JSON.stringify(low)}, ${bytesLow} bytes`,
    );
    expect(low[1]! + low[2]!).toBe(0);
    expect(low[0]!).toBeGreaterThan(PACKETS[0]! * FPS * 0.7);
    expect(bytesLow).toBeLessThan(bytesTop / 10);
    // The viewer's single outgoing stream: one SSRC, sequence numbers without a gap across the switch.
    const out = got.filter((r) => r.tag);
    expect(new Set(out.map((r) => r.ssrc)).size).toBe(1);
    for (let i = 1; i < out.length; i++) expect((out[i]!.seq - out[i - 1]!.seq + 0x10000) % 0x10000).toBe(1);

    await peer.setPreferredLayers(1);
    await until(() => peer.layers?.current?.spatialLayer === 1, 5000, 'layer 1');
    expect(changes).toContain(0);
    expect(changes.at(-1)).toBe(1);
    await expect(peer.setPreferredLayers(3)).rejects.toMatchObject({ code: 'bad_request' });

    // The HLS tap: one layer, the highest, to a local UDP port.
    const udp = createSocket('udp4');
    cleanups.push(() => udp.close());
    const tapped: Tag[] = [];
    udp.on('message', (m) => {
      const tag = tagOf(m);
      if (tag) tapped.push(tag);
    });
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const tap = await PlainTap.open(stream, stream.programProducers(), { ip: '127.0.0.1', port: udp.address().port });
    cleanups.push(() => tap.close());
    await tap.requestKeyFrame();
    await until(() => tapped.length > 60, 5000, 'tapped packets');
    expect(new Set(tapped.map((t) => t.layer))).toEqual(new Set([2]));
  });

  it('a source reconnect keeps every layer continuous, and a source with fewer layers feeds the top ones', async () => {
    const media = await startMedia();
    const stream = await media.getOrCreateStream('reconnect');
    const t0 = performance.now();
    const first = await startFeed(stream, 1, t0);
    await stream.attachProgram({ id: 'origin-1', role: 'primary', producers: [first.producer], label: 'whip:primary' });
    const { got, layerOf } = await observeAll(stream);
    const { got: viewerGot, consumer: viewerConsumer } = await viewer(media, stream);
    await until(() => new Set(got.map((r) => r.ssrc)).size === 3 && got.length > 200, 5000, 'three layers');
    // The viewer is on the top layer before the reconnect (it starts on the first layer to flow and
    // switches at the top layer's next key frame: on a loaded machine that can be the new session's,
    // half a second in — the CI runs that failed here had never left layer 0 before the cut).
    await until(() => viewerConsumer.currentLayers?.spatialLayer === 2, 5000, 'the viewer on the top layer');

    // The origin's connection dies; it reconnects 300 ms later on the same media clock
    // (a WHIP session replacing a silent one: the new one attaches, the old closes).
    first.stop();
    await sleep(300);
    const second = await startFeed(stream, 2, t0);
    await stream.attachProgram({
      id: 'origin-2',
      role: 'primary',
      producers: [second.producer],
      label: 'whip:primary',
    });
    first.producer.close();
    const cut = performance.now();
    await until(
      () => [0, 1, 2].every((l) => got.some((r) => r.tag?.feed === 2 && r.tag.layer === l)),
      5000,
      'every layer from the new session',
    );
    await sleep(500);

    for (const l of [0, 1, 2]) {
      const stream_ = got.filter((r) => layerOf.get(r.ssrc) === l);
      const gaps = stream_.slice(1).filter((r, i) => (r.seq - stream_[i]!.seq + 0x10000) % 0x10000 !== 1).length;
      const tsSteps = stream_.slice(1).map((r, i) => (r.ts - stream_[i]!.ts + 2 ** 32) % 2 ** 32);
      const resumed = stream_.find((r) => r.tag?.feed === 2)!;
      console.log(
        `simulcast reconnect: layer ${l}: ${stream_.length} packets, ${gaps} sequence gaps, first packet of the new session ${Math.round(resumed.at - cut)} ms after it attached`,
      );
      expect(gaps, `layer ${l} sequence`).toBe(0);
      // Same timeline: every timestamp step is whole frames (the reconnect gap included), never backwards.
      for (const step of tsSteps) expect(step % 3000, `layer ${l} ts step`).toBe(0);
      // A layer's packets are its own after the splice too.
      expect(stream_.every((r) => r.tag?.layer === l)).toBe(true);
    }
    // The viewer's consumer carried on without re-consuming: one SSRC, sequence numbers without a gap.
    await until(() => viewerGot.some((r) => r.tag?.feed === 2), 3000, 'the viewer resumes');
    const seen = viewerGot.filter((r) => r.tag);
    expect(new Set(seen.map((r) => r.ssrc)).size).toBe(1);
    for (let i = 1; i < seen.length; i++) expect((seen[i]!.seq - seen[i - 1]!.seq + 0x10000) % 0x10000).toBe(1);
    const viewerLayers = (feed: number): number[] => {
      const n = [0, 0, 0];
      for (const r of viewerGot) if (r.tag?.feed === feed) n[r.tag.layer]!++;
      return n;
    };
    console.log(
      `simulcast reconnect: the viewer's packets per layer from the new session ${JSON.stringify(viewerLayers(2))}`,
    );
    // Around the splice mediasoup may forward a lower layer's key frame for a moment (seen: one
    // frame of layer 0); from the new session's first top-layer packet on it is the top layer only.
    const firstTop = viewerGot.findIndex((r) => r.tag?.feed === 2 && r.tag.layer === 2);
    expect(viewerGot.slice(firstTop).every((r) => !r.tag || r.tag.layer === 2)).toBe(true);
    // How long the stable producer's top layer was silent (the rig's feed runs in this process: on a
    // loaded machine its 300 ms pause can stretch). After 1.5 s of silence mediasoup marks a stream
    // inactive and its consumers climb back from the lowest layer as the layers resume (a 1.7 s
    // pause, measured: 1 + 2 packets of layers 0 and 1 first) — the product's behaviour then, not a
    // fault; below it, at most one frame of a lower layer.
    const topLayer = got.filter((r) => layerOf.get(r.ssrc) === 2);
    const resumedAt = topLayer.findIndex((r) => r.tag?.feed === 2);
    const silentMs = topLayer[resumedAt]!.at - topLayer[resumedAt - 1]!.at;
    console.log(`simulcast reconnect: the top layer was silent ${Math.round(silentMs)} ms`);
    const [low, mid] = viewerLayers(2) as [number, number];
    if (silentMs < MEDIASOUP_INACTIVITY_MS) expect(low + mid).toBeLessThanOrEqual(PACKETS[1]!);
    // After a long silence: lower layers for at most a second (frames of layers 0 and 1).
    else expect(low / PACKETS[0]! + mid / PACKETS[1]!).toBeLessThanOrEqual(FPS);

    // A later session with only the two best layers: layer 0 stops, layers 1 and 2 keep flowing.
    second.stop();
    await sleep(300);
    const third = await startFeed(stream, 3, t0, { layers: 2 });
    await stream.attachProgram({ id: 'origin-3', role: 'primary', producers: [third.producer], label: 'whip:primary' });
    second.producer.close();
    await until(() => got.some((r) => r.tag?.feed === 3), 5000, 'the two-layer session');
    const from = performance.now();
    await sleep(700);
    const counts = perLayer(got, from);
    console.log(
      `simulcast reconnect: a two-layer session → packets per stable layer in 0.7 s ${JSON.stringify(counts)}`,
    );
    expect(counts[0]).toBe(0);
    expect(counts[1]).toBeGreaterThan(20);
    expect(counts[2]).toBeGreaterThan(40);
    console.log(
      `simulcast reconnect: the viewer's packets per layer from the two-layer session ${JSON.stringify(viewerLayers(3))}`,
    );
    expect(viewerLayers(3)).toEqual([0, 0, expect.any(Number)]);
    expect(viewerLayers(3)[2]).toBeGreaterThan(20);
  });

  it('a pipe to another router and a fan-out worker carry every layer; a relay viewer picks its own', async () => {
    const media = await startMedia();
    const ingest = await media.getOrCreateStream('piped');
    const feed = await startFeed(ingest, 1, performance.now());
    await ingest.attachProgram({ id: 'origin-1', role: 'primary', producers: [feed.producer], label: 'whip:primary' });

    // A viewer seated on the other worker is served through the fan-out router's pipe: every layer there.
    let other = await media.seat(ingest);
    while (other.worker === ingest.pooled.index) other = await media.seat(ingest);
    expect(other.outlet).not.toBe(ingest);
    expect(other.outlet.programProducers()[0]!.rtpParameters.encodings).toHaveLength(3);
    const { got: fanned } = await observeAll(other.outlet);
    await until(
      () => [0, 1, 2].every((l) => fanned.some((r) => r.tag?.layer === l)),
      5000,
      'three layers on the fan-out',
    );

    // The relay is another node: its own worker (its pipe producers keep the ingest's producer ids).
    const relayMedia = await startMedia({ workers: 1 });
    const relay = await relayMedia.getOrCreateStream('piped');
    const listen = { ip: '127.0.0.1' };
    const pipeIn = await PipeIn.prepare(relay, listen, 'primary', 'ingest');
    const pipeOut = await PipeOut.open(ingest, listen, pipeIn.offer, { nodeId: 'relay', region: 'local' });
    cleanups.push(() => pipeOut.close());
    expect(pipeOut.answer.producers[0]!.rtpParameters.encodings).toHaveLength(3);
    await pipeIn.connect(pipeOut.answer);
    expect(pipeIn.producers[0]!.type).toBe('simulcast');
    const relayVideo = relay.programProducers()[0]!;
    expect(relayVideo.rtpParameters.encodings).toHaveLength(3);

    const { got } = await observeAll(relay);
    await until(() => [0, 1, 2].every((l) => got.some((r) => r.tag?.layer === l)), 5000, 'three layers on the relay');
    const from = performance.now();
    await sleep(1000);
    const piped = perLayer(got, from);
    console.log(`simulcast pipe: packets per layer on the relay in 1 s ${JSON.stringify(piped)}`);
    for (const [l, n] of piped.entries()) expect(n, `layer ${l}`).toBeGreaterThan(PACKETS[l]! * FPS * 0.7);

    const { peer, got: viewerGot } = await viewer(relayMedia, relay);
    await until(() => peer.layers?.current?.spatialLayer === 2, 5000, 'the relay viewer on the top layer');
    // The relay describes the layers from the media it receives: nothing rides along in the pipe.
    await until(() => peer.layers!.layers.every((l) => l.height !== undefined), 3000, 'the relay describes the layers');
    expect(peer.layers!.layers.map((l) => l.height)).toEqual([46, 90, 180]);
    await peer.setPreferredLayers(0);
    await until(() => peer.layers?.current?.spatialLayer === 0, 5000, 'the relay viewer on layer 0');
    const t = performance.now() + 100;
    await sleep(600);
    const low = perLayer(viewerGot, t);
    expect(low[1]! + low[2]!).toBe(0);
    expect(low[0]).toBeGreaterThan(10);
  });

  it("a viewer's key-frame request for its layer reaches the origin, spaced per interval", async () => {
    // The interval is configurable (MM_KEYFRAME_REQUEST_INTERVAL_MS, default 600): 500 here, as the bounds below.
    const media = await startMedia({ keyFrameIntervalMs: 500 });
    const stream = await media.getOrCreateStream('keyframes');
    const feed = await startFeed(stream, 1, performance.now());
    await stream.attachProgram({ id: 'origin-1', role: 'primary', producers: [feed.producer], label: 'whip:primary' });
    const { peer, consumer } = await viewer(media, stream);
    await peer.setPreferredLayers(0);
    await until(() => peer.layers?.current?.spatialLayer === 0, 5000, 'layer 0');
    await sleep(700); // past the splice's and the join's requests
    const before = feed.keyFrameRequests.length;
    const asked = performance.now();
    await consumer.requestKeyFrame();
    await until(() => feed.keyFrameRequests.length > before, 2000, 'a request at the origin');
    const first = feed.keyFrameRequests.slice(before);
    const layerZero = 0x1000 + 0;
    console.log(
      `simulcast key frames: the viewer's request on layer 0 reached the origin after ${Math.round(first[0]!.at - asked)} ms, for SSRCs ${[...new Set(first.map((r) => r.ssrc - 0x1000))].join(',')}`,
    );
    expect(first.some((r) => r.ssrc === layerZero)).toBe(true);
    expect(first[0]!.at - asked).toBeLessThan(200);
    // Another layer's viewer asks 100 ms later. Requests to one source are spaced by the interval:
    // whatever else asked just before (a layer switch's own request on a loaded machine), the origin
    // never gets two within 450 ms, and both asks are answered by a request within the next interval.
    const other = await viewer(media, stream);
    await until(() => other.peer.layers?.current?.spatialLayer === 2, 5000, 'the other viewer on layer 2');
    await sleep(700);
    const t = performance.now();
    await consumer.requestKeyFrame();
    await sleep(100);
    await other.consumer.requestKeyFrame();
    await sleep(900);
    // One origin request covers every layer of the source at once: group them by 50 ms.
    const instants: number[] = [];
    for (const r of feed.keyFrameRequests) {
      if (instants.length === 0 || r.at - instants.at(-1)! > 50) instants.push(r.at);
    }
    const around = instants.filter((at) => at >= t - 1000).map((at) => Math.round(at - t));
    console.log(`simulcast key frames: two layers asked at 0 and 100 ms → origin asked at ${around.join(', ')} ms`);
    const gaps = around.slice(1).map((at, i) => at - around[i]!);
    expect(gaps.every((g) => g >= 450)).toBe(true);
    const answered = around.filter((at) => at >= 100);
    expect(answered.length).toBeGreaterThanOrEqual(1);
    expect(answered[0]).toBeLessThanOrEqual(100 + 600);
  });

  it('a WHEP player consumes the simulcast program with a simulcast consumer; bad simulcast WHIP offers are a typed 422', async () => {
    const media = await startMedia({ simulcastMaxLayers: 2 });
    const stream = await media.getOrCreateStream('whep');
    const feed = await startFeed(stream, 1, performance.now());
    await stream.attachProgram({ id: 'origin-1', role: 'primary', producers: [feed.producer], label: 'whip:primary' });
    const whepOffer = ORIGIN_OFFER.replace('a=sendonly', 'a=recvonly')
      .replace('a=rtcp-fb:102 nack\r\n', 'a=rtcp-fb:102 nack\r\na=rtcp-fb:102 transport-cc\r\n')
      .replace(/a=rid:.*\r\n/g, '')
      .replace(/a=simulcast:.*\r\n/, '')
      // transport-cc at the id mediasoup's routers use (5): see the report on WHEP extension ids.
      .replace(
        `a=extmap:${RID_EXT} ${RID_URI}`,
        'a=extmap:5 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
      );
    const whep = await media.play('whep', whepOffer);
    expect(whep.consumers[0]!.type).toBe('simulcast');
    expect(whep.consumers[0]!.priority).toBe(2);
    expect(whep.layers).toMatchObject({ spatialLayers: 3, preferred: { spatialLayer: 2 } });
    expect(whep.consumers[0]!.rtpParameters.headerExtensions!.map((e) => e.uri)).toContain(
      'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    );
    expect(whep.answer).not.toMatch(/a=simulcast/);
    await whep.setPreferredLayers(1);
    expect(whep.layers!.preferred.spatialLayer).toBe(1);
    whep.close();

    // This node takes two layers: a three-layer offer is refused before anything is allocated.
    const routers = stream.pooled.routers.size;
    const err = await media.publish('whip-bad', ORIGIN_OFFER).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaError);
    expect(err).toMatchObject({ code: 'bad_simulcast', status: 422 });
    expect((err as Error).message).toMatch(/3 simulcast layers; this node takes at most 2/);
    const unknown = await media
      .publish('whip-bad', ORIGIN_OFFER.replace('a=simulcast:send f;h;q', 'a=simulcast:send f;x'))
      .catch((e: unknown) => e);
    expect(unknown).toMatchObject({ code: 'bad_simulcast', status: 422 });
    expect((unknown as Error).message).toMatch(/unknown rid "x"/);
    expect(media.whip.size).toBe(0);
    expect(stream.pooled.routers.size).toBeLessThanOrEqual(routers + 1);
  });
});
