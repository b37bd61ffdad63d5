// Scenarios 3 and 4 — glass-to-glass latency and time to first frame, in
// headless Debian Chromium watching the real viewer page (/watch, the
// mediasoup-client WebRTC path) on a real node fed by the real origin agent.
//
// Glass-to-glass: the origin burns its wall clock (ms mod 2^32) into row 1 of
// the strips (apps/origin/src/pattern-layout.ts); on every presented frame
// the page reads it back (clock-reader.ts) and subtracts it from its own
// Date.now() — same machine, same clock. It includes encode, packetisation, the node, decode and render.
//
// HLS is measured beside WebRTC from the same node: the node's LL-HLS in
// hls.js low-latency mode, and — the baseline in the same run — the same
// playlists in hls.js's default (plain HLS) mode, which holds three target
// durations back. The packager's CPU (its ffmpeg process) is sampled while
// the HLS players run. g2g and ttff share one set of processes.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { latencyFromClock } from '@matchmesh/origin';
import { hlsMultivariantPath } from '@matchmesh/protocol';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../../test/src/browser.ts';
import { hlsFrames, openHlsPage } from '../../../test/src/hls-page.ts';
import { procCpuSeconds } from '../media/cpu.ts';
// For its `window.__mm` global declaration (the viewer page's test hook).
import '../../../test/src/viewer.ts';
import { Mesh, type TestNode, token } from '../mesh.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from '../registry.ts';
import { mean, percentile, ratio, sleep } from '../stats.ts';
import { plausible, startClockReader, takeClockFrames } from './clock-reader.ts';
import { bufferCounters, bufferMeans, formatBuffers, recordPeerConnections } from './jitter-buffers.ts';
import { keyFrameComparison } from './ttff-keyframes.ts';
import { baselineTable, phasesOf, serveBundle, stepDurations, whepFirstFrame } from './ttffPhases.ts';

const STREAM = 'bench-g2g';
/** The node's own build of the viewer page (the node serves apps/web/dist). */
const WEB_DIST = fileURLToPath(new URL('../../../apps/web/dist', import.meta.url));

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
    await mesh.origin(node, STREAM, { MM_LADDER: ctx.flags.ladder });
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

/** Parent pid from /proc/<pid>/stat (the field after the parenthesised command name). */
function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p = pid; p > 1; p = parentPid(p)) if (p === ancestor) return true;
  return false;
}

/**
 * The node's HLS packagers: ffmpeg processes copying video (`-c:v copy`), as opposed to the origin's
 * encoder, started under this node (not another job's on a shared machine).
 */
