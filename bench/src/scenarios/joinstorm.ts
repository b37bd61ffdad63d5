// Scenario 5 — join storm: N signaling joins for one live stream on one node
// (one worker), spread evenly over a window, each a fresh WebSocket that stays
// open. Reports success rate, join time (connect → join reply) p50/p95/max,
// and the node's CPU and memory (node process + its mediasoup worker).
//
// Baseline in the same run: the same N WebSockets sending a request the
// signaling edge answers without Redis or mediasoup (an unknown method → typed
// error). Ratio = join p95 ÷ floor p95: what join itself adds over the socket
// and JSON round trip.
import { CpuMeter, procCpuSeconds, procRssMiB } from '../media/cpu.ts';
import { childPids, Mesh, type TestNode, TestSignaling, token } from '../mesh.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from '../registry.ts';
import { percentile, ratio, sleep } from '../stats.ts';

const STREAM = 'bench-storm';

interface StormResult {
  attempts: number;
  ok: number;
  errors: Record<string, number>;
  joinMs: number[];
  windowMs: number;
  nodeCpu: number;
  workerCpu: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
}

async function storm(
  ctx: ScenarioContext,
  node: TestNode,
  method: string,
  data: (i: number) => unknown,
): Promise<StormResult> {
  const n = ctx.flags.joins;
  const windowMs = ctx.flags.joinWindowSeconds * 1000;
  const pid = node.child.pid!;
  const workers = childPids(pid);
  const cpuNode = new CpuMeter(() => procCpuSeconds(pid));
  const cpuWorker = new CpuMeter(() => workers.reduce((a, p) => a + procCpuSeconds(p), 0));
  const rssBeforeMiB = procRssMiB(pid);
  await cpuNode.start();
  await cpuWorker.start();
  const clients: TestSignaling[] = [];
  const errors: Record<string, number> = {};
  const joinMs: number[] = [];
  let ok = 0;
  const t0 = performance.now();
  const one = async (i: number) => {
    const due = t0 + (i * windowMs) / n;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const started = performance.now();
    try {
      const c = await TestSignaling.connect(node.url);
      clients.push(c);
      const r = await c.request(method, data(i), 15_000);
      if (r.ok || method !== 'join') {
        ok++;
        joinMs.push(performance.now() - started);
      } else errors[r.error.code] = (errors[r.error.code] ?? 0) + 1;
    } catch (err) {
      const key = (err as Error).message.slice(0, 40);
      errors[key] = (errors[key] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  const elapsed = performance.now() - t0;
  const nodeCpu = await cpuNode.stop();
  const workerCpu = await cpuWorker.stop();
  const rssAfterMiB = procRssMiB(pid);
  for (const c of clients) c.close();
  await sleep(1000);
  return {
    attempts: n,
    ok,
    errors,
    joinMs,
    windowMs: elapsed,
    nodeCpu,
    workerCpu,
    rssBeforeMiB,
    rssAfterMiB,
  };
}

export const joinstorm: Scenario = {
  name: 'joinstorm',
  description: 'join storm: signaling joins for one live stream on one node within a window',
  async run(ctx): Promise<ScenarioResult> {
    const mesh = await Mesh.start();
    try {
      const node = await mesh.node({
        MM_NODE_ID: 'bench-storm-1',
        MM_WORKERS: '1',
        MM_CAPACITY_VIEWERS: '100000',
      });
      await mesh.origin(node, STREAM);
      const liveMs = await mesh.waitLive(node, STREAM);
      ctx.log(`stream live after ${liveMs} ms`);
      const viewerToken = await token('viewer', STREAM);
      // Joins first, floor second: the floor then runs on a warmed-up node
      // (JIT, connection handling) rather than on one the origin just started.
      ctx.log(`join storm of ${ctx.flags.joins} over ${ctx.flags.joinWindowSeconds} s …`);
      const joins = await storm(ctx, node, 'join', () => ({ stream: STREAM, token: viewerToken }));
      ctx.log('baseline storm (unknown method) …');
      const floor = await storm(ctx, node, 'benchNoSuchMethod', () => ({}));
      const row = (name: string, r: StormResult) => [
        name,
        r.attempts,
        (100 * r.ok) / r.attempts,
        percentile(r.joinMs, 50),
        percentile(r.joinMs, 95),
        percentile(r.joinMs, 100),
        r.windowMs / 1000,
        r.nodeCpu * 100,
        r.workerCpu * 100,
        r.rssBeforeMiB,
        r.rssAfterMiB,
      ];
      const p95ratio = ratio(percentile(joins.joinMs, 95), percentile(floor.joinMs, 95));
      return {
        tables: [
          {
            title: `join storm: ${ctx.flags.joins} WebSocket joins over ${ctx.flags.joinWindowSeconds} s, one node, one worker`,
            columns: [
              'run',
              'attempts',
              'success %',
              'p50 ms',
              'p95 ms',
              'max ms',
              'took s',
              'node CPU %',
              'worker CPU %',
              'RSS before MiB',
              'RSS after MiB',
            ],
            rows: [row('floor (unknown method)', floor), row('join', joins)],
            notes: [
              'join time = WebSocket connect + join request → reply; sockets stay open until the storm ends',
              `ratio join p95 ÷ floor p95 = ${p95ratio?.toFixed(2) ?? '-'} (what join adds over connect + JSON round trip)`,
              `errors: ${JSON.stringify(joins.errors)}`,
            ],
          },
        ],
        data: {
          floor: { ...floor, joinMs: undefined },
          joins: { ...joins, joinMs: undefined },
          p95ratio,
          liveMs,
        },
      };
    } finally {
      await mesh.close();
    }
  },
};
