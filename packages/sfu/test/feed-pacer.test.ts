import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_CODECS } from '../src/codecs.ts';
import { FeedPacer } from '../src/stable/FeedPacer.ts';

/**
 * The feed pacer on the real worker: a key frame's burst of video packets and
 * an audio packet sent right after it, as the stable program sends them. The
 * worker handles its channel in order, so what reaches a consumer first shows
 * what the worker was given first.
 */

const VIDEO_SSRC = 0x1111;
const AUDIO_SSRC = 0x2222;
const BURST = 40;
const WINDOW = 3;

function rtp(pt: number, seq: number, ts: number, ssrc: number, payload: number[]): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = 0x80 | pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  Buffer.from(payload).copy(b, 12);
  return b;
}

/** An SPS as a single NAL unit (mediasoup's key-frame mark): no consumer waits for a key frame. */
const idr = (seq: number) => rtp(102, seq, 90_000 + seq * 10, VIDEO_SSRC, [0x67, 0x42, seq & 0xff, 0x1f]);
const opus = (seq: number) => rtp(100, seq, 48_000 + seq * 960, AUDIO_SSRC, [0xf8, 0xff, 0xfe]);

/** The RTP payload, past CSRCs and any header extension the consumer adds. */
function payloadOf(p: Buffer): Buffer {
  let off = 12 + 4 * (p[0]! & 0x0f);
  if (p[0]! & 0x10) off += 4 + 4 * p.readUInt16BE(off + 2);
  return p.subarray(off);
}

let worker: types.Worker;
beforeAll(async () => {
  worker = await mediasoup.createWorker({ logLevel: 'error' });
});
afterAll(() => worker.close());

interface Rig {
  feed: types.DirectTransport;
  caps: types.RtpCapabilities;
  video: types.Producer;
  audio: types.Producer;
  /** Arrivals at the sink, in order: 'v<sender's seq>' and 'a'. */
  arrivals: string[];
  close(): void;
}

async function rig(): Promise<Rig> {
  const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
  const h264 = router.rtpCapabilities.codecs!.find(
    (c) => c.mimeType === 'video/H264' && c.parameters?.['profile-level-id'] === '42e01f',
  )!;
  const feed = await router.createDirectTransport();
  const video = await feed.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/H264', payloadType: 102, clockRate: 90000, parameters: h264.parameters }],
      encodings: [{ ssrc: VIDEO_SSRC }],
    },
  });
  const audio = await feed.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc: AUDIO_SSRC }],
    },
  });
  const sink = await router.createDirectTransport();
  const arrivals: string[] = [];
  for (const [tag, producer] of [
    ['v', video],
    ['a', audio],
  ] as const) {
    const consumer = await sink.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    // The consumer renumbers; a video payload carries the sender's sequence number.
    consumer.on('rtp', (p) => arrivals.push(tag === 'v' ? `v${payloadOf(p)[2]}` : 'a'));
  }
  return { feed, caps: router.rtpCapabilities, video, audio, arrivals, close: () => router.close() };
}

async function clock(pacer: FeedPacer, r: Rig): Promise<void> {
  // The first packets pass straight through; the pacer is clocked by the first loopback.
  pacer.send(idr(0));
  await expect.poll(() => pacer.clocked).toBe(true);
  await expect.poll(() => r.arrivals.includes('v0')).toBe(true);
  r.arrivals.length = 0;
}

describe('feed pacer', () => {
  it('lets audio sent after a key frame burst reach the worker before the burst is through, and loses or reorders nothing', async () => {
    const r = await rig();
    const pacer = await FeedPacer.create(r.feed, r.video, r.caps, WINDOW);
    try {
      await clock(pacer, r);
      for (let s = 1; s <= BURST; s++) pacer.send(idr(s));
      r.audio.send(opus(1));
      await expect.poll(() => r.arrivals.length).toBe(BURST + 1);
      const audioAt = r.arrivals.indexOf('a');
      console.log(
        `audio sent after a ${BURST}-packet burst arrived ${audioAt}th (window ${WINDOW}); held ${pacer.held}`,
      );
      // At most the window's packets were in the worker's channel ahead of it.
      expect(audioAt).toBeLessThanOrEqual(WINDOW);
      expect(pacer.held).toBe(BURST - WINDOW);
      const video = r.arrivals.filter((a) => a.startsWith('v'));
      expect(video).toEqual(Array.from({ length: BURST }, (_, i) => `v${i + 1}`));
    } finally {
      pacer.close();
      r.close();
    }
  });

  it('without it the same audio waits behind the whole burst (the baseline the pacer removes)', async () => {
    const r = await rig();
    try {
      r.video.send(idr(0));
      await expect.poll(() => r.arrivals.includes('v0')).toBe(true);
      r.arrivals.length = 0;
      for (let s = 1; s <= BURST; s++) r.video.send(idr(s));
      r.audio.send(opus(1));
      await expect.poll(() => r.arrivals.length).toBe(BURST + 1);
      expect(r.arrivals.indexOf('a')).toBe(BURST);
    } finally {
      r.close();
    }
  });

  it('a loopback that never comes does not stall the feed: the window reopens', async () => {
    const r = await rig();
    const pacer = await FeedPacer.create(r.feed, r.video, r.caps, WINDOW);
    try {
      await clock(pacer, r);
      // A paused producer forwards nothing: no loopback will come for these.
      await r.video.pause();
      for (let s = 1; s <= 10; s++) pacer.send(idr(s));
      await expect.poll(() => pacer.backlog, { timeout: 3_000 }).toBe(0);
      expect(pacer.timeouts).toBeGreaterThan(0);
      await r.video.resume();
      pacer.send(idr(11));
      await expect.poll(() => r.arrivals.includes('v11')).toBe(true);
    } finally {
      pacer.close();
      r.close();
    }
  });
});
