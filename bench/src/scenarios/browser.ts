// Scenarios 3 and 4 — glass-to-glass latency and time to first frame, in
// headless Debian Chromium watching the real viewer page (/watch, the
// mediasoup-client WebRTC path) on a real node fed by the real origin agent.
//
// Glass-to-glass: the origin burns its wall clock (ms mod 2^32) into row 1 of
// the strips (apps/origin/src/pattern-layout.ts); on every presented frame
// (requestVideoFrameCallback) the page draws the strip onto a canvas, decodes
// the clock and subtracts it from its own Date.now() — same machine, same
// clock. It includes encode, packetisation, the node, decode and render.
//
// HLS is measured beside WebRTC when the node serves /hls (it prints "not
// available" otherwise). g2g and ttff share one set of processes.
import { CLOCK_ROW_Y, PATTERN_WIDTH, STRIP_BITS, STRIP_CELL } from '@matchmesh/origin';
import { hlsMultivariantPath } from '@matchmesh/protocol';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../../test/src/browser.ts';
// For its `window.__mm` global declaration (the viewer page's test hook).
import '../../../test/src/viewer.ts';
import { Mesh, type TestNode, token } from '../mesh.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from '../registry.ts';
import { mean, percentile, ratio, sleep } from '../stats.ts';

const STREAM = 'bench-g2g';

interface Env {
  mesh: Mesh;
  node: TestNode;
  browser: Browser;
  users: number;
}

let shared: Promise<Env> | undefined;

async function acquire(ctx: ScenarioContext): Promise<Env> {
  shared ??= (async () => {
    const mesh = await Mesh.start();
    const node = await mesh.node({ MM_NODE_ID: 'bench-g2g-1', MM_WORKERS: '1' });
    await mesh.origin(node, STREAM);
    await mesh.waitLive(node, STREAM);
    const browser = await launchChromium();
    const users = ctx.flags.scenarios.filter((s) => s === 'g2g' || s === 'ttff').length;
    return { mesh, node, browser, users };
  })();
  return shared;
}

async function release(env: Env): Promise<void> {
  env.users--;
  if (env.users > 0) return;
  shared = undefined;
  await env.browser.close();
  await env.mesh.close();
}

async function hlsAvailable(node: TestNode): Promise<string | null> {
  const url = `${node.url}${hlsMultivariantPath(STREAM, await token('viewer', STREAM))}`;
  try {
    const res = await fetch(url);
    return res.status === 200 ? url : null;
  } catch {
    return null;
  }
}

async function watchUrl(node: TestNode): Promise<string> {
  return `${node.url}/watch?stream=${STREAM}&token=${await token('viewer', STREAM)}`;
}

/**
 * Runs in the page: on every presented frame, draw the clock row onto a
 * canvas, read the cell centres (green channel ≥ 128 = 1, MSB first) and
 * push Date.now() − clock. A string, not a function: tsx would wrap named
 * inner functions in a helper that does not exist in the page.
 */
const G2G_READER = `({ cell, bits, clockY, width }) => {
  window.__g2g = [];
  const video = document.querySelector('video');
  const canvas = document.createElement('canvas');
  canvas.width = cell * bits;
  canvas.height = cell;
  const c2d = canvas.getContext('2d', { willReadFrequently: true });
  const onFrame = () => {
    const now = Date.now();
    const sx = video.videoWidth / width;
    c2d.drawImage(video, 0, clockY * sx, cell * bits * sx, cell * sx, 0, 0, cell * bits, cell);
    const px = c2d.getImageData(0, 0, cell * bits, cell).data;
    let clock = 0;
    for (let col = 0; col < bits; col++) {
      const i = ((cell >> 1) * cell * bits + col * cell + (cell >> 1)) * 4;
      clock = clock * 2 + (px[i + 1] >= 128 ? 1 : 0);
    }
    window.__g2g.push((now % 2 ** 32) - clock);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}`;

