import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_CODECS } from '../src/codecs.ts';
import { DelayedProgram } from '../src/delay/DelayedProgram.ts';
import { type Copy, framePacket, PACKETS_PER_FRAME, payloadOf } from './stableFixtures.ts';

/**
 * A WHEP language's delay line on the real worker: a synthetic H.264 program (30 fps, a key frame every
 * 15 frames) sent into a producer, the delay line built on it, and a consumer of the delayed producer
 * (a player's). What comes out, when, and where a player's key-frame request goes. No timing bound is
 * asserted beyond "not before the hold" (a loaded machine only ever adds).
 */
describe('DelayedProgram (a WHEP language delay line)', () => {
  let worker: types.Worker;

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'error' });
  });
  afterAll(() => worker?.close());

  async function rig(holdMs: number) {
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const h264 = router.rtpCapabilities.codecs!.find(
      (c) => c.mimeType === 'video/H264' && c.parameters?.['profile-level-id'] === '42e01f',
    )!;
    const src = await router.createDirectTransport();
    const source = await src.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [
          {
            mimeType: 'video/H264',
            payloadType: 102,
            clockRate: 90000,
            parameters: h264.parameters,
            rtcpFeedback: [{ type: 'nack', parameter: 'pli' }],
          },
        ],
        encodings: [{ ssrc: 7000 }],
      },
    });
    const sourcePlis: number[] = [];
    src.on('rtcp', (p) => {
      if (p[1] === 206 && (p[0]! & 0x1f) === 1 && p.readUInt32BE(8) === 7000) sourcePlis.push(performance.now());
    });
    const line = await DelayedProgram.create(router, [source], 'en', holdMs, { stream: 't' });
    const sink = await router.createDirectTransport();
    const player = await sink.consume({ producerId: line.producers()[0]!.id, rtpCapabilities: router.rtpCapabilities });
    const out: { frame: number; k: number; at: number }[] = [];
    player.on('rtp', (p) => {
      const payload = payloadOf(p);
      const frame = (p.readUInt32BE(4) - 90_000) / 3000;
      out.push({ frame, k: payload[0] === 0x67 ? 0 : payload[3]!, at: performance.now() });
    });
    const copy: Copy = { producer: source, seq: 100, ssrc: 7000, on: true };
    const sentAt: number[] = [];
    let frame = 0;
    const t0 = performance.now();
    const timer = setInterval(() => {
      while (frame < Math.floor(((performance.now() - t0) * 30) / 1000)) {
        sentAt[frame] = performance.now();
        for (let k = 0; k < PACKETS_PER_FRAME; k++) source.send(framePacket(frame, k, copy));
        frame++;
      }
    }, 5);
    return {
      line,
      player,
      out,
      sentAt,
      sourcePlis,
      close: () => {
        clearInterval(timer);
        line.close();
        router.close();
      },
    };
  }

  const until = async (check: () => boolean, ms = 5000) => {
    const end = performance.now() + ms;
    while (!check()) {
      if (performance.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('gives the player every packet in order, each at least the hold after it was sent', async () => {
    const r = await rig(250);
    try {
      await until(() => r.out.length >= 30 * PACKETS_PER_FRAME);
      const frames = r.out.map((o) => o.frame * PACKETS_PER_FRAME + o.k);
      // In order and without a gap, from the first key frame the consumer forwarded on.
      for (let i = 1; i < frames.length; i++) expect(frames[i]).toBe(frames[i - 1]! + 1);
      for (const o of r.out) expect(o.at - r.sentAt[o.frame]!).toBeGreaterThanOrEqual(250 - 1);
      expect(r.line.stats).toMatchObject({ targetMs: 250, dropped: 0 });
    } finally {
      r.close();
    }
  });

  it("passes a player's key-frame request up to the program, and closes what players hold when closed", async () => {
    const r = await rig(100);
    try {
      await until(() => r.out.length > 0);
      const before = r.sourcePlis.length;
      await r.player.requestKeyFrame();
      await until(() => r.sourcePlis.length > before);
      r.line.setHold(0);
      expect(r.line.stats.targetMs).toBe(0);
      r.line.close();
      await until(() => r.player.closed);
      expect(r.line.producers().every((p) => p.closed)).toBe(true);
    } finally {
      r.close();
    }
  });
});
