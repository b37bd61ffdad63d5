import type { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MEDIA_CODECS, silentLogger } from '@matchmesh/sfu';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HlsStream } from '../src/HlsStream.ts';
import { type Feed, standIn, startFeed } from './simulcast-feed.ts';

/** Whether a process is still there (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A node shutting down closes its sessions before its packagers: the stream's
 * router closes, which closes its HlsStream, and then the node closes HLS. That
 * second close() must resolve only once every ffmpeg has exited too — the node
 * exits right after, and an ffmpeg not yet gone would outlive it (seen in e2e
 * hls-relay-record: the relay's ffmpeg, orphaned, still reading its RTP for
 * seconds after the node was gone). Real worker, real ffmpeg.
 */
describe('HlsStream.close after the stream closed it', () => {
  let worker: types.Worker;
  let router: types.Router;
  let feed: Feed;
  let dir: string;

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    feed = await startFeed(router);
    dir = await mkdtemp(path.join(os.tmpdir(), 'mm-hls-close-'));
  }, 60_000);

  afterAll(async () => {
    feed?.close();
    worker?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('resolves only once every ffmpeg it started has exited', async () => {
    const source = standIn(router, [feed.producer, feed.audio]);
    const hls = new HlsStream(
      source,
      {
        dir: path.join(dir, 'closing'),
        ffmpegPath: 'ffmpeg',
        partMs: 200,
        segmentMs: 1000,
        targetDuration: 2,
        windowMinutes: 5,
        maxBytes: 1 << 30,
        audioBitrateKbps: 64,
      },
      silentLogger,
    );
    await hls.start();
    const pids = hls.renditions.map((r) => r.run?.packager.pid).filter((p): p is number => p !== undefined);
    expect(pids.length).toBeGreaterThan(0);
    expect(pids.every(alive)).toBe(true);

    // The stream's router closes (the node's sessions went), which closes the packaging...
    (source as unknown as EventEmitter).emit('close');
    // ...and then the node closes HLS: by then, every ffmpeg has exited.
    await hls.close();
    expect(pids.filter(alive)).toEqual([]);
  }, 30_000);
});
