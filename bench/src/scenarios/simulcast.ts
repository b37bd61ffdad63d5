// Scenario — what a simulcast program costs the fan-out (issue 14).
//
// The fan-out bench's worker, sink and steps, fed twice in one run:
//  - 'one layer': the single-layer 720p30 recording (1.5 Mbit/s), simple consumers;
//  - '3 layers': the same test match as a ladder whose top layer is that same
//    720p30 1.5 Mbit/s, over 640x360 and 320x180 (encoded once by the origin
//    agent's own ffmpeg ladder), every viewer a simulcast consumer getting the
//    top layer (a PlainTransport has no bandwidth estimate: the preferred layer).
// Each viewer receives the same bytes in both passes, so the difference is the
// worker's: two more layers entering it, its stable program splicing three
// streams, and mediasoup's SimulcastConsumer (layer selection, sequence and
// timestamp rewriting) instead of the SimpleConsumer.
// Ratio = CPU per viewer-second with 3 layers ÷ with one layer, per step.
import { createSocket } from 'node:dgram';
import path from 'node:path';
import { CpuMeter } from '../media/cpu.ts';
import { BenchRelay, inBatches } from '../media/relay.ts';
import { loadLadderRecording, loadRecording, type Recording, Replayer } from '../media/replay.ts';
import { Sink } from '../media/sink.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from '../registry.ts';
import { sleep } from '../stats.ts';

const LOSS_LIMIT_PCT = 1;
const DELIVERED_MIN = 0.9;
const SINK_SOCKETS = 16;
const WARMUP_MS = 2000;
/** Top layer = the single-layer recording (720p30, 1.5 Mbit/s): each viewer gets the same bytes in both passes. */
export const BENCH_LADDER = '1280x720@30:1500,640x360@30:600,320x180@30:200';

type Program = 'one layer' | '3 layers';

export interface SimulcastRow {
  program: Program;
  viewers: number;
  /** Viewers whose video consumer forwards the top layer. */
  onTop: number;
  workerCpu: number;
  cpuMsPerViewerSec: number | null;
  lossPct: number;
  outMbps: number;
  sinkCpu: number;
  stop?: string;
}

/** Bitrate of what one viewer receives: audio and the top video layer. */
function viewerMbps(rec: Recording): number {
  const top = Math.max(...rec.packets.map((p) => p.layer));
  const bytes = rec.packets.filter((p) => p.kind === 'audio' || p.layer === top).reduce((a, p) => a + p.data.length, 0);
  return (bytes * 8) / (rec.durationMs / 1000) / 1e6;
}

