// Scenario 1 — fan-out capacity of ONE relay worker.
//
// One 720p30 ~1.5 Mbps H.264 + Opus program (the origin's test match, as a
// pre-recorded RTP replay) enters one mediasoup worker; N viewers are SRTP
// PlainTransport consumers sending to a UDP sink in another process, which
// checks RTP sequence numbers (loss) and arrival times (RFC 3550 jitter).
// N grows in steps until loss > 1 % or the worker's core is saturated.
//
// Baselines in the same run, same sink:
//  - 'per-packet': the same shared-router viewers on a second worker started
//    with MEDIASOUP_SEND_BATCH=0 (one sendto per datagram, mediasoup's own
//    path) against the default batched sends (sendmmsg per socket per loop
//    iteration, see packages/sfu/worker-build/README.md). Ratio = per-packet ÷
//    batched CPU per viewer.
//  - 'naive' (--naive): a router per viewer fed by pipeToRouter, in the batched
//    worker. Ratio = naive ÷ matchmesh CPU per viewer.
// --perf records the worker with perf during the step nearest --perf-viewers
// (after that step's measurement, so the figures are not perturbed).
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CpuMeter, pin } from '../media/cpu.ts';
import { PerfRecord, type PerfSummary } from '../media/perf.ts';
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

/** How the worker sends: batched sendmmsg (the recipe's default) or mediasoup's one send per datagram. */
export type SendPath = 'batched' | 'per-packet';

export interface FanoutRow {
  mode: AttachMode;
  sendPath: SendPath;
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

const label = (r: { mode: AttachMode; sendPath: SendPath }): string =>
  r.mode === 'naive' ? 'naive' : r.sendPath === 'batched' ? 'matchmesh' : 'matchmesh per-packet';

interface Profiling {
  viewers: number;
  outBase: string;
  result?: PerfSummary;
}

async function measureMode(
  ctx: ScenarioContext,
  relay: BenchRelay,
  sink: Sink,
  mode: AttachMode,
  sendPath: SendPath,
  ingestPort: number,
  programMbps: number,
  profiling?: Profiling,
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
      sendPath,
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
      `${label(row)} ${n} viewers: worker ${(cpu * 100).toFixed(0)} %, loss ${row.lossPct.toFixed(2)} %, ` +
        `jitter ${row.jitterMeanMs.toFixed(2)} ms, sink ${(sc * 100).toFixed(0)} %, setup ${(setupMs / 1000).toFixed(1)} s${row.stop ? ` — stop: ${row.stop}` : ''}`,
    );
    if (profiling && n === profiling.viewers) await profile(ctx, relay, profiling, `${label(row)}, ${n} viewers`);
    if (row.stop) break;
  }
  relay.closeViewers();
  await sleep(500);
  return rows;
}

