// Scenario 1 — fan-out capacity of ONE relay worker.
//
// One 720p30 ~1.5 Mbps H.264 + Opus program (the origin's test match, as a
// pre-recorded RTP replay) enters one mediasoup worker; N viewers are SRTP
// PlainTransport consumers sending to a UDP sink in another process, which
// checks RTP sequence numbers (loss) and arrival times (RFC 3550 jitter).
// N grows in steps until loss > 1 % or the worker's core is saturated.
//
// Baseline in the same run, same worker, same sink: 'naive' — a router per
// viewer fed by pipeToRouter. Ratio = naive CPU per viewer ÷ matchmesh CPU per
// viewer (how many times more viewers the shared-router design serves per core).
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CpuMeter, pin } from '../media/cpu.ts';
import { udpDrops } from '../media/procnet.ts';
import { type AttachMode, BenchRelay, inBatches } from '../media/relay.ts';
import { loadRecording, Replayer } from '../media/replay.ts';
import { Sink } from '../media/sink.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from '../registry.ts';
import { sleep } from '../stats.ts';
import { lineChart, stack } from '../svg.ts';

const LOSS_LIMIT = 0.01;
/** A step must deliver at least this share of viewers × program bitrate (SRTP adds ~5 %). */
const DELIVERED_MIN = 0.9;
const CPU_SATURATED = 0.95;
const SINK_SOCKETS = 16;
/** One GOP (1 s) plus margin: a new video consumer forwards from the next keyframe. */
const WARMUP_MS = 2000;

export interface FanoutRow {
  mode: AttachMode;
  viewers: number;
  workerCpu: number;
  cpuMsPerViewerSec: number | null;
  lossPct: number;
  ingestDrops: number;
  sinkDrops: number;
  jitterMeanMs: number;
  jitterMaxMs: number;
  outMbps: number;
  sinkCpu: number;
  setupMs: number;
  stop?: string;
}

async function measureMode(
  ctx: ScenarioContext,
  relay: BenchRelay,
  sink: Sink,
  mode: AttachMode,
  ingestPort: number,
  programMbps: number,
): Promise<FanoutRow[]> {
  const rows: FanoutRow[] = [];
  const steps = [0, ...ctx.flags.steps];
  for (const n of steps) {
    const t0 = performance.now();
    const have = relay.viewers.size;
    if (process.env.MM_BENCH_TRACE) ctx.log(`${mode}: adding ${n - have} viewers`);
    await inBatches(n - have, 32, (i) =>
      relay.addViewer({ mode, sinkPort: sink.ports[(have + i) % sink.ports.length]!, srtp: true }),
    );
    const setupMs = performance.now() - t0;
    if (process.env.MM_BENCH_TRACE) ctx.log(`${mode}: added in ${Math.round(setupMs)} ms; warming up`);
    await sleep(WARMUP_MS);
    const worker = new CpuMeter(() => relay.workerCpuSeconds());
    const sinkCpu = new CpuMeter(() => sink.cpuSeconds());
    await sink.reset();
    const drops0 = udpDrops([ingestPort]);
    await worker.start();
    await sinkCpu.start();
    if (process.env.MM_BENCH_TRACE) ctx.log(`${mode}: measuring`);
    await sleep(ctx.flags.stepSeconds * 1000);
    if (process.env.MM_BENCH_TRACE) ctx.log(`${mode}: reading the sink`);
    const r = await sink.report();
    if (process.env.MM_BENCH_TRACE) ctx.log(`${mode}: reading CPU`);
    const cpu = await worker.stop();
    const sc = await sinkCpu.stop();
    const ingestDrops = udpDrops([ingestPort]) - drops0;
    const row: FanoutRow = {
      mode,
      viewers: n,
      workerCpu: cpu,
      cpuMsPerViewerSec: n > 0 ? (cpu * 1000) / n : null,
      lossPct: n > 0 && r.expected > 0 ? (100 * r.lost) / r.expected : 0,
      ingestDrops,
      sinkDrops: r.kernelDrops,
      jitterMeanMs: r.jitterMeanMs,
      jitterMaxMs: r.jitterMaxMs,
      outMbps: (r.bytes * 8) / r.seconds / 1e6,
      sinkCpu: sc,
      setupMs,
    };
    if (n > 0 && r.ssrcs < n * 2) row.stop = `only ${r.ssrcs}/${n * 2} consumer streams arrived`;
    // Loss counts gaps inside the streams that arrive; a consumer that stalls (no key frame,
    // paused video) loses nothing by that count but delivers nothing: compare bytes too.
    const delivered = n > 0 ? row.outMbps / (n * programMbps) : 1;
    if (n > 0 && delivered < DELIVERED_MIN) {
      row.stop = `delivers ${(delivered * 100).toFixed(0)} % of ${n} × the program`;
    }
    if (row.stop) {
      // Already stopped: the step does not count (capacity() skips it).
    } else if (row.lossPct > LOSS_LIMIT * 100) row.stop = 'loss > 1 %';
    else if (cpu >= CPU_SATURATED) row.stop = 'worker CPU saturated';
    else if (sc >= CPU_SATURATED) row.stop = 'sink CPU saturated (measurement limit)';
    rows.push(row);
    ctx.log(
      `${mode} ${n} viewers: worker ${(cpu * 100).toFixed(0)} %, loss ${row.lossPct.toFixed(2)} %, ` +
        `jitter ${row.jitterMeanMs.toFixed(2)} ms, sink ${(sc * 100).toFixed(0)} %, setup ${(setupMs / 1000).toFixed(1)} s${row.stop ? ` — stop: ${row.stop}` : ''}`,
    );
    if (row.stop) break;
  }
  relay.closeViewers();
  await sleep(500);
  return rows;
}

