import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser, Page } from 'playwright-core';
import { parse } from 'sdp-transform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { CI_LADDER, startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { type RtcProxy, startRtcProxy } from '../src/rtc-proxy.ts';
import { longestFreezeSince, pageNow, startFrameClock, waitForPresentedFrames } from '../src/viewer.ts';
import { whepFrameSize, whepWatchInPage } from '../src/webrtc-page.ts';

/*
 * Issue 14 item 2, its last part: a WHEP player gets the best layer its bandwidth
 * estimate allows. The origin agent publishes the CI ladder (640x360 / 320x180 /
 * 160x90) to one node; a bare RTCPeerConnection in Chromium plays it over WHEP
 * through the user-space link of test/src/rtc-proxy.ts. The player offers its own
 * header-extension ids (Chromium: transport-cc 4), which mediasoup's consumer
 * keeps and its worker writes (worker-build patches): the consumer has
 * transport-cc, so it follows the player's estimate down a constrained link and
 * back up. Frame sizes are read from the <video> element and from getStats.
 */
const TCC = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';

describe('a WHEP player gets the best layer its bandwidth estimate allows', () => {
  const stream = 'whep-layers';
  let redis: RedisServer;
  let node: TestNode;
  let link: RtcProxy;
  let origin: ManagedProcess;
  let browser: Browser;

  beforeAll(async () => {
    redis = await startRedisServer();
    // Players reach the node's WebRtcServer through the shaped link at 127.0.0.2 (the origin's WHIP too:
    // the shaped direction, node → client, carries only its RTCP).
    node = await startNode(redis.url, { MM_ANNOUNCED_ADDRESS: '127.0.0.2' });
    link = await startRtcProxy('127.0.0.2', node.rtcPort);
    origin = await startOrigin(node.url, stream, { MM_LADDER: CI_LADDER, MM_KEYFRAME_INTERVAL_MS: '500' });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    await link?.close();
    await node?.stop();
    await redis?.stop();
  });

  /** Wait until the picture's height (element and decoder agreeing) passes `test`; the ms it took. */
  const waitForHeight = async (page: Page, test: (h: number) => boolean, timeout: number): Promise<number> => {
    const t0 = Date.now();
    for (;;) {
      const size = await whepFrameSize(page);
      if (size.videoHeight === size.statsHeight && test(size.videoHeight)) return Date.now() - t0;
      if (Date.now() - t0 > timeout) throw new Error(`picture ${JSON.stringify(size)} after ${timeout} ms`);
      await page.waitForTimeout(100);
    }
  };

  it('plays the top layer unconstrained, steps down on a constrained link and keeps decoding, and climbs back', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${node.url}/healthz`);
      const { offer, answer } = await whepWatchInPage(
        page,
        `${node.url}/whep/${stream}`,
        await token('viewer', stream),
      );
      // The answer negotiates transport-cc with the player's own id (no id given another meaning: Chromium
      // refuses that), and the codec's transport-cc feedback: the node will estimate the player's bandwidth.
      const offered = parse(offer).media[0]!;
      const answered = parse(answer).media[0]!;
      const offeredTcc = offered.ext!.find((e) => e.uri === TCC)!.value;
      expect(answered.ext).toContainEqual({ value: offeredTcc, uri: TCC });
      for (const e of answered.ext ?? []) expect(offered.ext!.find((o) => o.value === e.value)?.uri).toBe(e.uri);
      expect(answered.rtcpFb?.map((fb) => fb.type)).toContain('transport-cc');

      // Unconstrained: the top layer.
      const topMs = await waitForHeight(page, (h) => h === 360, 30_000);
      await startFrameClock(page);
      // Same-run floor: the longest freeze over three seconds of unconstrained play.
      const floorFrom = await pageNow(page);
      await waitForPresentedFrames(page, floorFrom, 90, 20_000);
      const floor = (await longestFreezeSince(page, floorFrom)).gapMs;

      // Still on the top layer when the limit comes (the estimate's own probing may have dipped meanwhile).
      await waitForHeight(page, (h) => h === 360, 15_000);
      // 450 kbit/s with a 150 ms buffer: the top layer (600 kbit/s) cannot pass, the middle one (300) can.
      const from = await pageNow(page);
      link.shape('down', { rateKbps: 450, queueMs: 150 });
      const stepDownMs = await waitForHeight(page, (h) => h > 0 && h < 360, 20_000);
      // It kept playing on the lower layer: 3 s of the 30 fps picture presented within 20 s of the limit.
      await waitForPresentedFrames(page, from, 90, 20_000);
      const constrained = await longestFreezeSince(page, from);
      const settled = await whepFrameSize(page);
      const shaped = link.shapeStats('down');

      link.shape('down', {});
      const climbMs = await waitForHeight(page, (h) => h === 360, 45_000);
      const after = await pageNow(page);
      await waitForPresentedFrames(page, after, 30, 10_000);
      console.log(
        `WHEP constrained link: 360p ${topMs} ms after the answer; stepped down after ${stepDownMs} ms ` +
          `(to ${settled.videoHeight}p); longest freeze ${Math.round(constrained.gapMs)} ms over ${constrained.framesAfter} frames ` +
          `(floor ${Math.round(floor)} ms; ${shaped.overflow} packets dropped at the bottleneck); ` +
          `back to 360p ${climbMs} ms after the limit was lifted`,
      );
      // The freeze while the estimate steps down stays under a WebRTC player's patience (2 s), above this
      // run's floor; the goal is 1 s, the README gives where it stands.
      expect(constrained.gapMs - floor).toBeLessThan(2000);
    } finally {
      link.shape('down', {});
      await page.close();
    }
  });
});
