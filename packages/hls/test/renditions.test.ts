import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { MEDIA_CODECS, silentLogger } from '@matchmesh/sfu';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HlsStream } from '../src/HlsStream.ts';
import { renderMediaPlaylist, renderMultivariant } from '../src/playlist.ts';
import { type Feed, LAYERS, standIn, startFeed } from './simulcast-feed.ts';

/**
 * The HLS ladder with real parts: the real mediasoup worker and the real
 * Debian ffmpeg (simulcast-feed.ts: a producer with three encodings on a
 * PlainTransport, fed by one ffmpeg encoding three aligned H.264 layers).
 * HlsStream gets a minimal stand-in for the StreamRouter surface it uses
 * (the stable program carrying simulcast is another branch's work).
 */

const exec = promisify(execFile);

const consoleLog = {
  debug: (o: object, m?: string) => console.log('debug', m, JSON.stringify(o)),
  info: (o: object, m?: string) => console.log('info', m, JSON.stringify(o)),
  warn: (o: object, m?: string) => console.log('warn', m, JSON.stringify(o)),
  error: (o: object, m?: string) => console.log('error', m, JSON.stringify(o)),
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(100);
  }
  return cond();
}

describe('HLS ladder: a rendition per simulcast layer (real worker, real ffmpeg)', () => {
  let worker: types.Worker;
  let router: types.Router;
  let feed: Feed;
  let hls: HlsStream;
  let dir: string;

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    feed = await startFeed(router);
    dir = await mkdtemp(path.join(os.tmpdir(), 'mm-hls-ladder-'));
    hls = new HlsStream(
      standIn(router, [feed.producer, feed.audio]),
      {
        dir: path.join(dir, 'ladder'),
        ffmpegPath: 'ffmpeg',
        partMs: 200,
        segmentMs: 1000,
        targetDuration: 2,
        windowMinutes: 5,
        maxBytes: 1 << 30,
        audioBitrateKbps: 64,
      },
      process.env.HLS_TEST_LOG ? consoleLog : silentLogger,
    );
    await hls.start();
  }, 60_000);

  afterAll(async () => {
    await hls?.close();
    feed?.close();
    worker?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('packages three renditions, each consumer pinned to its layer, listed with RESOLUTION, CODECS, FRAME-RATE and bandwidths', async () => {
    const ok = await until(
      () => hls.renditions.every((r) => r.store.segments.filter((s) => s.complete).length >= 3),
      20_000,
    );
    if (!ok || process.env.HLS_TEST_LOG) {
      for (const r of hls.renditions) {
        const c = r.tap?.consumers.find((x) => x.kind === 'video');
        console.log('rendition', r.index, {
          relay: r.relay?.packets,
          layers: c?.currentLayers,
          layerOk: r.layerOk,
          dropped: r.dropped,
          run: !!r.run,
          rtp0: r.run?.rtp0,
          fwd: r.run?.forwarding,
          segs: r.store.segments.length,
          period: r.store.period,
          stats: (await c?.getStats())?.map((x) => [x.packetCount, x.score]),
          dump: JSON.stringify(await c?.dump())
            .replace(/"rtpParameters".*?"type"/, '"type"')
            .slice(0, 1500),
        });
      }
      console.log(
        'producer stats',
        (await feed.producer.getStats()).map((x) => [x.ssrc, x.packetCount, x.score]),
        feed.counts,
        feed.stderr(),
      );
    }
    expect(ok).toBe(true);
    expect(hls.renditions.map((r) => r.index)).toEqual([0, 1, 2]);
    // A PlainTransport has no bandwidth estimation: each consumer stays on its preferred layer.
    for (const r of hls.renditions) {
      const consumer = r.tap!.consumers.find((c) => c.kind === 'video')!;
      expect(consumer.type).toBe('simulcast');
      expect(consumer.preferredLayers?.spatialLayer).toBe(r.index);
      expect(consumer.currentLayers?.spatialLayer).toBe(r.index);
    }
    const variants = hls.variants('t/TOKEN/');
    const text = renderMultivariant(variants);
    console.log(`multivariant playlist as served:\n${text}`);
    expect(variants.map((v) => `${v.width}x${v.height}`)).toEqual(['640x360', '320x180', '160x90']);
    expect(variants.map((v) => v.uri)).toEqual([
      't/TOKEN/r2/media.m3u8',
      't/TOKEN/r1/media.m3u8',
      't/TOKEN/r0/media.m3u8',
    ]);
    for (const v of variants) {
      expect(v.codecs[0]).toMatch(/^avc1\.42[0-9a-f]{4}$/);
      expect(v.codecs[1]).toBe('mp4a.40.2');
      expect(v.frameRate).toBe(30);
      expect(v.averageBandwidth).toBeGreaterThan(30_000);
      expect(v.bandwidth).toBeGreaterThanOrEqual(v.averageBandwidth!);
    }
    // Higher layers cost more.
    expect(variants[0]!.averageBandwidth!).toBeGreaterThan(variants[2]!.averageBandwidth!);
    const lines = text.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('#EXT-X-STREAM-INF:'))).toHaveLength(3);
    expect(lines[3]).toMatch(
      /^#EXT-X-STREAM-INF:BANDWIDTH=\d+,AVERAGE-BANDWIDTH=\d+,CODECS="avc1\.42[0-9a-f]{4},mp4a\.40\.2",RESOLUTION=640x360,FRAME-RATE=30\.000$/,
    );
  }, 40_000);

  it('cuts every rendition at the same media times with the same numbers, and one score anchor serves all', async () => {
    const [a, b, c] = hls.renditions.map((r) => r.store.segments.filter((s) => s.complete));
    const common = a!.map((s) => s.msn).filter((m) => b!.some((s) => s.msn === m) && c!.some((s) => s.msn === m));
    expect(common.length).toBeGreaterThanOrEqual(2);
    for (const msn of common) {
      const times = [a, b, c].map((list) => list!.find((s) => s.msn === msn)!);
      expect(Math.abs(times[0]!.mediaTimeMs - times[1]!.mediaTimeMs)).toBeLessThan(1);
      expect(Math.abs(times[0]!.mediaTimeMs - times[2]!.mediaTimeMs)).toBeLessThan(1);
      expect(times[0]!.pdtMs).toBe(times[2]!.pdtMs);
      expect(times.every((s) => s.independent)).toBe(true);
    }
    expect(hls.renditions.map((r) => r.store.discontinuitySequence)).toEqual([0, 0, 0]);
    // The anchor: decode time 10 s (the packager's offset) is the reference key frame, mediaTime >= 100 s.
    expect(hls.scores.anchors).toHaveLength(1);
    expect(hls.scores.anchors[0]!.mediaTime).toBeGreaterThanOrEqual(100_000);
    expect(hls.scores.anchors[0]!.msn).toBe(Math.min(...hls.renditions.map((r) => r.store.segments[0]!.msn)));
  });

  it('each media playlist advances with parts and a preload hint', async () => {
    const before = hls.renditions.map((r) => r.store.lastMsn);
    await sleep(2500);
    for (const [i, r] of hls.renditions.entries()) {
      expect(r.store.lastMsn).toBeGreaterThan(before[i]!);
      const text = renderMediaPlaylist({
        segments: r.store.segments,
        discontinuitySequence: r.store.discontinuitySequence,
        targetDuration: hls.targetDuration,
        partTarget: hls.partTarget,
        hint: hls.preloadHint(r),
        skip: false,
      });
      expect(text).toMatch(/#EXT-X-PART:DURATION=0\.\d+,URI="part-\d+\.\d+\.m4s",INDEPENDENT=YES/);
      expect(text).toMatch(/#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-\d+\.\d+\.m4s"/);
      expect(text).toMatch(/^seg-\d+\.m4s$/m);
    }
  }, 10_000);

  it('ffmpeg decodes each rendition at its size, every frame of its segments', async () => {
    for (const r of hls.renditions) {
      const segs = r.store.segments.filter((s) => s.complete && s.data && s.period === 0);
      const file = path.join(dir, `r${r.index}.mp4`);
      await writeFile(file, Buffer.concat([r.store.inits.get(0)!, ...segs.map((s) => s.data!)]));
      const { stdout } = await exec('ffprobe', [
        '-v',
        'error',
        '-count_frames',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=width,height,nb_read_frames',
        '-of',
        'json',
        file,
      ]);
      const s = JSON.parse(stdout).streams[0] as { width: number; height: number; nb_read_frames: string };
      const layer = LAYERS[r.index]!;
      expect([s.width, s.height]).toEqual([layer.w, layer.h]);
      const seconds = segs.reduce((n, x) => n + x.duration, 0);
      expect(Number(s.nb_read_frames)).toBeGreaterThan(seconds * 30 * 0.9);
      expect(Number(s.nb_read_frames)).toBeLessThan(seconds * 30 * 1.1 + 2);
      // A full decode with no error, audio included.
      const { stderr } = await exec('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
      expect(stderr.trim()).toBe('');
    }
  }, 30_000);

  it('drops a rendition whose layer stops arriving without disturbing the others, and lists it again when it returns', async () => {
    const lows = hls.renditions.slice(0, 2);
    const lowDiscontinuities = lows.map((r) => r.store.discontinuitySequence);
    feed.mute(2, true);
    // mediasoup marks the silent stream inactive, the pinned consumer moves off layer 2.
    expect(await until(() => hls.rendition(2)!.dropped, 10_000)).toBe(true);
    expect(hls.variants().map((v) => v.height)).toEqual([180, 90]);
    const before = lows.map((r) => r.store.lastMsn);
    await sleep(2500);
    lows.forEach((r, i) => {
      expect(r.store.lastMsn).toBeGreaterThan(before[i]!);
      expect(r.store.segments.some((s) => s.discontinuity)).toBe(false);
      expect(r.store.discontinuitySequence).toBe(lowDiscontinuities[i]);
      expect(r.dropped).toBe(false);
    });
    feed.mute(2, false);
    expect(await until(() => hls.rendition(2)!.listed, 15_000)).toBe(true);
    expect(hls.variants().map((v) => v.height)).toEqual([360, 180, 90]);
    // Back on the shared numbering: its first segment starts where the others' segment of that msn does.
    const top = hls.rendition(2)!.store.segments[0]!;
    expect(await until(() => hls.rendition(0)!.store.find(top.msn) !== undefined, 3000)).toBe(true);
    expect(Math.abs(hls.rendition(0)!.store.find(top.msn)!.mediaTimeMs - top.mediaTimeMs)).toBeLessThan(1);
  }, 40_000);
});