async function measure(ctx: ScenarioContext, program: Program, rec: Recording, sink: Sink): Promise<SimulcastRow[]> {
  const relay = await BenchRelay.create(`bench-simulcast-${program.replace(' ', '-')}`, { min: 40000, max: 44999 });
  const sender = createSocket('udp4');
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
  const perViewer = viewerMbps(rec);
  const rows: SimulcastRow[] = [];
  try {
    await sink.request({ type: 'clocks', clocks: relay.clockRates() });
    const replay = new Replayer(rec, sender, await relay.ingest(['video', 'audio'], undefined, rec.videoSsrcs));
    replay.start();
    for (const n of [0, ...ctx.flags.steps]) {
      const have = relay.viewers.size;
      await inBatches(n - have, 32, (i) =>
        relay.addViewer({
          mode: 'shared',
          sinkPort: sink.ports[(have + i) % sink.ports.length]!,
          srtp: true,
          noBwe: true,
        }),
      );
      await sleep(WARMUP_MS);
      const cpu = new CpuMeter(() => relay.workerCpuSeconds());
      const sinkCpu = new CpuMeter(() => sink.cpuSeconds());
      await sink.reset();
      await cpu.start();
      await sinkCpu.start();
      await sleep(ctx.flags.stepSeconds * 1000);
      const r = await sink.report();
      const workerCpu = await cpu.stop();
      // Which layer each viewer's video consumer forwards (a simple consumer: the one layer there is).
      const video = [...relay.viewers].map((v) => v.consumers.find((c) => c.kind === 'video'));
      const top = rec.videoSsrcs.length - 1;
      const onTop = video.filter((c) => c && (c.type !== 'simulcast' || c.currentLayers?.spatialLayer === top)).length;
      const row: SimulcastRow = {
        program,
        viewers: n,
        onTop,
        workerCpu,
        cpuMsPerViewerSec: n > 0 ? (workerCpu * 1000) / n : null,
        lossPct: n > 0 && r.expected > 0 ? (100 * r.lost) / r.expected : 0,
        outMbps: (r.bytes * 8) / r.seconds / 1e6,
        sinkCpu: await sinkCpu.stop(),
      };
      const delivered = n > 0 ? row.outMbps / (n * perViewer) : 1;
      if (onTop < n) row.stop = `only ${onTop}/${n} viewers on the top layer`;
      else if (n > 0 && r.ssrcs < n * 2) row.stop = `only ${r.ssrcs}/${n * 2} consumer streams arrived`;
      else if (delivered < DELIVERED_MIN)
        row.stop = `delivers ${(delivered * 100).toFixed(0)} % of ${n} × a viewer's share`;
      else if (row.lossPct > LOSS_LIMIT_PCT) row.stop = 'loss > 1 %';
      rows.push(row);
      ctx.log(
        `${program}, ${n} viewers (${onTop} on the top layer): worker ${(workerCpu * 100).toFixed(0)} %` +
          (row.cpuMsPerViewerSec !== null ? ` (${row.cpuMsPerViewerSec.toFixed(2)} ms per viewer-second)` : '') +
          `, loss ${row.lossPct.toFixed(2)} %, ${row.outMbps.toFixed(1)} Mbit/s out, sink ${(row.sinkCpu * 100).toFixed(0)} %` +
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

export const simulcast: Scenario = {
  name: 'simulcast',
  description: 'fan-out worker CPU per viewer-second: a 3-layer simulcast program vs one layer (same top layer)',
  async run(ctx): Promise<ScenarioResult> {
    const cache = path.join(ctx.outDir, '.cache');
    const single = await loadRecording(cache, 1500);
    const ladder = await loadLadderRecording(cache, BENCH_LADDER);
    const sink = await Sink.start(SINK_SOCKETS);
    try {
      const one = await measure(ctx, 'one layer', single, sink);
      const three = await measure(ctx, '3 layers', ladder, sink);
      const byViewers = new Map(one.map((r) => [r.viewers, r]));
      const ratios = three
        .filter(
          (r) =>
            r.viewers > 0 && !r.stop && byViewers.get(r.viewers)?.cpuMsPerViewerSec && !byViewers.get(r.viewers)?.stop,
        )
        .map((r) => ({
          viewers: r.viewers,
          ratio: r.cpuMsPerViewerSec! / byViewers.get(r.viewers)!.cpuMsPerViewerSec!,
        }));
      const ratioAt = (n: number) => ratios.find((r) => r.viewers === n)?.ratio ?? null;
      return {
        tables: [
          {
            title:
              `fan-out, one worker: 3-layer simulcast (${BENCH_LADDER}) vs one layer (720p30 1.5 Mbit/s); ` +
              `each viewer gets the 720p layer (${viewerMbps(single).toFixed(2)} / ${viewerMbps(ladder).toFixed(2)} Mbit/s), ${ctx.flags.stepSeconds} s per step`,
            columns: [
              'program',
              'viewers',
              'on top layer',
              'worker CPU %',
              'CPU ms/s per viewer',
              '3 layers ÷ one',
              'loss %',
              'out Mbps',
              'sink CPU %',
              'stopped',
            ],
            rows: [...one, ...three].map((r) => [
              r.program,
              r.viewers,
              r.onTop,
              r.workerCpu * 100,
              r.cpuMsPerViewerSec,
              r.program === '3 layers' ? ratioAt(r.viewers) : null,
              r.lossPct,
              r.outMbps,
              r.sinkCpu * 100,
              r.stop ?? '',
            ]),
            notes: [
              'the 0-viewer rows are the cost of taking the program in (3 layers enter the worker and its stable program)',
              'viewers are SRTP PlainTransport consumers without bandwidth estimation (the sink sends no feedback; with it, ' +
                'an estimating transport sits at its initial 600 kbit/s): each simulcast consumer forwards its preferred, top layer; ' +
                'a WebRTC viewer adds the transport-cc work to both programs alike',
            ],
          },
        ],
        data: { ladder: BENCH_LADDER, one, three, ratios },
      };
    } finally {
      await sink.close();
    }
  },
};
