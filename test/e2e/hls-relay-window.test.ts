// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { FIRST_MSN } from '@matchmesh/hls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestNode, token } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';

/**
 * HLS is packaged where the viewers are: an ingest-only node takes the
 * match, a relay of the asia region brings its region's copy over the mesh
 * on the first HLS request and packages it there. The relay runs with a
 * tiny disk cap and a short linger: the stream's folder never exceeds the
 * cap while segments keep coming, old segments leave the playlist and 404,
 * and with no request the packager stops and its folder is removed.
 */
describe('HLS on a relay: region copy, disk cap, linger', () => {
  const stream = 'capmatch';
  const cap = 1024 * 1024;
  const relayDir = mkdtempSync(path.join(os.tmpdir(), 'mm-hls-relay-'));
  let redis: RedisServer;
  let ingest: TestNode;
  let relay: TestNode;
  let origin: ManagedProcess;
  let viewerToken: string;

  const base = (): string => `${relay.url}/hls/${stream}/t/${viewerToken}/`;
  const streamDir = (): string => path.join(relayDir, stream);

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, { MM_NODE_ID: 'hls-ingest', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    relay = await startNode(redis.url, {
      MM_NODE_ID: 'hls-asia-1',
      MM_ROLES: 'relay',
      MM_REGION: 'asia',
      MM_HLS_DIR: relayDir,
      MM_HLS_MAX_BYTES: String(cap),
      MM_HLS_LINGER_MS: '3000',
    });
    origin = await startOrigin(ingest.url, stream);
    viewerToken = await token('viewer', stream);
  });

  afterAll(async () => {
    await origin?.stop();
    await relay?.stop();
    await ingest?.stop();
    await redis?.stop();
    rmSync(relayDir, { recursive: true, force: true });
  });

  it('the first HLS request on the relay brings the region copy and packages it there', async () => {
    let res: Response | undefined;
    for (let i = 0; i < 30; i++) {
      res = await fetch(`${relay.url}/hls/${stream}/index.m3u8?token=${viewerToken}`);
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(res?.status).toBe(200);
    expect(existsSync(streamDir())).toBe(true);
    const pipes = (await (
      await fetch(`${relay.url}/api/v1/pipes`, {
        headers: { authorization: `Bearer ${await token('admin', '*')}` },
      })
    ).json()) as unknown;
    expect(JSON.stringify(pipes)).toContain(stream);
  });

  it('keeps the stream folder under the byte cap while the window slides', async () => {
    let maxBytes = 0;
    let samples = 0;
    const end = Date.now() + 20_000;
    let playlist = '';
    while (Date.now() < end) {
      // Act like a player: keep requesting, so the linger does not stop it.
      playlist = await (await fetch(`${base()}media.m3u8`)).text();
      maxBytes = Math.max(maxBytes, folderBytes(streamDir()));
      samples++;
      await new Promise((r) => setTimeout(r, 200));
    }
    console.info(`[hls] folder max ${maxBytes} bytes over ${samples} samples (cap ${cap})`);
    expect(maxBytes).toBeGreaterThan(cap / 4);
    expect(maxBytes).toBeLessThanOrEqual(cap);
    const firstMsn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)![1]);
    expect(firstMsn).toBeGreaterThan(FIRST_MSN);
    // Outside the window (the stream's first segment): 404 problem, and the node carries on.
    const gone = await fetch(`${base()}seg-${FIRST_MSN}.m4s`);
    expect(gone.status).toBe(404);
    expect(gone.headers.get('content-type')).toContain('application/problem+json');
    const newest = [...playlist.matchAll(/^(seg-\d+\.m4s)$/gm)].at(-1)![1]!;
    expect((await fetch(`${base()}${newest}`)).status).toBe(200);
  });

  it('stops packaging after the linger with no request and removes the folder', async () => {
    const end = Date.now() + 15_000;
    while (existsSync(streamDir()) && Date.now() < end) await new Promise((r) => setTimeout(r, 250));
    expect(existsSync(streamDir())).toBe(false);
    // A new request starts it again.
    const again = await fetch(`${relay.url}/hls/${stream}/index.m3u8?token=${viewerToken}`);
    expect(again.status).toBe(200);
  });
});

/** Bytes of the files beneath `dir` (each rendition packages into its own r<layer>/ folder). */
function folderBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const name of readdirSync(dir)) {
    try {
      const p = path.join(dir, name);
      const st = statSync(p);
      total += st.isDirectory() ? folderBytes(p) : st.size;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}