/** One more step-long window with perf sampling the worker (kept out of the measured window). */
async function profile(ctx: ScenarioContext, relay: BenchRelay, p: Profiling, title: string): Promise<void> {
  const rec = await PerfRecord.start(relay.worker.pid, `${p.outBase}.perf.data`);
  if (!rec) {
    ctx.log('perf record could not start (is linux-perf installed? run node scripts/setup.mjs): no profile');
    return;
  }
  await sleep(ctx.flags.stepSeconds * 1000);
  p.result = await rec.stop(title, `mediasoup-worker, fan-out: ${title}`, p.outBase);
  const top = p.result.top.slice(0, 8).map((r) => `${r.symbol} ${r.pct.toFixed(1)} %`);
  ctx.log(`perf ${title}: ${p.result.samples} samples; self: ${top.join(', ')}`);
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
    const sender = createSocket('udp4');
    await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
    const bitrate = (rec.packets.reduce((a, p) => a + p.data.length, 0) * 8) / (rec.durationMs / 1000) / 1e6;
    const steps = ctx.flags.steps;
    const perfViewers = steps.reduce((a, b) =>
      Math.abs(b - ctx.flags.perfViewers) < Math.abs(a - ctx.flags.perfViewers) ? b : a,
    );
    const profiling = (sendPath: SendPath): Profiling | undefined =>
      ctx.flags.perf ? { viewers: perfViewers, outBase: path.join(ctx.outDir, `fanout-perf-${sendPath}`) } : undefined;
    let pinned = false;

    /** One worker (send path chosen by its environment at start), its viewers' steps, then closed. */
    const runWorker = async (sendPath: SendPath, prof?: Profiling) => {
      // mediasoup's createWorker passes the parent's environment to the worker; the
      // patched worker reads MEDIASOUP_SEND_BATCH once at start (default: batched).
      const saved = process.env.MEDIASOUP_SEND_BATCH;
      process.env.MEDIASOUP_SEND_BATCH = sendPath === 'batched' ? '1' : '0';
      let relay: BenchRelay;
      try {
        relay = await BenchRelay.create(`bench-fanout-${sendPath}`, { min: 20000, max: 29999 });
      } finally {
        if (saved === undefined) delete process.env.MEDIASOUP_SEND_BATCH;
        else process.env.MEDIASOUP_SEND_BATCH = saved;
      }
      // One core for the worker, the other for sink + bench: the worker is the
      // thing measured and must not share its core with the sink we add.
      pinned = ctx.flags.pin && pin(relay.worker.pid, 1) && pin(sink.pid, 0) && pin(process.pid, 0);
      let replay: Replayer | undefined;
      try {
        await sink.request({ type: 'clocks', clocks: relay.clockRates() });
        const target = await relay.ingest();
        replay = new Replayer(rec, sender, target);
        replay.start();
        ctx.log(`${sendPath} sends: worker pid ${relay.worker.pid} pinned=${pinned}`);
        const shared = await measureMode(ctx, relay, sink, 'shared', sendPath, target.port, bitrate, prof);
        const naive =
          sendPath === 'batched' && ctx.flags.naive
            ? await measureMode(ctx, relay, sink, 'naive', sendPath, target.port, bitrate)
            : [];
        return { shared, naive };
      } finally {
        replay?.stop();
        relay.close();
      }
    };

    try {
      ctx.log(`replay ${rec.packets.length} packets, ${bitrate.toFixed(2)} Mbps`);
      const profB = profiling('batched');
      const profP = profiling('per-packet');
      const { shared, naive } = await runWorker('batched', profB);
      const { shared: perPacket } = await runWorker('per-packet', profP);
      const caps = { matchmesh: capacity(shared), perPacket: capacity(perPacket), naive: capacity(naive) };
      const svgFile = path.join(ctx.outDir, 'fanout.svg');
      writeFileSync(svgFile, chart(shared, perPacket, naive));
      const row = (r: FanoutRow) => [
        label(r),
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
      const pairs = (base: FanoutRow[]) =>
        shared
          .filter((s) => s.viewers > 0 && !invalid(s))
          .flatMap((s) => {
            const b = base.find((x) => x.viewers === s.viewers && !invalid(x));
            return b ? [[s, b] as const] : [];
          });
      const batching = pairs(perPacket).map(([s, p]) => ({
        viewers: s.viewers,
        batchedCpuMs: s.cpuMsPerViewerSec,
        perPacketCpuMs: p.cpuMsPerViewerSec,
        ratio: s.workerCpu > 0 ? p.workerCpu / s.workerCpu : null,
        batchedLossPct: s.lossPct,
        perPacketLossPct: p.lossPct,
      }));
      const profiles = [profB?.result, profP?.result].filter((x): x is PerfSummary => Boolean(x));
      const tables: ScenarioResult['tables'] = [
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
          rows: [...shared, ...perPacket, ...naive].map(row),
          notes: [
            `worker pinned to CPU 1, sink and bench to CPU 0: ${pinned}`,
            "matchmesh = batched sends (sendmmsg per socket per loop iteration); per-packet = a second worker with MEDIASOUP_SEND_BATCH=0 (mediasoup's one send per datagram), measured after it",
            'each bench viewer is a PlainTransport with its own socket: a batch holds the datagrams one socket gets in one loop iteration (several program packets read at once), not the N viewers of one packet as on a WebRtcServer socket',
            'loss = RTP seq gaps at the sink over all consumer SSRCs (mediasoup probation padding excluded)',
            'ingest drops = program packets the kernel dropped at the worker ingest socket (worker not scheduled in time: each costs one packet per viewer); sink drops = same at the sink sockets',
            'naive = one router per viewer fed by pipeToRouter (baseline in the batched worker, same sink)',
          ],
        },
        {
          title: 'send batching: CPU ms per viewer-second, batched vs per-packet (ratio = per-packet ÷ batched)',
          columns: ['viewers', 'batched', 'per-packet', 'ratio', 'loss % batched', 'loss % per-packet'],
          rows: batching.map((b) => [
            b.viewers,
            b.batchedCpuMs,
            b.perPacketCpuMs,
            b.ratio,
            b.batchedLossPct,
            b.perPacketLossPct,
          ]),
          notes: ['issue 13 goal: ≤ 2.5 ms per viewer-second (done), ≤ 1.25 ms (goal)'],
        },
        {
          title: 'fan-out summary',
          columns: ['relay', 'largest step < 1 % loss', 'viewers per core (extrapolated)', 'CPU ms/s per viewer'],
          rows: [
            ['matchmesh', caps.matchmesh.measured, caps.matchmesh.perCore, caps.matchmesh.cpuMs],
            ['matchmesh per-packet', caps.perPacket.measured, caps.perPacket.perCore, caps.perPacket.cpuMs],
            ...(naive.length ? [['naive', caps.naive.measured, caps.naive.perCore, caps.naive.cpuMs]] : []),
          ],
        },
      ];
      if (naive.length) {
        tables.push({
          title: 'fan-out ratio at equal viewer counts (naive ÷ matchmesh: how many times more viewers per core)',
          columns: ['viewers', 'matchmesh CPU %', 'naive CPU %', 'ratio naive/matchmesh'],
          rows: pairs(naive).map(([s, n]) => [
            s.viewers,
            s.workerCpu * 100,
            n.workerCpu * 100,
            s.workerCpu > 0 ? n.workerCpu / s.workerCpu : null,
          ]),
        });
      }
      for (const p of profiles) {
        tables.push({
          title: `worker profile (self time), ${p.label}: ${p.samples} samples`,
          columns: ['symbol', 'self %', 'samples'],
          rows: p.top.slice(0, 15).map((r) => [r.symbol, r.pct, r.samples]),
          notes: [
            Object.entries(p.inclusive)
              .map(([k, v]) => `${k}: ${v.toFixed(1)} % inclusive`)
              .join('; '),
            `folded stacks ${path.relative(process.cwd(), p.folded)}, flame graph ${path.relative(process.cwd(), p.svg)}`,
          ],
        });
      }
      return {
        tables,
        data: { bitrateMbps: bitrate, pinned, shared, perPacket, naive, batching, capacity: caps, profiles },
        files: [svgFile, ...profiles.flatMap((p) => [p.folded, p.svg])].map((f) => path.relative(process.cwd(), f)),
      };
    } finally {
      sender.close();
      await sink.close();
    }
  },
};

