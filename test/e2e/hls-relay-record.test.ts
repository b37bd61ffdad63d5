// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { latencyFromClock } from '@matchmesh/origin';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { type HlsFrame, hlsFrames, openHlsPage, waitForHlsFrames } from '../src/hls-page.ts';
import { scrapeMetrics } from '../src/metrics.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { TestSignaling } from '../src/signaling.ts';

/*
 * Rewind everywhere (issue 18 item 5): a relay with MM_HLS_ALWAYS (as the
 * manifests deploy relays) records a stream's HLS window from the moment its
 * region copy arrives — here brought by a viewer's signaling join — so the
 * first HLS request, a minute later, already finds a minute to rewind into,
 * and hls.js plays it 60 s back (burned-in clock and program date-time), then
 * back at the live edge.
 */
describe('a relay records the HLS window of the streams it holds before any HLS request', () => {
  const stream = 'recmatch';
  const relayDir = mkdtempSync(path.join(os.tmpdir(), 'mm-hls-rec-'));
  let redis: RedisServer;
  let ingest: TestNode;
  let relay: TestNode;
  let origin: ManagedProcess;
  let browser: Browser | undefined;
  let player: { close(): Promise<void> } | undefined;
  let signaling: TestSignaling | undefined;

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
    signaling?.close();
    await player?.close();
    await browser?.close();
    await origin?.stop();
    for (const n of [relay, ingest]) await n?.stop();
    await redis?.stop();
    rmSync(relayDir, { recursive: true, force: true });
  });

  /**
   * Seconds of stream the relay has written to disk so far, read from the files
   * (no HTTP, so not an HLS request): from the first media segment's completion to
   * the newest's, in the rendition folder holding the most segments.
   */
  const recordedSpanSeconds = (): number => {
    const folders = new Map<string, number[]>();
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/^seg-\d+\.m4s$/.test(e.name)) folders.set(d, [...(folders.get(d) ?? []), statSync(p).mtimeMs]);
      }
    };
    const dir = path.join(relayDir, stream);
    if (existsSync(dir)) walk(dir);
    const times = [...folders.values()].sort((a, b) => b.length - a.length)[0] ?? [];
    return times.length < 2 ? 0 : (Math.max(...times) - Math.min(...times)) / 1000;
  };

  it('a minute after the region copy came, the first HLS request rewinds 60 s and plays there, then back to live', async () => {
    // A viewer's signaling join brings the region copy (the relay pulls it); nobody asks for HLS.
    const viewerToken = await token('viewer', stream);
    let joined = false;
    signaling = await TestSignaling.connect(relay.url);
    for (let i = 0; i < 60 && !joined; i++) {
      joined = (await signaling.request('join', { stream, token: viewerToken })).ok;
      if (!joined) await new Promise((r) => setTimeout(r, 500));
    }
    expect(joined).toBe(true);
    const copyAt = Date.now();
    // The point of the test: 62 s of recording with no HLS request at all (the files are polled, not the relay).
    const deadline = Date.now() + 120_000;
    while (recordedSpanSeconds() < 62 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
    expect(recordedSpanSeconds()).toBeGreaterThanOrEqual(62);
    const quietMs = Date.now() - copyAt;
    // The relay served no HLS byte yet: every HLS response is counted as egress.
    expect((await scrapeMetrics(relay.url)).get('mm_cost_bytes{carrier="hls"}')).toBe(0);

    // Now the first HLS request: the media playlist already spans the minute recorded.
    const indexUrl = `${relay.url}/hls/${stream}/index.m3u8?token=${viewerToken}`;
    const master = await fetch(indexUrl);
    expect(master.status).toBe(200);
    const mediaUri = (await master.text()).split('\n').find((l) => l.trim() && !l.startsWith('#'))!;
    const media = await (await fetch(new URL(mediaUri, `${relay.url}/hls/${stream}/`))).text();
    const seconds = [...media.matchAll(/#EXTINF:([\d.]+)/g)].reduce((s, m) => s + Number(m[1]), 0);
    console.log(
      `relay recording: ${seconds.toFixed(1)} s in the window at the first HLS request, ${quietMs} ms after the region copy came`,
    );
    expect(seconds).toBeGreaterThanOrEqual(60);

    // A real player on that relay: hls.js starts at the live edge...
    browser = await launchChromium();
    const opened = await openHlsPage(browser, indexUrl);
    player = opened;
    const { page } = opened;
    const playerState = async (): Promise<string> =>
      JSON.stringify(await page.evaluate(() => [window.__hls!.state(), window.__hls!.warnings.slice(-20)]));
    await waitForHlsFrames(page, 10).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\nplayer: ${await playerState()}`);
    });
    // The newest frame drawn on time (a late callback may have drawn a newer one than it describes).
    const beforeSeek = await hlsFrames(page);
    const live = beforeSeek.findLast((f) => f.late < 100) ?? beforeSeek.at(-1)!;
    // ...then seeks 60 s back and plays there.
    const from = await page.evaluate(() => window.__hls!.currentTime());
    const target = from - 60;
    const seekAt = Date.now();
    await page.evaluate((t) => window.__hls!.seek(t), target);
    await page.waitForFunction((t) => Math.abs(window.__hls!.currentTime() - t) < 5, target + 1, { timeout: 30_000 });
    await waitForHlsFrames(page, 15, 30_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\nplayer: ${await playerState()}`);
    });
    // The frames presented back there (a live frame drawn while the seek was under way is not one).
    const replayed = async (): Promise<HlsFrame[]> =>
      (await hlsFrames(page)).filter((f) => f.wall >= seekAt && f.mediaTime < from - 30);
    const first = (await replayed())[0];
    if (!first) throw new Error(`no frame presented back there\nplayer: ${await playerState()}`);
    // currentTime advances from there: two more seconds of the rewound minute play.
    await page.waitForFunction((t) => window.__hls!.currentTime() >= t, first.mediaTime + 2, { timeout: 30_000 });
    const played = await replayed();

    // A callback that runs late (a loaded machine) may draw a newer frame than the one it describes: the
    // picture is judged on the frames drawn on time (all of them if too few were).
    const onTime = (frames: HlsFrame[]): HlsFrame[] => {
      const ok = frames.filter((f) => f.late < 100);
      return ok.length >= 15 ? ok : frames;
    };
    const judged = onTime(played);
    const M = 2 ** 32;
    const clockBackMs = (newer: HlsFrame, older: HlsFrame): number => (((newer.clock - older.clock) % M) + M) % M;
    // How far back the picture is, by its burned-in clock, from the picture at the position the seek left
    // (`from`), carried to the seek's target: 60 s (± a 1 s segment) when the right minute plays.
    const pictureBack = (f: HlsFrame): number =>
      (clockBackMs(live, f) + (from - live.mediaTime) * 1000) / 1000 + (f.mediaTime - target);
    const backs = judged.map(pictureBack);
    // The playlist's program date-time says the same: the frame's PDT is as far back as its clock.
    const pdtVsClock = judged.map((f) => (live.pdt! - f.pdt!) / 1000 - clockBackMs(live, f) / 1000);
    console.log(
      `relay rewind: sought ${(from - target).toFixed(1)} s back, landed at ${(first.mediaTime - target).toFixed(2)} s from the target; ` +
        `the picture is ${Math.min(...backs).toFixed(2)}..${Math.max(...backs).toFixed(2)} s back by the burned-in clock ` +
        `(${judged.length}/${played.length} frames judged), program date-time vs clock ${Math.min(...pdtVsClock).toFixed(2)}..${Math.max(...pdtVsClock).toFixed(2)} s; ` +
        `${latencyFromClock(first.clock, first.wall)} ms behind the wall clock (live was ${latencyFromClock(live.clock, live.wall)} ms)`,
    );
    expect(Math.abs(first.mediaTime - target)).toBeLessThanOrEqual(1);
    expect(played.length).toBeGreaterThanOrEqual(15);
    for (const back of backs) {
      expect(back).toBeGreaterThanOrEqual(59);
      expect(back).toBeLessThanOrEqual(61);
    }
    expect(live.pdt).not.toBeNull();
    for (const f of judged) expect(f.pdt).not.toBeNull();
    for (const d of pdtVsClock) expect(Math.abs(d)).toBeLessThanOrEqual(1);

    // Back to live: hls.js's live position (not further back than the playlist's edge less its target latency).
    await page.evaluate(() => {
      const sync = window.__hls!.liveSyncPosition();
      const end = window.__hls!.seekableEnd();
      const edge = window.__hls!.liveEdge();
      const to = Math.max(
        sync ?? 0,
        end === null ? 0 : end - 1.5,
        edge === null ? 0 : edge.edge - (edge.targetLatency ?? 3),
      );
      if (to > 0) window.__hls!.seek(to);
    });
    await page.waitForFunction((t) => window.__hls!.currentTime() >= t, from + 2, { timeout: 30_000 });
    const back = await waitForHlsFrames(page, 30, 30_000);
    const behindBefore = latencyFromClock(played.at(-1)!.clock, played.at(-1)!.wall);
    const behindAfter = latencyFromClock(back.at(-1)!.clock, back.at(-1)!.wall);
    console.log(
      `relay rewind: back to live, ${behindAfter} ms behind the wall clock (${behindBefore} ms in the replay)`,
    );
    // The picture left the minute behind: it is (at least) 50 s nearer live than in the replay.
    expect(behindBefore - behindAfter).toBeGreaterThanOrEqual(50_000);
    expect(await page.evaluate(() => window.__hls!.errors)).toEqual([]);
  });
});
