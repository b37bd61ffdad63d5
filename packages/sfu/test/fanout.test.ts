import { once } from 'node:events';
import type { ScoreUpdate } from '@matchmesh/protocol';
import type { types } from 'mediasoup';
import { afterEach, describe, expect, it } from 'vitest';
import { MediaError } from '../src/errors.ts';
import { silentLogger } from '../src/logger.ts';
import { MediaService, type Seat } from '../src/MediaService.ts';
import type { StreamOutlet } from '../src/StreamOutlet.ts';
import type { StreamRouter } from '../src/StreamRouter.ts';
import { WorkerPool } from '../src/WorkerPool.ts';
import { freePortRange } from './free-ports.ts';

/**
 * One stream's viewers spread over a node's workers (issue 13), on real
 * mediasoup workers: worker choice and capacity, one pipe per producer per
 * worker whatever the burst, media and scores through a fan-out router, the
 * linger close, and a fan-out worker's crash leaving the source's viewers alone.
 */

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function startMedia(o: { viewersPerWorker?: number; lingerMs?: number } = {}): Promise<MediaService> {
  const pool = await WorkerPool.create({
    size: 2,
    listenIp: '127.0.0.1',
    basePort: await freePortRange(2),
    rtcMinPort: 20_000,
    rtcMaxPort: 59_999,
    viewersPerWorker: o.viewersPerWorker ?? 0,
  });
  const media = new MediaService(pool, silentLogger, { fanoutLingerMs: o.lingerMs ?? 30_000 });
  cleanups.push(() => media.close());
  return media;
}

/**
 * A live program for `stream`: one H.264 producer fed from Node with a frame
 * (one single-NAL packet) every 10 ms, a key frame every 10th — a video
 * consumer forwards nothing before its first key frame.
 */
async function feedProgram(stream: StreamRouter): Promise<void> {
  const h264 = stream.rtpCapabilities.codecs!.find((c) => c.mimeType === 'video/H264')!;
  const input = await stream.router.createDirectTransport();
  const producer = await input.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/H264', payloadType: 102, clockRate: 90000, parameters: h264.parameters }],
      encodings: [{ ssrc: 4242 }],
    },
  });
  await stream.attachProgram({ id: 'feed', role: 'primary', producers: [producer], label: 'test feed' });
  let seq = 1;
  const timer = setInterval(() => {
    const b = Buffer.alloc(17);
    b[0] = 0x80;
    b[1] = 0x80 | 102; // marker: each packet is a whole frame
    b.writeUInt16BE(seq & 0xffff, 2);
    b.writeUInt32BE((seq * 900) >>> 0, 4);
    b.writeUInt32BE(4242, 8);
    // mediasoup takes a packet carrying an SPS for a key frame's start; the rest are P slices.
    b.set(seq % 10 === 1 ? [0x67, 0x42, 0xe0, 0x1f, 0xda] : [0x41, 0x9a, 0x00, 0x00, 0x00], 12);
    seq++;
    if (!producer.closed) producer.send(b);
  }, 10);
  cleanups.push(() => clearInterval(timer));
}

