import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import { type ManagedProcess, waitForMessage } from '../src/processes.ts';

/*
 * Issue 20: a key frame on demand, rate-limited. The origin agent encodes with
 * GStreamer's x264 and forces a key frame on the ingest's PLI; the mesh lets at
 * most one request per stream through per MM_KEYFRAME_REQUEST_INTERVAL_MS.
 * The origin's GOP is long (6 s) so a first frame that waited for it is
 * unmistakable; forced key frames are counted at the encoder (agent /status).
 */

const GOP_MS = 6000;
const INTERVAL_MS = 300;
const API_TOKEN = 'origin-api-token-for-tests';

interface KeyFrameStats {
  received: number;
  forwarded: number;
  forced: number[];
  periodic: number[];
  lastAtMs: number | undefined;
  forcedAtMs: number[];
}

describe('key frames on demand', () => {
  const stream = 'keyframes';
  let redis: RedisServer;
  let node: TestNode;
  let origin: ManagedProcess;
  let originApi: string;
  let browser: Browser;

  const keyFrames = async (): Promise<KeyFrameStats & { encoder: string }> => {
    const res = await fetch(`${originApi}/status`, { headers: { Authorization: `Bearer ${API_TOKEN}` } });
    const stats = (await res.json()) as { keyFrames: KeyFrameStats; encoder: string };
    return { ...stats.keyFrames, encoder: stats.encoder };
  };

  /** The origin's state, re-read until `ok` (another process: its status is the event). */
  const until = async (ok: (k: KeyFrameStats) => boolean, what: string, timeoutMs = 20_000) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const k = await keyFrames();
      if (ok(k)) return k;
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(k)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    node = await startNode(redis.url, { MM_KEYFRAME_REQUEST_INTERVAL_MS: String(INTERVAL_MS) });
    origin = await startOrigin(node.url, stream, {
      MM_KEYFRAME_INTERVAL_MS: String(GOP_MS),
      MM_ORIGIN_ENCODER: 'gstreamer',
      ORIGIN_API_TOKEN: API_TOKEN,
      MM_SCORE_INTERVAL_MS: '1000',
    });
    originApi = (await waitForMessage<{ type: string; url: string }>(origin, 'api')).url;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    await node?.stop();
    await redis?.stop();
  });

  it('a viewer joining early in a 6 s GOP gets its first frame from a forced key frame, seconds before the periodic one', async () => {
    const first = await until((k) => k.lastAtMs !== undefined, 'the first key frame');
    expect(first.encoder).toBe('gstreamer');
    // Join right after a key frame: the next periodic one is a whole GOP away.
    const fresh = await until(
      (k) => k.lastAtMs! > first.lastAtMs! || Date.now() - k.lastAtMs! < 500,
      'a fresh key frame',
    );
    const periodicDue = fresh.lastAtMs! + GOP_MS;
    const page = await browser.newPage();
    const navigatedAt = Date.now();
    await page.goto(`${node.url}/watch?stream=${stream}&token=${await token('viewer', stream)}`);
    await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 1, undefined, { timeout: 30_000 });
    const firstFrameAt = Date.now();
    const after = await keyFrames();
    console.log(
      `keyframe e2e: first frame ${firstFrameAt - navigatedAt} ms after navigation, ${periodicDue - firstFrameAt} ms before the periodic key frame was due; forced ${after.forced[0]! - fresh.forced[0]!}, requests ${after.received - fresh.received}`,
    );
    // Honoured: a forced key frame came, and the picture long before the GOP would have brought one.
    expect(after.forced[0]).toBeGreaterThan(fresh.forced[0]!);
    expect(firstFrameAt).toBeLessThan(periodicDue - 1000);
    await page.close();
  });

  it(`a join storm (40 WHEP viewers in 1 s) forces at most one key frame per ${INTERVAL_MS} ms interval, counted at the encoder`, async () => {
    const before = await keyFrames();
    const JOINS = 40;
    const page = await browser.newPage();
    const started = Date.now();
    // Each viewer's transport connecting is a key-frame request (mediasoup asks when a consumer becomes active).
    const connected = await page.evaluate(
      async ({ whepUrl, token, joins }) => {
        const one = async (i: number): Promise<boolean> => {
          await new Promise((r) => setTimeout(r, (i * 1000) / joins));
          const pc = new RTCPeerConnection();
          pc.addTransceiver('video', { direction: 'recvonly' });
          await pc.setLocalDescription(await pc.createOffer());
          const res = await fetch(whepUrl, {
            method: 'POST',
            headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
            body: pc.localDescription!.sdp,
          });
          if (res.status !== 201) return false;
          await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
          const ok = await new Promise<boolean>((resolve) => {
            const check = () => {
              if (pc.connectionState === 'connected') resolve(true);
              if (pc.connectionState === 'failed') resolve(false);
            };
            pc.onconnectionstatechange = check;
            check();
            setTimeout(() => resolve(false), 15_000);
          });
          // Leave once the request is made: decoding 40 streams would only load the machine.
          setTimeout(() => pc.close(), 500);
          return ok;
        };
        const results = await Promise.all(Array.from({ length: joins }, (_, i) => one(i)));
        return results.filter(Boolean).length;
      },
      { whepUrl: `${node.url}/whep/${stream}`, token: await token('viewer', stream), joins: JOINS },
    );
    const stormMs = Date.now() - started;
    expect(connected).toBe(JOINS);
    // The last request the mesh held back goes out at the end of its interval: wait until it was answered.
    const settled = await until(
      (k) => k.forwarded > before.forwarded && Date.now() - Math.max(...k.forcedAtMs) > INTERVAL_MS * 3,
      'the storm answered',
    );
    await page.close();
    const forced = settled.forcedAtMs.filter((at) => at >= started);
    const gaps = forced.slice(1).map((at, i) => at - forced[i]!);
    const spanMs = Math.max(...forced) - started;
    console.log(
      `keyframe e2e: ${JOINS} WHEP joins connected in ${stormMs} ms → ${forced.length} forced key frames at the encoder over ${spanMs} ms (gaps ${gaps.join(', ')} ms); ${settled.received - before.received} requests reached the agent`,
    );
    expect(forced.length).toBeGreaterThanOrEqual(1);
    // At most one per interval. The gaps are stamped as each key frame leaves x264: a frame (33 ms) of
    // slack for where the frame boundary falls, and as much again for a loaded machine's scheduling.
    expect(forced.length).toBeLessThanOrEqual(Math.floor(spanMs / INTERVAL_MS) + 1);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(INTERVAL_MS - 70);
  });
});
