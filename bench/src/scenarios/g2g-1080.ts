// Issue 14: glass-to-glass at 1080p. The origin publishes `--hd-ladder` (default 1080p30 + 720p30); one
// /watch page in a window big enough for 1080p is pinned with its quality menu on the top layer, then on
// the next one (the baseline: 720p, same node, origin, page and minutes), alternating `--hd-rounds` times.
// Each window counts only the frames presented at the layer's own height (clock-reader.ts records every
// frame's size), so a window where the picture had not reached the layer measures nothing wrong.
import type { Page } from 'playwright-core';
import { launchChromium } from '../../../test/src/browser.ts';
// For its `window.__mm` global declaration (the viewer page's test hook).
import '../../../test/src/viewer.ts';
import { Mesh, token } from '../mesh.ts';
import type { Scenario, ScenarioResult } from '../registry.ts';
import { mean, percentile, ratio, sleep } from '../stats.ts';
import { type ClockFrame, plausible, startClockReader, takeClockFrames } from './clock-reader.ts';
import { bufferCounters, bufferMeans, formatBuffers, recordPeerConnections } from './jitter-buffers.ts';

const STREAM = 'bench-g2g-hd';

interface Layer {
  /** The quality menu's value: the layer index, 0 = lowest. */
  index: number;
  width: number;
  height: number;
  fps: number;
}

/** The ladder's layers, lowest first (as the origin orders them and the quality menu numbers them). */
function parseLayers(ladder: string): Layer[] {
  return ladder
    .split(',')
    .map((e) => /^(\d+)x(\d+)@(\d+)/.exec(e.trim()))
    .map((m) => {
      if (!m) throw new Error(`--hd-ladder: expected WxH@FPS:KBPS entries, got "${ladder}"`);
      return { width: Number(m[1]), height: Number(m[2]), fps: Number(m[3]) };
    })
    .sort((a, b) => a.height - b.height)
    .map((l, index) => ({ ...l, index }));
}

/** Pins the page on `layer` (quality menu) and waits for its picture; false when it did not come in 20 s. */
async function pin(page: Page, layer: Layer): Promise<boolean> {
  await page.selectOption('[data-testid="quality"]', String(layer.index));
  return page
    .waitForFunction((h) => (document.querySelector('video')?.videoHeight ?? 0) === h, layer.height, {
      timeout: 20_000,
      polling: 100,
    })
    .then(() => true)
    .catch(() => false);
}

export const g2g1080: Scenario = {
  name: 'g2g-1080',
  description: 'glass-to-glass with the viewer pinned on the 1080p layer, the 720p layer as the same-run baseline',
  async run(ctx): Promise<ScenarioResult> {
    const layers = parseLayers(ctx.flags.hdLadder);
    if (layers.length < 2) throw new Error('--hd-ladder needs two layers: the measured top one and a baseline');
    const top = layers.at(-1)!;
    const base = layers.at(-2)!;
    const mesh = await Mesh.start();
    const browser = await launchChromium();
    try {
      const node = await mesh.node({ MM_NODE_ID: 'bench-g2g-hd-1', MM_WORKERS: '1' });
      await mesh.origin(node, STREAM, { MM_LADDER: ctx.flags.hdLadder });
      await mesh.waitLive(node, STREAM);
      // A window where the <video> is shown at least at the top layer's size ('auto' would cap below it).
      const page = await browser.newPage({ viewport: { width: top.width + 80, height: top.height + 220 } });
      await recordPeerConnections(page);
      await page.goto(`${node.url}/watch?stream=${STREAM}&token=${await token('viewer', STREAM)}`);
      await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
      await page.waitForSelector(`[data-testid="quality"] option[value="${top.index}"]`, {
        state: 'attached',
        timeout: 30_000,
      });
      const frames = new Map<Layer, ClockFrame[]>([
        [top, []],
        [base, []],
      ]);
      /** The receivers' mean jitter-buffer time per window (video, program audio): where the delay sits. */
      const buffers = new Map<Layer, Record<string, number>[]>([
        [top, []],
        [base, []],
      ]);
      const misses = new Map<Layer, number>([
        [top, 0],
        [base, 0],
      ]);
      for (let round = 0; round < ctx.flags.hdRounds; round++) {
        for (const layer of [top, base]) {
          if (!(await pin(page, layer))) {
            misses.set(layer, misses.get(layer)! + 1);
            ctx.log(`round ${round + 1}: the picture did not reach ${layer.height} px in 20 s`);
          }
          const counters = await bufferCounters(page);
          await startClockReader(page);
          await sleep(ctx.flags.g2gSeconds * 1000);
          frames.get(layer)!.push(...(await takeClockFrames(page)));
          buffers.get(layer)!.push(bufferMeans(counters, await bufferCounters(page)));
        }
      }
      const pinnedRounds = ctx.flags.hdRounds;
      const at = (layer: Layer) => {
        const all = frames.get(layer)!;
        const sized = all.filter((f) => f.width === layer.width && f.height === layer.height);
        return { all: all.length, sized: sized.length, ms: plausible(sized) };
      };
      const t = at(top);
      const b = at(base);
      const row = (layer: Layer, r: typeof t, label: string) => [
        `${label}${layer.width}x${layer.height}@${layer.fps}`,
        `${r.ms.length} of ${r.all}`,
        percentile(r.ms, 50),
        percentile(r.ms, 95),
        mean(r.ms),
        `${pinnedRounds - misses.get(layer)!} of ${pinnedRounds}`,
      ];
      const p50Ratio = ratio(percentile(t.ms, 50), percentile(b.ms, 50));
      const p95Ratio = ratio(percentile(t.ms, 95), percentile(b.ms, 95));
      return {
        tables: [
          {
            title: `glass-to-glass at 1080p on loopback, /watch pinned per layer (quality menu), ${pinnedRounds} × ${ctx.flags.g2gSeconds} s each; origin ladder ${ctx.flags.hdLadder}`,
            columns: ['layer', 'frames at its size', 'p50 ms', 'p95 ms', 'mean ms', 'windows at its size'],
            rows: [row(top, t, ''), row(base, b, 'baseline: ')],
            notes: [
              `ratio 1080p ÷ 720p: p50 ${p50Ratio?.toFixed(2) ?? '-'}, p95 ${p95Ratio?.toFixed(2) ?? '-'}; issue 14 goal: ≤ 150 ms at 1080p`,
              'frames count only at the layer’s own picture size (the frame size of each presented frame, read with its clock)',
              ...[top, base].map(
                (l) => `jitter buffers per window at ${l.height}p: ${buffers.get(l)!.map(formatBuffers).join(' | ')}`,
              ),
            ],
          },
        ],
        data: {
          ladder: ctx.flags.hdLadder,
          top: {
            layer: top,
            frames: t.sized,
            p50: percentile(t.ms, 50),
            p95: percentile(t.ms, 95),
            misses: misses.get(top),
          },
          base: {
            layer: base,
            frames: b.sized,
            p50: percentile(b.ms, 50),
            p95: percentile(b.ms, 95),
            misses: misses.get(base),
          },
          ratio: { p50: p50Ratio, p95: p95Ratio },
          jitterBuffers: { top: buffers.get(top), base: buffers.get(base) },
        },
      };
    } finally {
      await browser.close();
      await mesh.close();
    }
  },
};