export const g2g: Scenario = {
  name: 'g2g',
  description: 'glass-to-glass: origin clock burned into the frame → Chromium decodes and reads it',
  async run(ctx): Promise<ScenarioResult> {
    const env = await acquire(ctx);
    try {
      const page = await env.browser.newPage();
      await page.goto(await watchUrl(env.node));
      await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
      const args = { cell: STRIP_CELL, bits: STRIP_BITS, clockY: CLOCK_ROW_Y, width: PATTERN_WIDTH };
      await page.evaluate(`(${G2G_READER})(${JSON.stringify(args)})`);
      await sleep(ctx.flags.g2gSeconds * 1000);
      const raw = await page.evaluate(() => (window as unknown as { __g2g: number[] }).__g2g);
      await page.close();
      // A frame whose strip did not decode cleanly gives a wild value; keep the plausible ones.
      const ms = raw.filter((v) => v >= 0 && v < 10_000);
      const hls = await hlsAvailable(env.node);
      return {
        tables: [
          {
            title: `glass-to-glass on loopback, ${ctx.flags.g2gSeconds} s of frames`,
            columns: ['path', 'frames', 'p50 ms', 'p95 ms', 'mean ms'],
            rows: [
              ['WebRTC (/watch, mediasoup-client)', ms.length, percentile(ms, 50), percentile(ms, 95), mean(ms)],
              hls
                ? ['HLS', 'route present: not measured by this build', null, null, null]
                : ['HLS', 'not available (no /hls route on this node)', null, null, null],
            ],
            notes: [
              `${raw.length - ms.length} frames with an unreadable clock strip dropped`,
              'includes x264 encode (ultrafast, zerolatency), werift, the node, Chromium decode and render',
            ],
          },
        ],
        data: {
          frames: ms.length,
          p50: percentile(ms, 50),
          p95: percentile(ms, 95),
          mean: mean(ms),
          hls: Boolean(hls),
        },
      };
    } finally {
      await release(env);
    }
  },
};

export const ttff: Scenario = {
  name: 'ttff',
  description: 'time to first frame after opening the viewer page (join, transport, ICE/DTLS, keyframe, decode)',
  async run(ctx): Promise<ScenarioResult> {
    const env = await acquire(ctx);
    try {
      const url = await watchUrl(env.node);
      const first: number[] = [];
      const loaded: number[] = [];
      for (let i = 0; i < ctx.flags.ttffJoins; i++) {
        const context = await env.browser.newContext();
        const page = await context.newPage();
        await page.goto(url);
        const handle = await page.waitForFunction(
          () => ((window.__mm?.framesDecoded() ?? 0) >= 1 ? performance.now() : false),
          undefined,
          { timeout: 20_000, polling: 'raf' },
        );
        first.push((await handle.jsonValue()) as number);
        loaded.push(
          await page.evaluate(() => {
            const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
            return nav?.domContentLoadedEventEnd ?? 0;
          }),
        );
        await context.close();
        // Joins a second apart: each first frame waits for a fresh keyframe request, not the previous one.
        await sleep(1000);
      }
      const hls = await hlsAvailable(env.node);
      return {
        tables: [
          {
            title: `time to first frame, ${ctx.flags.ttffJoins} fresh page loads of /watch`,
            columns: ['figure', 'samples', 'p50 ms', 'p95 ms', 'max ms'],
            rows: [
              [
                'WebRTC: navigation → first presented frame',
                first.length,
                percentile(first, 50),
                percentile(first, 95),
                percentile(first, 100),
              ],
              [
                'baseline: navigation → DOMContentLoaded (page floor)',
                loaded.length,
                percentile(loaded, 50),
                percentile(loaded, 95),
                percentile(loaded, 100),
              ],
              [
                'WebRTC after the page floor (p50 difference)',
                first.length,
                (percentile(first, 50) ?? 0) - (percentile(loaded, 50) ?? 0),
                null,
                null,
              ],
              hls
                ? ['HLS', 'route present: not measured by this build', null, null, null]
                : ['HLS', 'not available (no /hls route on this node)', null, null, null],
            ],
            notes: [
              `ratio first frame ÷ page floor (p50) = ${ratio(percentile(first, 50), percentile(loaded, 50))?.toFixed(2) ?? '-'}`,
            ],
          },
        ],
        data: { first, loaded, hls: Boolean(hls) },
      };
    } finally {
      await release(env);
    }
  },
};
