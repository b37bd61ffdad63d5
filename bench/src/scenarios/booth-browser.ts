// Issue 16's delays through browsers: the commentary booth page (/commentate) as a commentator uses it.
//
//  1. The commentator's view delay: the booth watches the program from the ingest; its glass-to-glass is
//     read from the burned-in clock of every presented frame (clock-reader.ts), beside a /watch viewer on
//     the same node in the same seconds (the baseline: g2g's own figure).
//  2. Mouth-to-ear, commentator → WebRTC viewer: the booth's microphone is a WebAudio source the bench
//     clicks (clicks.ts); the commentator goes on air in English, the /watch viewer hears English; each
//     click's onset is stamped in both pages on the one wall clock. Baseline in the same seconds: the RTP-level
//     delay through one language's mix (the `booth` scenario, one language, run beside the clicks), which leaves out both
//     browsers and both links.
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../../test/src/browser.ts';
import { commentatorToken } from '../../../test/src/node.ts';
// For its `window.__mm` / `window.__mmBooth` global declarations (the pages' test hooks).
import '../../../test/src/viewer.ts';
import { Mesh, type TestNode, token } from '../mesh.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from '../registry.ts';
import { mean, percentile, ratio, sleep } from '../stats.ts';
import { booth } from './booth.ts';
import { click, installClickMicrophone, matchDelays, startDetector, takeOnsets } from './clicks.ts';
import { plausible, startClockReader, takeClockFrames } from './clock-reader.ts';
import { bufferCounters, bufferMeans, formatBuffers, recordPeerConnections } from './jitter-buffers.ts';

const STREAM = 'bench-booth';
/** Clicks this far apart: far more than any delay, so each onset pairs with its own click. */
const CLICK_SPACING_MS = 800;

const figures = (label: string, ms: readonly number[]) => [
  label,
  ms.length,
  percentile(ms, 50),
  percentile(ms, 95),
  mean(ms),
];

async function openViewer(browser: Browser, node: TestNode): Promise<Page> {
  const page = await browser.newPage();
  await recordPeerConnections(page);
  await page.goto(`${node.url}/watch?stream=${STREAM}&token=${await token('viewer', STREAM)}`);
  await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
  return page;
}

async function openBooth(browser: Browser, node: TestNode): Promise<Page> {
  const context = await browser.newContext();
  await installClickMicrophone(context);
  const page = await context.newPage();
  await recordPeerConnections(page);
  page.on('close', () => void context.close().catch(() => undefined));
  const t = await commentatorToken(STREAM, 'en');
  await page.goto(`${node.url}/commentate?stream=${STREAM}&token=${t}&autostart=1&raw=1`);
  await page.waitForFunction(() => window.__mmBooth?.state === 'live', undefined, { timeout: 30_000 });
  await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
  return page;
}

/**
 * The RTP-level delay through one language's mix (the `booth` scenario with one language, its own worker
 * and mixer), measured over `seconds` while the clicks go through the browsers: the same moments, the
 * same load.
 */
async function rtpBaseline(ctx: ScenarioContext, seconds: number): Promise<{ p50: number | null; p95: number | null }> {
  const quiet = { ...ctx, log: () => undefined };
  const res = await booth.run({ ...quiet, flags: { ...ctx.flags, boothLanguages: 1, boothSeconds: seconds } });
  const row = (res.data.rows as { delayP50: number | null; delayP95: number | null }[])[0];
  return { p50: row?.delayP50 ?? null, p95: row?.delayP95 ?? null };
}