function chart(shared: FanoutRow[], perPacket: FanoutRow[], naive: FanoutRow[]): string {
  const series = (pick: (r: FanoutRow) => number) => [
    {
      name: 'matchmesh (batched)',
      color: '#1f6feb',
      points: shared.map((r): [number, number] => [r.viewers, pick(r)]),
    },
    {
      name: 'per-packet sends',
      color: '#7c3aed',
      points: perPacket.map((r): [number, number] => [r.viewers, pick(r)]),
    },
    ...(naive.length
      ? [
          {
            name: 'naive (router/viewer)',
            color: '#d97706',
            points: naive.map((r): [number, number] => [r.viewers, pick(r)]),
          },
        ]
      : []),
  ];
  const cpu = lineChart({
    title: 'Fan-out: relay worker CPU vs viewers (one worker)',
    xLabel: 'viewers (SRTP consumers)',
    yLabel: 'worker CPU, % of one core',
    series: series((r) => r.workerCpu * 100),
    marks: [{ y: 100, label: 'one core' }],
    yMax: 120,
  });
  const loss = lineChart({
    title: 'Fan-out: packet loss at the sink',
    xLabel: 'viewers (SRTP consumers)',
    yLabel: 'loss %',
    series: series((r) => r.lossPct),
    marks: [{ y: 1, label: '1 % budget' }],
  });
  return stack([cpu, loss]);
}
