// Scenario — one match on every worker of a relay (issue 13).
//
// The fan-out bench's program and sink, but the relay is a pool of 1 worker,
// then of all workers (`os.availableParallelism()`, 2 on the project's
// machine), and viewers are seated as a node seats them: on the least-loaded
// worker, consuming that worker's outlet of the stream (the source router, or
// a fan-out router fed once per worker by pipeToRouter). Steps grow until
// loss > 1 % or a step stops delivering the program to every viewer.
//
// Figures per step: worker CPU (each worker and the sum), loss, and the load
// generator's own CPU (the sink process and this bench process, which replays
// the program) reported apart: on a 2-core machine it competes with the
// workers, so the scenario also reports the CPU-normalised capacity (viewers
// per fully used worker core at the measured cost).
// Ratio = largest step under 1 % loss with all workers ÷ with one worker
// (goal ≥ 0.9 × the worker count).
import { createSocket } from 'node:dgram';
import os from 'node:os';
import path from 'node:path';
import { CpuMeter } from '../media/cpu.ts';
import { BenchRelay, inBatches } from '../media/relay.ts';
import { loadRecording, Replayer } from '../media/replay.ts';
import { Sink } from '../media/sink.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from '../registry.ts';
import { sleep } from '../stats.ts';

const LOSS_LIMIT_PCT = 1;
const DELIVERED_MIN = 0.9;
const SINK_SOCKETS = 16;
const WARMUP_MS = 2000;

export interface WorkersRow {
  workers: number;
  viewers: number;
  /** Each worker's CPU (fraction of one core), by index, and their sum. */
  perWorkerCpu: number[];
  workerCpu: number;
  cpuMsPerViewerSec: number | null;
  /** Viewers seated on each worker. */
  seats: number[];
  lossPct: number;
  outMbps: number;
  sinkCpu: number;
  benchCpu: number;
  stop?: string;
}

async function measure(
  ctx: ScenarioContext,
  workers: number,
  sink: Sink,
  rec: Awaited<ReturnType<typeof loadRecording>>,
  programMbps: number,
): Promise<WorkersRow[]> {
  const relay = await BenchRelay.create(`bench-workers-${workers}`, { min: 30000, max: 39999 }, workers);
  const sender = createSocket('udp4');
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
  const rows: WorkersRow[] = [];
  try {
    await sink.request({ type: 'clocks', clocks: relay.clockRates() });
    const replay = new Replayer(rec, sender, await relay.ingest());
    replay.start();
    for (const n of ctx.flags.steps) {
      const have = relay.viewers.size;
      await inBatches(n - have, 32, (i) =>
        relay.addViewer({ mode: 'spread', sinkPort: sink.ports[(have + i) % sink.ports.length]!, srtp: true }),
      );
      await sleep(WARMUP_MS);
      const before = await relay.workersCpuSeconds();
      const sinkCpu = new CpuMeter(() => sink.cpuSeconds());
      const benchCpu = new CpuMeter(() => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1e6;
      });
      await sink.reset();
      await sinkCpu.start();
      await benchCpu.start();
      const t0 = performance.now();
      await sleep(ctx.flags.stepSeconds * 1000);
      const r = await sink.report();
      const seconds = (performance.now() - t0) / 1000;
      const after = await relay.workersCpuSeconds();
      const perWorkerCpu = after.map((s, i) => (s - (before[i] ?? s)) / seconds);
      const workerCpu = perWorkerCpu.reduce((a, b) => a + b, 0);
      const seats = relay.pool.workers.map((w) => w.viewers);
      const row: WorkersRow = {
        workers,
        viewers: n,
        perWorkerCpu,
        workerCpu,
        cpuMsPerViewerSec: (workerCpu * 1000) / n,
        seats,
        lossPct: r.expected > 0 ? (100 * r.lost) / r.expected : 0,
        outMbps: (r.bytes * 8) / r.seconds / 1e6,
        sinkCpu: await sinkCpu.stop(),
        benchCpu: await benchCpu.stop(),
      };
      const delivered = row.outMbps / (n * programMbps);
      if (r.ssrcs < n * 2) row.stop = `only ${r.ssrcs}/${n * 2} consumer streams arrived`;
      else if (delivered < DELIVERED_MIN) row.stop = `delivers ${(delivered * 100).toFixed(0)} % of ${n} × the program`;
      else if (row.lossPct > LOSS_LIMIT_PCT) row.stop = 'loss > 1 %';
      rows.push(row);
      ctx.log(
        `${workers} worker(s), ${n} viewers (seats ${seats.join('/')}): workers ${perWorkerCpu.map((c) => (c * 100).toFixed(0)).join('+')} %, ` +
          `loss ${row.lossPct.toFixed(2)} %, sink ${(row.sinkCpu * 100).toFixed(0)} %, bench ${(row.benchCpu * 100).toFixed(0)} %` +
          (row.stop ? ` — stop: ${row.stop}` : ''),
      );
      if (row.stop) break;
    }
    replay.stop();
  } finally {
    sender.close();
    relay.close();
  }
  await sleep(500);
  return rows;
}

