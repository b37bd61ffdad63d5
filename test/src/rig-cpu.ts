/**
 * What the e2e rig costs the machine: one node, the origin agent and one
 * Chromium viewer page playing; CPU of the test ffmpeg and of each Chromium
 * process type, sampled from /proc over a window. Run it to compare rig
 * settings (issue 11): `npx tsx test/src/rig-cpu.ts` (the e2e defaults), or
 * with RIG_LEGACY=1 (720p at 1.5 Mbit/s, the old flags, a 1280x720 viewport and
 * the page's decorations); RIG_EXTRA_FLAGS adds Chromium flags to try.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { startRedisServer } from '@matchmesh/cluster/testing';
import { chromium } from 'playwright-core';
import { CHROMIUM_FLAGS, launchChromium } from './browser.ts';
import { startNode, token } from './node.ts';
import { startOrigin } from './origin.ts';

const legacy = process.env.RIG_LEGACY === '1';
/** browser.ts's flags before issue 11, for the comparison: today's without the two that cut the GPU process. */
const LEGACY_CHROMIUM_FLAGS = CHROMIUM_FLAGS.filter(
  (f) => f !== '--disable-gpu-compositing' && f !== '--disable-software-rasterizer',
);
const seconds = Number(process.env.RIG_SECONDS ?? 20);
const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString());

/** utime + stime of a process in clock ticks (0 once it is gone). */
function cpuTicks(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

function descendants(pid: number): number[] {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,ppid=']).toString().trim().split('\n');
  const pairs = out.map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (p: number): void => {
    for (const [child, parent] of pairs) {
      if (parent !== p) continue;
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

function label(pid: number): string {
  // Zygote-forked Chromium children rewrite their title into one space-separated string.
  const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
  if (cmd.some((a) => a.includes('ffmpeg'))) return 'ffmpeg';
  const type = cmd.find((a) => a.startsWith('--type='))?.slice(7);
  const sub = cmd.find((a) => a.startsWith('--utility-sub-type='))?.slice(19);
  if (cmd[0]?.includes('chrom')) return `chromium ${type ?? 'browser'}${sub ? ` (${sub})` : ''}`;
  const entry = cmd.find((a) => a.endsWith('main.ts'));
  if (entry) return entry.includes('apps/origin') ? 'origin agent (node)' : 'node (apps/node)';
  return cmd[0]!.split('/').at(-1)!;
}

const redis = await startRedisServer();
const node = await startNode(redis.url);
const stream = 'rig';
const origin = await startOrigin(
  node.url,
  stream,
  legacy ? { MM_VIDEO_SIZE: '1280x720', MM_VIDEO_BITRATE_KBPS: '1500' } : {},
);
const browser = legacy
  ? await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: LEGACY_CHROMIUM_FLAGS,
    })
  : await launchChromium(process.env.RIG_EXTRA_FLAGS?.split(' ').filter(Boolean));
try {
  const page = await browser.newPage(legacy ? { viewport: { width: 1280, height: 720 } } : undefined);
  await page.goto(`${node.url}/watch?stream=${stream}&token=${await token('viewer', stream)}`);
  await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 60, undefined, { timeout: 60_000 });
  const size = await page.evaluate(() => {
    const v = document.querySelector('video[data-testid="video"]') as HTMLVideoElement;
    return `${v.videoWidth}x${v.videoHeight} in a ${v.clientWidth}x${v.clientHeight} element`;
  });
  const pids = [...descendants(process.pid)];
  const before = new Map(pids.map((p) => [p, cpuTicks(p)]));
  const load0 = loadavg()[0]!.toFixed(2);
  const frames0 = await page.evaluate(() => window.__mm!.framesDecoded());
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const frames1 = await page.evaluate(() => window.__mm!.framesDecoded());
  const byLabel = new Map<string, number>();
  for (const pid of pids) {
    const used = cpuTicks(pid) - before.get(pid)!;
    const name = (() => {
      try {
        return label(pid);
      } catch {
        return 'gone';
      }
    })();
    byLabel.set(name, (byLabel.get(name) ?? 0) + used);
  }
  console.log(
    `rig ${legacy ? 'legacy' : 'e2e'}: video ${size}, ${((frames1 - frames0) / seconds).toFixed(1)} fps decoded; load ${load0} → ${loadavg()[0]!.toFixed(2)} over ${seconds} s; flags ${(legacy ? LEGACY_CHROMIUM_FLAGS : CHROMIUM_FLAGS).length}`,
  );
  for (const [name, used] of [...byLabel].sort((a, b) => b[1] - a[1])) {
    if (used > 0) console.log(`  ${((used * 100) / ticks / seconds).toFixed(1).padStart(5)} %  ${name}`);
  }
} finally {
  await browser.close();
  await origin.stop();
  await node.stop();
  await redis.stop();
}
