import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_CODECS } from '../src/codecs.ts';
import { StableProgram } from '../src/stable/StableProgram.ts';
import { type Copy, framePacket, type Out, PACKETS_PER_FRAME, payloadOf } from './stableFixtures.ts';

/**
 * The dual path on the real mediasoup worker: two copies of one H.264 stream
 * (same packets, different SSRCs and sequence bases, as two pipes bring them)
 * attached as two paths of one merged source, each losing its own packets.
 * What leaves the stable producer: every packet once, in order, numbered
 * without a gap — the merge filled each path's losses from the other.
 */

const until = async (check: () => boolean, ms: number): Promise<void> => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** Output from index `from`: seq +1 each, and every frame whole and in order (no frame skipped or repeated). */
function assertSeamless(out: Out[], from: number): void {
  const slice = out.slice(from);
  for (let i = 1; i < slice.length; i++) {
    expect((slice[i]!.seq - slice[i - 1]!.seq + 0x10000) % 0x10000, `seq step at ${i}`).toBe(1);
    const [a, b] = [slice[i - 1]!, slice[i]!];
    if (a.marker) {
      expect(b.frame, `frame after ${a.frame}`).toBe(a.frame + 1);
      expect(b.k).toBe(0);
      expect(b.ts - a.ts).toBe(3000);
    } else {
      expect(b.frame, `packet after ${a.frame}/${a.k}`).toBe(a.frame);
      expect(b.k).toBe(a.k + 1);
      expect(b.ts).toBe(a.ts);
    }
  }
}

describe('a merged source (dual path) on the real worker', () => {
  let worker: types.Worker;
  let router: types.Router | undefined;
  let timer: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'error' });
  });

  afterAll(() => {
    clearInterval(timer);
    router?.close();
    worker?.close();
  });

  it('sends every packet once and in order while each path loses a different one in seven', async () => {
    router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const h264 = router.rtpCapabilities.codecs!.find(
      (c) => c.mimeType === 'video/H264' && c.parameters?.['profile-level-id'] === '42e01f',
    )!;
    const src = await router.createDirectTransport();
    const copies: Copy[] = [];
    for (const [i, seq] of [1000, 60_000].entries()) {
      const producer = await src.produce({
        kind: 'video',
        rtpParameters: {
          codecs: [{ mimeType: 'video/H264', payloadType: 102, clockRate: 90000, parameters: h264.parameters }],
          encodings: [{ ssrc: 7000 + i }],
        },
      });
      copies.push({ producer, seq, ssrc: 7000 + i, on: true });
    }
    const program = new StableProgram(await router.createDirectTransport(), router.rtpCapabilities, { stream: 't' });
    await program.attach({ id: 'dual', role: 'primary', producers: [copies[0]!.producer], label: 'a', path: 'a' });
    await program.attach({ id: 'dual', role: 'primary', producers: [copies[1]!.producer], label: 'b', path: 'b' });
    expect(program.status().sources.map((s) => s.id)).toEqual(['dual']);
    const sink = await router.createDirectTransport();
    const consumer = await sink.consume({
      producerId: program.producers()[0]!.id,
      rtpCapabilities: router.rtpCapabilities,
    });
    const out: Out[] = [];
    consumer.on('rtp', (p) => {
      const payload = payloadOf(p);
      out.push({
        seq: p.readUInt16BE(2),
        ts: p.readUInt32BE(4),
        frame: payload[0] === 0x67 ? (p.readUInt32BE(4) - 90_000) / 3000 : payload[2]!,
        k: payload[0] === 0x67 ? 0 : payload[3]!,
        marker: (p[1]! & 0x80) !== 0,
        at: performance.now(),
      });
    });
    let frame = 0;
    const t0 = performance.now();
    // Packet by packet, each copy in turn; a path's lost packet still takes its number on that path.
    timer = setInterval(() => {
      while (frame < 200 && frame < Math.floor(((performance.now() - t0) * 30) / 1000)) {
        for (let k = 0; k < PACKETS_PER_FRAME; k++) {
          const n = frame * PACKETS_PER_FRAME + k;
          for (const [i, c] of copies.entries()) {
            const packet = framePacket(frame, k, c);
            if (n % 7 !== (i === 0 ? 3 : 5)) c.producer.send(packet);
          }
        }
        frame++;
      }
    }, 5);
    await until(() => out.length > 0 && out.at(-1)!.frame >= 150, 15_000);
    // From the first key frame the consumer forwarded: seamless.
    assertSeamless(out, 0);
    expect(out.length).toBeGreaterThan(400);
    const report = program.mergeReport('dual')!;
    expect(report.missing).toBe(0);
    const a = report.paths.get('a')!;
    const b = report.paths.get('b')!;
    // Each path won what the other lost (and a won the rest: it sends first).
    expect(b.won).toBeGreaterThan(out.length / 10);
    expect(a.won + b.won).toBeGreaterThanOrEqual(out.length);
    expect(program.sourceAlive('b', 500)).toBe(true);
    program.close();
  });
});