function packagerPids(node: TestNode): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const copies = args[0]?.endsWith('ffmpeg') && args.some((a, i) => a === '-c:v' && args[i + 1] === 'copy');
      if (copies && node.child.pid !== undefined && descendsFrom(Number(entry), node.child.pid)) {
        pids.push(Number(entry));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

interface HlsRun {
  /** Burned-in clock vs page clock of each presented frame (ms). */
  latency: number[];
  /** Opening the player page → first presented frame (ms). */
  firstFrameMs: number;
  /** Packager (ffmpeg) CPU over the window, fraction of one core. */
  packagerCpu: number | null;
}

/** Plays the node's HLS in the bare hls.js page for `seconds` and reads every frame's burned-in clock. */
async function measureHls(env: Env, src: string, lowLatency: boolean, seconds: number): Promise<HlsRun> {
  const opened = performance.now();
  const { page, close } = await openHlsPage(env.browser, src, { lowLatency });
  try {
    await page.waitForFunction(() => (window.__hls?.count ?? 0) >= 1, undefined, { timeout: 30_000, polling: 'raf' });
    const firstFrameMs = performance.now() - opened;
    const pids = packagerPids(env.node);
    const cpu0 = pids.reduce((sum, pid) => sum + procCpuSeconds(pid), 0);
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const cpu1 = pids.reduce((sum, pid) => sum + procCpuSeconds(pid), 0);
    const frames = await hlsFrames(page);
    const latency = frames.map((f) => latencyFromClock(f.clock, f.wall)).filter((v) => v >= 0 && v < 30_000);
    const packagerCpu = pids.length > 0 ? (cpu1 - cpu0) / ((performance.now() - t0) / 1000) : null;
    return { latency, firstFrameMs, packagerCpu };
  } finally {
    await close();
  }
}

async function watchUrl(node: TestNode): Promise<string> {
  return `${node.url}/watch?stream=${STREAM}&token=${await token('viewer', STREAM)}`;
}

export const g2g: Scenario = {
  name: 'g2g',
  description: 'glass-to-glass: origin clock burned into the frame → Chromium decodes and reads it',
  async run(ctx): Promise<ScenarioResult> {
    const env = await acquire(ctx);
    try {
      // With a ladder, a window where 'auto' takes the top layer (it caps at the picture's shown height).
      const page = await env.browser.newPage(
        ctx.flags.ladder === 'off' ? undefined : { viewport: { width: 2000, height: 1300 } },
      );
      await recordPeerConnections(page);
      await page.goto(await watchUrl(env.node));
      await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
      if (ctx.flags.ladder !== 'off') {
        // A viewer starts on a layer its first bandwidth estimate allows and climbs: measure the top one.
        const top = Math.max(...ctx.flags.ladder.split(',').map((e) => Number(/x(\d+)@/.exec(e)?.[1] ?? 0)));
        await page
          .waitForFunction((h) => (document.querySelector('video')?.videoHeight ?? 0) >= h, top, { timeout: 30_000 })
          .catch(() => ctx.log(`the picture did not reach ${top} px in 30 s`));
      }
      const picture = await page.evaluate(() => {
        const v = document.querySelector('video')!;
        return `${v.videoWidth}x${v.videoHeight}`;
      });
      await startClockReader(page);
      const buffers0 = await bufferCounters(page);
      await sleep(ctx.flags.g2gSeconds * 1000);
      const raw = await takeClockFrames(page);
      // Where the delay sits: the receivers' jitter buffers over the same window (video, program audio).
      const buffers = bufferMeans(buffers0, await bufferCounters(page));
      await page.close();
      const ms = plausible(raw);
      const src = await hlsAvailable(env.node);
      const ll = src ? await measureHls(env, src, true, ctx.flags.g2gSeconds) : null;
      const plain = src ? await measureHls(env, src, false, ctx.flags.g2gSeconds) : null;
      const row = (label: string, run: HlsRun | null) =>
        run
          ? [label, run.latency.length, percentile(run.latency, 50), percentile(run.latency, 95), mean(run.latency)]
          : [label, 'not available (no /hls route on this node)', null, null, null];
      const llP50 = ll ? percentile(ll.latency, 50) : null;
      const plainP50 = plain ? percentile(plain.latency, 50) : null;
      return {
        tables: [
          {
            title: `glass-to-glass on loopback, ${ctx.flags.g2gSeconds} s of frames per path; origin ladder ${ctx.flags.ladder}, WebRTC picture ${picture}`,
            columns: ['path', 'frames', 'p50 ms', 'p95 ms', 'mean ms'],
            rows: [
              ['WebRTC (/watch, mediasoup-client)', ms.length, percentile(ms, 50), percentile(ms, 95), mean(ms)],
              row('LL-HLS (hls.js lowLatencyMode, 200 ms parts)', ll),
              row('baseline: plain HLS (same playlists, hls.js default mode)', plain),
            ],
            notes: [
              `${raw.length - ms.length} WebRTC frames with an unreadable clock strip dropped`,
              `WebRTC receivers' mean jitter-buffer time over the window: ${formatBuffers(buffers)}`,
              'includes x264 encode (ultrafast, zerolatency), werift, the node, Chromium decode and render',
              `ratio LL-HLS ÷ plain HLS (p50) = ${ratio(llP50, plainP50)?.toFixed(2) ?? '-'}; LL-HLS ÷ WebRTC (p50) = ${ratio(llP50, percentile(ms, 50))?.toFixed(1) ?? '-'}`,
              `HLS packager (ffmpeg, video copied, Opus→AAC) CPU while playing: ${ll?.packagerCpu !== null && ll?.packagerCpu !== undefined ? `${(ll.packagerCpu * 100).toFixed(1)} % of a core per stream` : 'not sampled'}`,
            ],
          },
        ],
        data: {
          frames: ms.length,
          p50: percentile(ms, 50),
          p95: percentile(ms, 95),
          mean: mean(ms),
          jitterBuffers: buffers,
          hls: ll
            ? {
                llP50,
                llP95: percentile(ll.latency, 95),
                plainP50,
                plainP95: plain ? percentile(plain.latency, 95) : null,
                packagerCpu: ll.packagerCpu,
              }
            : null,
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
      const parts = new Set(ctx.flags.ttffParts);
      const baselineDist = ctx.flags.ttffBaselineDist;
      const first: number[] = [];
      const loaded: number[] = [];
      /** Player start → first presented frame, per load (the page's own loading excluded). */
      const fromStart: number[] = [];
      /** Where the time goes: ms from navigation to each set-up phase's end, per load (ttffPhases.ts). */
      const phases: Record<string, number[]> = {};
      /** Per load, the time each step took (ttffPhases.ts stepDurations). */
      const durations: Record<string, number[]> = {};
      /** The same of the baseline bundle's loads (--ttff-baseline-dist), alternating with the node's. */
      const baseline = {
        first: [] as number[],
        fromStart: [] as number[],
        phases: {} as Record<string, number[]>,
        durations: {} as Record<string, number[]>,
      };
      const variants = baselineDist ? (['baseline', 'current'] as const) : (['current'] as const);
      for (let i = 0; parts.has('phases') && i < ctx.flags.ttffJoins; i++) {
        for (const variant of variants) {
          const into = variant === 'current' ? { first, fromStart, phases, durations } : baseline;
          const context = await env.browser.newContext();
          if (variant === 'baseline' && baselineDist) await serveBundle(context, baselineDist, WEB_DIST);
          const page = await context.newPage();
          await page.goto(url);
          const handle = await page.waitForFunction(
            () => ((window.__mm?.framesDecoded() ?? 0) >= 1 ? performance.now() : false),
            undefined,
            { timeout: 20_000, polling: 'raf' },
          );
          const frameAt = (await handle.jsonValue()) as number;
          into.first.push(frameAt);
          const { start, marks } = await phasesOf(page);
          into.fromStart.push(frameAt - start);
          for (const [name, ms] of [['player start', start] as [string, number], ...marks]) {
            into.phases[name] = [...(into.phases[name] ?? []), ms];
          }
          for (const [name, ms] of stepDurations(new Map([['player start', start], ...marks]), frameAt)) {
            into.durations[name] = [...(into.durations[name] ?? []), ms];
          }
          if (variant === 'current') {
            loaded.push(
              await page.evaluate(() => {
                const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
                return nav?.domContentLoadedEventEnd ?? 0;
              }),
            );
          }
          await context.close();
          // Joins a second apart: each first frame waits for a fresh keyframe request, not the previous one.
          await sleep(1000);
        }
      }
      // WHEP: one round trip by design (offer → answer); from the POST to the first presented frame.
      const whep: { answerMs: number; firstFrameMs: number | null }[] = [];
      const viewerToken = await token('viewer', STREAM);
      for (let i = 0; parts.has('whep') && i < Math.max(2, Math.ceil(ctx.flags.ttffJoins / 2)); i++) {
        whep.push(await whepFirstFrame(env.browser, env.node.url, `${env.node.url}/whep/${STREAM}`, viewerToken));
        await sleep(1000);
      }
      const whepFirst = whep.map((w) => w.firstFrameMs).filter((v): v is number => v !== null);
      const whepAnswer = whep.map((w) => w.answerMs);
      // HLS: the packager is warm (g2g or the availability check started it), as for a viewer
      // falling back on a relay that packages the stream.
      const src = parts.has('hls') ? await hlsAvailable(env.node) : null;
      const hlsFirst: number[] = [];
      for (let i = 0; src && i < Math.max(2, Math.ceil(ctx.flags.ttffJoins / 2)); i++) {
        hlsFirst.push((await measureHls(env, src, true, 0)).firstFrameMs);
      }
      // Issue 20: with and without key frames on demand, side by side (ttff-keyframes.ts).
      const keyFrameTables = parts.has('keyframes')
        ? await keyFrameComparison(env, STREAM, ctx.flags.ttffJoins, ctx.flags.ladder)
        : [];
      return {
        tables: [
          ...keyFrameTables,
          ...(baselineDist
            ? [baselineTable(ctx.flags.ttffJoins, { first, fromStart, phases, durations }, baseline)]
            : []),
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
                'WebRTC: player start → first presented frame',
                fromStart.length,
                percentile(fromStart, 50),
                percentile(fromStart, 95),
                percentile(fromStart, 100),
              ],
              ...Object.entries(phases).map(([name, ms]) => [
                `  navigation → ${name}`,
                ms.length,
                percentile(ms, 50),
                percentile(ms, 95),
                percentile(ms, 100),
              ]),
              [
                'WebRTC after the page floor (p50 difference)',
                first.length,
                (percentile(first, 50) ?? 0) - (percentile(loaded, 50) ?? 0),
                null,
                null,
              ],
              [
                'WHEP (bare RTCPeerConnection): POST → first presented frame',
                whepFirst.length,
                percentile(whepFirst, 50),
                percentile(whepFirst, 95),
                percentile(whepFirst, 100),
              ],
              [
                '  WHEP: POST → 201 answer',
                whepAnswer.length,
                percentile(whepAnswer, 50),
                percentile(whepAnswer, 95),
                percentile(whepAnswer, 100),
              ],
              src
                ? [
                    'LL-HLS (hls.js page, packager warm): open → first presented frame',
                    hlsFirst.length,
                    percentile(hlsFirst, 50),
                    percentile(hlsFirst, 95),
                    percentile(hlsFirst, 100),
                  ]
                : ['HLS', 'not available (no /hls route on this node)', null, null, null],
            ],
            notes: [
              `ratio first frame ÷ page floor (p50) = ${ratio(percentile(first, 50), percentile(loaded, 50))?.toFixed(2) ?? '-'}`,
              `ratio LL-HLS ÷ WebRTC first frame (p50) = ${ratio(percentile(hlsFirst, 50), percentile(first, 50))?.toFixed(2) ?? '-'}`,
            ],
          },
        ],
        data: { first, fromStart, loaded, hlsFirst, whep, phases, durations, baseline },
      };
    } finally {
      await release(env);
    }
  },
};