/** RTP packets the outlet's program video delivers to a plain consumer in its router. */
async function tapVideo(outlet: StreamOutlet): Promise<{ count: () => number; more: (n: number) => Promise<void> }> {
  const video = outlet.programProducers().find((p) => p.kind === 'video');
  if (!video) throw new Error('the outlet has no program video');
  const sink = await outlet.router.createDirectTransport();
  const consumer = await sink.consume({ producerId: video.id, rtpCapabilities: outlet.rtpCapabilities });
  let count = 0;
  const waiters: { at: number; resolve: () => void }[] = [];
  consumer.on('rtp', () => {
    count++;
    for (const w of waiters.filter((w) => count >= w.at)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    count: () => count,
    more: (n) => new Promise<void>((resolve) => waiters.push({ at: count + n, resolve })),
  };
}

function closing(outlet: StreamOutlet): Promise<void> {
  return new Promise((resolve) => outlet.once('close', resolve));
}

function score(stream: string, seq: number): ScoreUpdate {
  const player = { name: `p${seq}`, frames: 0, points: seq };
  return {
    stream,
    seq,
    mediaTime: seq,
    sentAt: Date.now(),
    score: { players: [player, player], raceTo: 9, frame: 1, atTable: 0 },
  };
}

describe('fan-out across workers', () => {
  it('seats each viewer on the least-loaded worker with room (the source worker wins a tie) and refuses a full node', async () => {
    const media = await startMedia({ viewersPerWorker: 2 });
    const stream = await media.getOrCreateStream('choice');
    await feedProgram(stream);
    const source = stream.pooled.index;
    const seats: Seat[] = [];
    for (let i = 0; i < 4; i++) seats.push(await media.seat(stream));
    expect(seats.map((s) => s.worker)).toEqual([source, 1 - source, source, 1 - source]);
    expect(seats[0]!.outlet).toBe(stream);
    expect(seats[1]!.outlet).not.toBe(stream);
    expect(seats[3]!.outlet).toBe(seats[1]!.outlet);
    expect(media.pool.workerLoads().map((w) => w.viewers)).toEqual([2, 2]);

    expect(media.pool.hasRoom()).toBe(false);
    const refused = await media.seat(stream).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MediaError);
    expect((refused as MediaError).code).toBe('node_full');
    expect((refused as MediaError).status).toBe(503);
    // A commentator talks where the program enters, full or not.
    const booth = await media.seat(stream, { commentator: true });
    expect(booth.outlet).toBe(stream);
    booth.release();

    seats[1]!.release();
    seats[1]!.release(); // twice is once
    expect(media.pool.workerLoads()[1 - source]!.viewers).toBe(1);
    expect((await media.seat(stream)).worker).toBe(1 - source);
  });

  it('pipes each producer once per worker under a burst of joins, and media and scores reach the fan-out', async () => {
    const media = await startMedia();
    const stream = await media.getOrCreateStream('burst');
    await feedProgram(stream);
    const seats = await Promise.all(Array.from({ length: 20 }, () => media.seat(stream)));
    const counts = [0, 0];
    for (const s of seats) counts[s.worker]!++;
    expect(counts).toEqual([10, 10]);

    const fanouts = await stream.fanouts();
    expect(fanouts).toHaveLength(1);
    const fanout = fanouts[0]!;
    expect(fanout.users).toBe(10);
    // Exactly one pipe transport (plus the score's direct transport) however many joined at once.
    const dump = await fanout.router.dump();
    expect(dump.transportIds).toHaveLength(2);
    // Same producer ids as the source: a viewer moved between workers sees the same program.
    expect(fanout.programProducers().map((p) => p.id)).toEqual(stream.programProducers().map((p) => p.id));

    const tap = await tapVideo(fanout);
    await tap.more(20);

    const dcSink = await fanout.router.createDirectTransport();
    const dc = await dcSink.consumeData({ dataProducerId: fanout.scoreProducer.id });
    const got: number[] = [];
    const five = new Promise<void>((resolve) =>
      dc.on('message', (m) => {
        got.push((JSON.parse(m.toString()) as ScoreUpdate).seq);
        if (got.length === 5) resolve();
      }),
    );
    for (let seq = 1; seq <= 5; seq++) stream.ingestScore(score('burst', seq));
    await five;
    expect(got).toEqual([1, 2, 3, 4, 5]);
  });

  it('gives WHEP players one router per worker and codec set, with their own producer ids', async () => {
    const media = await startMedia();
    const stream = await media.getOrCreateStream('whep');
    await feedProgram(stream);
    const h264 = stream.rtpCapabilities.codecs!.find((c) => c.mimeType === 'video/H264')!;
    const codecs = (pt: number): types.RouterRtpCodecCapability[] => [
      {
        kind: 'video',
        mimeType: 'video/H264',
        clockRate: 90000,
        preferredPayloadType: pt,
        parameters: h264.parameters,
      },
    ];
    const a = await media.seat(stream, { mediaCodecs: codecs(102) });
    const b = await media.seat(stream, { mediaCodecs: codecs(102) });
    const c = await media.seat(stream, { mediaCodecs: codecs(108) });
    expect(a.worker).not.toBe(b.worker);
    const sameWorker = [a, b].find((s) => s.worker === c.worker)!;
    expect(c.outlet).not.toBe(sameWorker.outlet);
    expect(c.outlet.rtpCapabilities.codecs![0]!.preferredPayloadType).toBe(108);
    // Never the source router (its payload types are not the player's), and never its ids.
    for (const s of [a, b, c]) {
      expect(s.outlet).not.toBe(stream);
      expect(s.outlet.programProducers()[0]!.id).not.toBe(stream.programProducers()[0]!.id);
    }
    await (await tapVideo(c.outlet)).more(10);
  });

  it('closes a fan-out router nobody used for the linger time, and builds it again for the next viewer', async () => {
    const media = await startMedia({ lingerMs: 50 });
    const stream = await media.getOrCreateStream('linger');
    await feedProgram(stream);
    const other = media.pool.workers.find((w) => w !== stream.pooled)!;
    const baseline = other.routers.size;
    await media.seat(stream); // on the source worker
    const seat = await media.seat(stream);
    expect(seat.worker).toBe(other.index);
    const fanout = seat.outlet;
    expect(other.routers.size).toBe(baseline + 1);
    const closed = closing(fanout);
    seat.release();
    await closed;
    expect(fanout.closed).toBe(true);
    expect(other.routers.size).toBe(baseline);
    expect(await stream.fanouts()).toHaveLength(0);

    const again = await media.seat(stream);
    expect(again.worker).toBe(other.index);
    expect(again.outlet).not.toBe(fanout);
    await (await tapVideo(again.outlet)).more(10);
  });

  it("a fan-out worker's crash closes only its outlet: the source worker's viewers keep receiving", async () => {
    const media = await startMedia();
    const stream = await media.getOrCreateStream('crash');
    await feedProgram(stream);
    const onSource = await media.seat(stream);
    const onOther = await media.seat(stream);
    expect(onSource.outlet).toBe(stream);
    const sourceTap = await tapVideo(onSource.outlet);
    await (await tapVideo(onOther.outlet)).more(5);

    const closed = closing(onOther.outlet);
    const respawned = once(media.pool, 'workerrespawned');
    const victim = media.pool.workers.find((w) => w.index === onOther.worker)!;
    process.kill(victim.worker.pid, 'SIGKILL');
    await closed;
    await sourceTap.more(30);
    expect(stream.closed).toBe(false);
    await respawned;
    // The respawned worker takes viewers again, through a new fan-out router.
    const back = await media.seat(stream);
    expect(back.worker).toBe(onOther.worker);
    await (await tapVideo(back.outlet)).more(10);
  });

  it('a join that finds the node full while a crashed worker respawns waits for it instead of being refused', async () => {
    const media = await startMedia({ viewersPerWorker: 1 });
    const stream = await media.getOrCreateStream('respawn');
    await feedProgram(stream);
    const onSource = await media.seat(stream);
    const onOther = await media.seat(stream);
    const closed = closing(onOther.outlet);
    const victim = media.pool.workers.find((w) => w.index === onOther.worker)!;
    process.kill(victim.worker.pid, 'SIGKILL');
    await closed;
    onOther.release();
    // The moved viewer rejoins at once: the source worker is full, the other one is not back yet.
    expect(media.pool.workers.some((w) => w.index === onOther.worker)).toBe(false);
    expect(media.pool.hasRoom()).toBe(true);
    const back = await media.seat(stream);
    expect(back.worker).toBe(onOther.worker);
    await (await tapVideo(back.outlet)).more(5);
    // Nothing respawning and every worker full: refused at once, as before.
    const refused = await media.seat(stream).catch((e: unknown) => e);
    expect((refused as MediaError).code).toBe('node_full');
    onSource.release();
  });
});