/** Largest step under the loss limit that delivered the program to every viewer. */
function largest(rows: WorkersRow[]): WorkersRow | undefined {
  return rows.filter((r) => !r.stop).at(-1);
}

export const workers: Scenario = {
  name: 'workers',
  description: 'one match on 1 worker vs all workers of a relay: viewers at < 1 % loss, CPU per viewer',
  async run(ctx): Promise<ScenarioResult> {
    const all = Math.max(2, os.availableParallelism());
    const rec = await loadRecording(path.join(ctx.outDir, '.cache'), 1500);
    const programMbps = (rec.packets.reduce((a, p) => a + p.data.length, 0) * 8) / (rec.durationMs / 1000) / 1e6;
    const sink = await Sink.start(SINK_SOCKETS);
    try {
      const one = await measure(ctx, 1, sink, rec, programMbps);
      const many = await measure(ctx, all, sink, rec, programMbps);
      const best1 = largest(one);
      const bestN = largest(many);
      // What a fully used worker core holds at the measured cost (the load generator set aside).
      const perCore = (r: WorkersRow | undefined) => (r && r.workerCpu > 0 ? r.viewers / r.workerCpu : null);
      const ratio = best1 && bestN ? bestN.viewers / best1.viewers : null;
      const row = (r: WorkersRow) => [
        r.workers,
        r.viewers,
        r.seats.join('/'),
        r.perWorkerCpu.map((c) => (c * 100).toFixed(0)).join(' + '),
        r.cpuMsPerViewerSec,
        r.lossPct,
        r.outMbps,
        r.sinkCpu * 100,
        r.benchCpu * 100,
        r.stop ?? '',
      ];
      return {
        tables: [
          {
            title: `one match, one relay: 1 worker vs ${all} workers (${programMbps.toFixed(2)} Mbps program, ${ctx.flags.stepSeconds} s per step)`,
            columns: [
              'workers',
              'viewers',
              'seats per worker',
              'worker CPU % (each)',
              'CPU ms/s per viewer',
              'loss %',
              'out Mbps',
              'sink CPU %',
              'bench CPU %',
              'stopped',
            ],
            rows: [...one, ...many].map(row),
            notes: [
              `this machine has ${os.availableParallelism()} cores: the sink process and the bench (replay) share them with the workers`,
              'seats: viewers placed as a node places them (least-loaded worker; a fan-out router per extra worker)',
            ],
          },
          {
            title: `workers summary (ratio = viewers at < 1 % loss with ${all} workers ÷ with 1; goal ≥ ${(0.9 * all).toFixed(1)})`,
            columns: ['workers', 'largest step < 1 % loss', 'viewers per worker core (CPU-normalised)', 'ratio'],
            rows: [
              [1, best1?.viewers ?? 0, perCore(best1), 1],
              [all, bestN?.viewers ?? 0, perCore(bestN), ratio],
            ],
          },
        ],
        data: { programMbps, cores: os.availableParallelism(), one, many, ratio },
      };
    } finally {
      await sink.close();
    }
  },
};