export const boothBrowser: Scenario = {
  name: 'booth-browser',
  description: "commentary booth through browsers: the commentator's view delay and mouth-to-ear to a viewer",
  async run(ctx): Promise<ScenarioResult> {
    const mesh = await Mesh.start();
    let browser: Browser | undefined;
    try {
      const node = await mesh.node({ MM_NODE_ID: 'bench-booth-1', MM_WORKERS: '1' });
      await mesh.origin(node, STREAM, { MM_LADDER: ctx.flags.ladder });
      await mesh.waitLive(node, STREAM);
      browser = await launchChromium();
      const viewer = await openViewer(browser, node);
      // The viewer alone first (no booth page, no commentary): what the booth page and the mix change for it.
      const alone0 = await bufferCounters(viewer);
      await startClockReader(viewer);
      await sleep(ctx.flags.g2gSeconds * 1000);
      const aloneFrames = await takeClockFrames(viewer);
      const aloneBuffers = bufferMeans(alone0, await bufferCounters(viewer));
      const watchAlone = plausible(aloneFrames);
      const boothPage = await openBooth(browser, node);
      // The viewer hears English (the default language) once the commentator's mix reaches it.
      await viewer.waitForFunction(
        async () => {
          const stats = (await window.__mm?.stats()) as unknown as { audioPacketsBySource?: Record<string, number> };
          const s = stats?.audioPacketsBySource ?? {};
          return (s.commentary ?? 0) > 50 && (window.__mm?.commentaryTracks().some((c) => c.lang === 'en') ?? false);
        },
        undefined,
        { timeout: 30_000, polling: 250 },
      );

      // 1. View delay: both pages' presented frames over the same seconds.
      ctx.log(`view delay: ${ctx.flags.g2gSeconds} s of frames on /commentate and /watch`);
      const [booth0, viewer0] = await Promise.all([bufferCounters(boothPage), bufferCounters(viewer)]);
      await Promise.all([startClockReader(boothPage), startClockReader(viewer)]);
      await sleep(ctx.flags.g2gSeconds * 1000);
      const [boothFrames, viewerFrames] = await Promise.all([takeClockFrames(boothPage), takeClockFrames(viewer)]);
      const boothBuffers = bufferMeans(booth0, await bufferCounters(boothPage));
      const viewerBuffers = bufferMeans(viewer0, await bufferCounters(viewer));
      const boothView = plausible(boothFrames);
      const watchView = plausible(viewerFrames);
      const size = (f: typeof boothFrames) => (f.length ? `${f.at(-1)!.width}x${f.at(-1)!.height}` : '-');

      // 2. Mouth-to-ear: clicks on the booth's microphone, heard in the viewer's English track.
      // Clicks until the RTP-level baseline beside them (its set-up, 3 s warm-up and window) is done.
      ctx.log(`mouth-to-ear: clicks ${CLICK_SPACING_MS} ms apart, the RTP-level baseline beside them`);
      await Promise.all([startDetector(boothPage, 'mic'), startDetector(viewer, 'commentary')]);
      let baselineDone = false;
      const baseline = rtpBaseline(ctx, Math.max(5, (ctx.flags.boothClicks * CLICK_SPACING_MS) / 1000)).finally(() => {
        baselineDone = true;
      });
      while (!baselineDone) {
        await click(boothPage);
        await sleep(CLICK_SPACING_MS);
      }
      const rtp = await baseline;
      const mouth = await takeOnsets(boothPage);
      const ear = await takeOnsets(viewer);
      const mouthToEar = matchDelays(mouth.heard, ear.heard, CLICK_SPACING_MS);
      const triggerToMouth = matchDelays(mouth.triggered, mouth.heard, CLICK_SPACING_MS);
      const triggerToEar = matchDelays(mouth.triggered, ear.heard, CLICK_SPACING_MS);
      const m2eP50 = percentile(mouthToEar, 50);
      const viewRatio = ratio(percentile(boothView, 50), percentile(watchView, 50));
      return {
        tables: [
          {
            title: `commentator's view delay on loopback, ${ctx.flags.g2gSeconds} s of frames, same node (ingest), same seconds; origin ladder ${ctx.flags.ladder}`,
            columns: ['page', 'frames', 'p50 ms', 'p95 ms', 'mean ms'],
            rows: [
              figures(`booth (/commentate, on air), picture ${size(boothFrames)}`, boothView),
              figures(`baseline: viewer (/watch), picture ${size(viewerFrames)}`, watchView),
              figures('  the same viewer just before, alone (no booth page, no commentary)', watchAlone),
            ],
            notes: [
              `ratio booth ÷ viewer (p50) = ${viewRatio?.toFixed(2) ?? '-'}; issue 16 goal: booth ≤ 300 ms`,
              `${boothFrames.length - boothView.length} / ${viewerFrames.length - watchView.length} frames with an unreadable clock strip dropped`,
              `jitter buffers (mean per frame / sample over the window): booth ${formatBuffers(boothBuffers)}; viewer ${formatBuffers(viewerBuffers)}; viewer alone ${formatBuffers(aloneBuffers)}`,
            ],
          },
          {
            title: `mouth-to-ear, commentator (/commentate, WebAudio microphone) → WebRTC viewer (/watch, English): ${mouth.triggered.length} clicks`,
            columns: ['figure', 'clicks', 'p50 ms', 'p95 ms', 'mean ms'],
            rows: [
              figures("commentator's microphone → viewer's ear (detected in both pages)", mouthToEar),
              figures('  click triggered → heard in the booth itself (the detector, both sides)', triggerToMouth),
              figures('  click triggered → heard by the viewer', triggerToEar),
              [
                'baseline: RTP through the mix (booth scenario, 1 language, in the same seconds)',
                '-',
                rtp.p50,
                rtp.p95,
                null,
              ],
            ],
            notes: [
              `ratio mouth-to-ear ÷ RTP through the mix (p50) = ${ratio(m2eP50, rtp.p50)?.toFixed(2) ?? '-'}; browsers and links add ${m2eP50 !== null && rtp.p50 !== null ? (m2eP50 - rtp.p50).toFixed(0) : '-'} ms at p50`,
              `${mouth.heard.length} onsets heard in the booth, ${ear.heard.length} by the viewer, ${mouthToEar.length} paired`,
              'includes the booth\u2019s Opus encode and send, the ingest\u2019s mix (jitter buffer, GStreamer, Opus), the viewer\u2019s jitter buffer, decode and playout to WebAudio',
            ],
          },
        ],
        data: {
          view: {
            booth: { frames: boothView.length, p50: percentile(boothView, 50), p95: percentile(boothView, 95) },
            watch: { frames: watchView.length, p50: percentile(watchView, 50), p95: percentile(watchView, 95) },
            watchAlone: { frames: watchAlone.length, p50: percentile(watchAlone, 50), p95: percentile(watchAlone, 95) },
            ratio: viewRatio,
            jitterBuffers: { booth: boothBuffers, watch: viewerBuffers, watchAlone: aloneBuffers },
          },
          mouthToEar: {
            samples: mouthToEar,
            p50: m2eP50,
            p95: percentile(mouthToEar, 95),
            triggerToMouth,
            triggerToEar,
            rtpBaseline: rtp,
          },
        },
      };
    } finally {
      await browser?.close();
      await mesh.close();
    }
  },
};