/** A step whose viewers did not all get the program: its CPU figures mean nothing. */
const invalid = (r: FanoutRow): boolean => Boolean(r.stop?.startsWith('only') || r.stop?.startsWith('delivers'));

/** Largest step under the loss limit, and what a fully used core would hold at that step's CPU per viewer. */
function capacity(rows: FanoutRow[]): { measured: number; perCore: number | null; cpuMs: number | null } {
  const ok = rows.filter((r) => r.viewers > 0 && r.lossPct <= LOSS_LIMIT * 100 && !invalid(r));
  const best = ok[ok.length - 1];
  if (!best) return { measured: 0, perCore: null, cpuMs: null };
  const idle = rows.find((r) => r.viewers === 0)?.workerCpu ?? 0;
  const perViewer = (best.workerCpu - idle) / best.viewers;
  return {
    measured: best.viewers,
    perCore: perViewer > 0 ? Math.floor((1 - idle) / perViewer) : null,
    cpuMs: best.cpuMsPerViewerSec,
  };
}

export const fanout: Scenario = {
  name: 'fanout',
  description: 'fan-out capacity of one relay worker: SRTP PlainTransport viewers → UDP sink process',
  async run(ctx): Promise<ScenarioResult> {
    const rec = await loadRecording(path.join(ctx.outDir, '.cache'), 1500);
    const sink = await Sink.start(SINK_SOCKETS);
    const relay = await BenchRelay.create('bench-fanout', { min: 20000, max: 29999 });
    const sender = createSocket('udp4');
    await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
    // One core for the worker, the other for sink + bench: the worker is the
    // thing measured and must not share its core with the sink we add.
    const pinned = ctx.flags.pin && pin(relay.worker.pid, 1) && pin(sink.pid, 0) && pin(process.pid, 0);
    let replay: Replayer | undefined;
    try {
      await sink.request({ type: 'clocks', clocks: relay.clockRates() });
      const target = await relay.ingest();
      replay = new Replayer(rec, sender, target);
      replay.start();
      const bitrate = (rec.packets.reduce((a, p) => a + p.data.length, 0) * 8) / (rec.durationMs / 1000) / 1e6;
      ctx.log(
        `replay ${rec.packets.length} packets, ${bitrate.toFixed(2)} Mbps; worker pid ${relay.worker.pid} pinned=${pinned}`,
      );
      const shared = await measureMode(ctx, relay, sink, 'shared', target.port, bitrate);
      const naive = await measureMode(ctx, relay, sink, 'naive', target.port, bitrate);
      replay.stop();
      const capS = capacity(shared);
      const capN = capacity(naive);
      const svgFile = path.join(ctx.outDir, 'fanout.svg');
      writeFileSync(svgFile, chart(shared, naive));
      const row = (r: FanoutRow) => [
        r.mode === 'shared' ? 'matchmesh' : 'naive',
        r.viewers,
        r.workerCpu * 100,
        r.cpuMsPerViewerSec,
        r.lossPct,
        r.ingestDrops,
        r.sinkDrops,
        r.jitterMeanMs,
        r.jitterMaxMs,
        r.outMbps,
        r.sinkCpu * 100,
        r.stop ?? '',
      ];
      // Only steps where both delivered the program to every viewer compare.
      const common = shared.filter(
        (s) => s.viewers > 0 && !invalid(s) && naive.some((n) => n.viewers === s.viewers && !invalid(n)),
      );
      return {
        tables: [
          {
            title: `fan-out: one relay worker, ${bitrate.toFixed(2)} Mbps program, ${ctx.flags.stepSeconds} s per step`,
            columns: [
              'relay',
              'viewers',
              'worker CPU %',
              'CPU ms/s per viewer',
              'loss %',
              'ingest drops',
              'sink drops',
              'jitter ms',
              'jitter max',
              'out Mbps',
              'sink CPU %',
              'stopped',
            ],
            rows: [...shared, ...naive].map(row),
            notes: [
              `worker pinned to CPU 1, sink and bench to CPU 0: ${pinned}`,
              'loss = RTP seq gaps at the sink over all consumer SSRCs (mediasoup probation padding excluded)',
              'ingest drops = program packets the kernel dropped at the worker ingest socket (worker not scheduled in time: each costs one packet per viewer); sink drops = same at the sink sockets',
              'naive = one router per viewer fed by pipeToRouter (baseline in the same worker, same sink)',
            ],
          },
          {
            title:
              'fan-out summary (ratio = naive ÷ matchmesh CPU per viewer: how many times more viewers per core matchmesh serves)',
            columns: ['relay', 'largest step < 1 % loss', 'viewers per core (extrapolated)', 'CPU ms/s per viewer'],
            rows: [
              ['matchmesh', capS.measured, capS.perCore, capS.cpuMs],
              ['naive', capN.measured, capN.perCore, capN.cpuMs],
            ],
          },
          {
            title: 'fan-out ratio at equal viewer counts',
            columns: ['viewers', 'matchmesh CPU %', 'naive CPU %', 'ratio naive/matchmesh'],
            rows: common.map((s) => {
              const n = naive.find((x) => x.viewers === s.viewers)!;
              return [
                s.viewers,
                s.workerCpu * 100,
                n.workerCpu * 100,
                s.workerCpu > 0 ? n.workerCpu / s.workerCpu : null,
              ];
            }),
          },
        ],
        data: { bitrateMbps: bitrate, pinned, shared, naive, capacity: { matchmesh: capS, naive: capN } },
        files: [path.relative(process.cwd(), svgFile)],
      };
    } finally {
      replay?.stop();
      sender.close();
      relay.close();
      await sink.close();
    }
  },
};

function chart(shared: FanoutRow[], naive: FanoutRow[]): string {
  const cpu = lineChart({
    title: 'Fan-out: relay worker CPU vs viewers (one worker)',
    xLabel: 'viewers (SRTP consumers)',
    yLabel: 'worker CPU, % of one core',
    series: [
      { name: 'matchmesh', color: '#1f6feb', points: shared.map((r) => [r.viewers, r.workerCpu * 100]) },
      {
        name: 'naive (router/viewer)',
        color: '#d97706',
        points: naive.map((r) => [r.viewers, r.workerCpu * 100]),
      },
    ],
    marks: [{ y: 100, label: 'one core' }],
    yMax: 120,
  });
  const loss = lineChart({
    title: 'Fan-out: packet loss at the sink',
    xLabel: 'viewers (SRTP consumers)',
    yLabel: 'loss %',
    series: [
      { name: 'matchmesh', color: '#1f6feb', points: shared.map((r) => [r.viewers, r.lossPct]) },
      { name: 'naive (router/viewer)', color: '#d97706', points: naive.map((r) => [r.viewers, r.lossPct]) },
    ],
    marks: [{ y: 1, label: '1 % budget' }],
  });
  return stack([cpu, loss]);
}
