// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestNode, token } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { TestSignaling } from '../src/signaling.ts';

/*
 * Rewind everywhere (issue 18 item 5): a relay with MM_HLS_ALWAYS (as the
 * manifests deploy relays) records a stream's HLS window from the moment its
 * region copy arrives — here brought by a WebRTC viewer — so the first HLS
 * request, seconds later, already finds that much to rewind into.
 */
describe('a relay records the HLS window of the streams it holds before any HLS request', () => {
  const stream = 'recmatch';
  const relayDir = mkdtempSync(path.join(os.tmpdir(), 'mm-hls-rec-'));
  let redis: RedisServer;
  let ingest: TestNode;
  let relay: TestNode;
  let origin: ManagedProcess;

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, { MM_NODE_ID: 'rec-ingest', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    relay = await startNode(redis.url, {
      MM_NODE_ID: 'rec-asia-1',
      MM_ROLES: 'relay',
      MM_REGION: 'asia',
      MM_HLS_DIR: relayDir,
      MM_HLS_ALWAYS: '*',
    });
    origin = await startOrigin(ingest.url, stream);
  }, 60_000);

  afterAll(async () => {
    await origin?.stop();
    for (const n of [relay, ingest]) await n?.stop();
    await redis?.stop();
    rmSync(relayDir, { recursive: true, force: true });
  });

  /** Media segments the relay wrote so far (every rendition folder). */
  const segments = (): number => {
    const dir = path.join(relayDir, stream);
    if (!existsSync(dir)) return 0;
    const count = (d: string): number =>
      readdirSync(d, { withFileTypes: true }).reduce(
        (n, e) => n + (e.isDirectory() ? count(path.join(d, e.name)) : /^seg-\d+\.m4s$/.test(e.name) ? 1 : 0),
        0,
      );
    return count(dir);
  };

  it('the first HLS request finds the window recorded since the region copy arrived', async () => {
    // A WebRTC viewer's join brings the region copy (the relay pulls it); nobody asks for HLS.
    const viewerToken = await token('viewer', stream);
    let joined = false;
    const signaling = await TestSignaling.connect(relay.url);
    for (let i = 0; i < 60 && !joined; i++) {
      joined = (await signaling.request('join', { stream, token: viewerToken })).ok;
      if (!joined) await new Promise((r) => setTimeout(r, 500));
    }
    expect(joined).toBe(true);
    const copyAt = Date.now();
    // The relay writes segments with no HLS request: wait for 8 s of them (1 s segments).
    const deadline = Date.now() + 30_000;
    while (segments() < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(segments()).toBeGreaterThanOrEqual(8);
    const recordedMs = Date.now() - copyAt;

    // Now the first HLS request: the media playlist already spans what was recorded.
    const master = await fetch(`${relay.url}/hls/${stream}/index.m3u8?token=${viewerToken}`);
    expect(master.status).toBe(200);
    const mediaUri = (await master.text()).split('\n').find((l) => l.trim() && !l.startsWith('#'))!;
    const media = await (await fetch(new URL(mediaUri, `${relay.url}/hls/${stream}/`))).text();
    const seconds = [...media.matchAll(/#EXTINF:([\d.]+)/g)].reduce((s, m) => s + Number(m[1]), 0);
    console.log(
      `relay recording: ${seconds.toFixed(1)} s in the window at the first HLS request, ${recordedMs} ms after the region copy came`,
    );
    expect(seconds).toBeGreaterThanOrEqual(7);
    signaling.close();
  });
});
