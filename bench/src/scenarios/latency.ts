// Scenario 2 — per-hop latency under load.
//
// The bench generates a synthetic Opus stream whose payload carries the send
// time (CLOCK_MONOTONIC, shared by all processes of the machine) and feeds it
// as the program audio, next to the 720p30 replay video, into relay A (one
// worker, `--latency-viewers` SRTP viewers of the program as load). Relay A
// pipes the program to relay B (another worker) with the project's own
// PipeOut/PipeIn (SRTP pipe transports, as between two nodes). One clear-RTP
// probe consumer on each relay sends to the sink process, which reads the
// send time and computes one-way delay.
//
// Baseline in the same run: the same probes sent by the bench straight to the
// sink (no relay): the floor of two Node processes on loopback. Added latency
// of a hop = path delay − the floor at the same percentile.
//
// The whole measurement runs four times in one run, alternating the program's
// video fed to the worker unpaced (feedWindow 0, as before the feed pacer) and
// paced (the node's default): the pacer's effect on a probe that follows a key
// frame.
import { createSocket } from 'node:dgram';
import path from 'node:path';
import { PipeIn, PipeOut } from '@matchmesh/sfu';
import { pin } from '../media/cpu.ts';
import { BenchRelay, inBatches } from '../media/relay.ts';
import { loadRecording, Replayer } from '../media/replay.ts';
import { Sink } from '../media/sink.ts';
import { probePayload } from '../media/sink-protocol.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from '../registry.ts';
import { percentile, sleep } from '../stats.ts';

const PROBE_SSRC = 0x4d4d5050;
const DIRECT_SSRC = 0x4d4d5044;
const PROBE_INTERVAL_MS = 10;

function rtp(ssrc: number, seq: number, ts: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = 111;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(ssrc, 8);
  return Buffer.concat([h, payload]);
}

type Recording = Awaited<ReturnType<typeof loadRecording>>;

interface Pass {
  direct: number[];
  oneHop: number[];
  twoHops: number[];
  lossPct: number;
  pinned: boolean;
  paced: number;
  /** Relay A's worker CPU over the window (% of a core) and the bench process's (Node side of both relays, sender). */
  workerCpuPct: number;
  benchCpuPct: number;
}

/** One measurement: relays A and B with `feedWindow`, load viewers on A, probes through both. */
async function measure(ctx: ScenarioContext, rec: Recording, sink: Sink, feedWindow: number): Promise<Pass> {
  const a = await BenchRelay.create('bench-latency', { min: 20000, max: 29999 }, 1, { feedWindow });
  const b = await BenchRelay.create('bench-latency', { min: 30000, max: 31999 }, 1, { feedWindow });
  const sender = createSocket('udp4');
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
  const pinned =
    ctx.flags.pin && pin(a.worker.pid, 1) && pin(b.worker.pid, 1) && pin(sink.pid, 0) && pin(process.pid, 0);
  let replay: Replayer | undefined;
  let timer: NodeJS.Timeout | undefined;
  let pipeOut: PipeOut | undefined;
  let pipeIn: PipeIn | undefined;
  try {
    await sink.request({ type: 'clocks', clocks: a.clockRates() });
    // Program = replay video + probe audio (the replay's own audio is not sent).
    const target = await a.ingest(['video', 'audio'], PROBE_SSRC);
    replay = new Replayer({ ...rec, packets: rec.packets.filter((p) => p.kind === 'video') }, sender, target);
    replay.start();
    let seq = 0;
    timer = setInterval(() => {
      seq++;
      const payload = probePayload(0);
      sender.send(rtp(PROBE_SSRC, seq, seq * 480, payload), target.port, target.ip);
      sender.send(rtp(DIRECT_SSRC, seq, seq * 480, payload), sink.ports[0]!, '127.0.0.1');
    }, PROBE_INTERVAL_MS);

    pipeIn = await PipeIn.prepare(b.stream, { ip: '127.0.0.1' });
    pipeOut = await PipeOut.open(a.stream, { ip: '127.0.0.1' }, pipeIn.offer, { nodeId: 'bench-b', region: 'asia' });
    await pipeIn.connect(pipeOut.answer);

    const n = ctx.flags.latencyViewers;
    await inBatches(n, 32, (i) =>
      a.addViewer({ mode: 'shared', sinkPort: sink.ports[i % sink.ports.length]!, srtp: true }),
    );
    const probeA = await a.addViewer({ mode: 'shared', sinkPort: sink.ports[1]!, srtp: false, kinds: ['audio'] });
    const probeB = await b.addViewer({ mode: 'shared', sinkPort: sink.ports[2]!, srtp: false, kinds: ['audio'] });
    const ssrcOf = (v: typeof probeA) => String(v.consumers[0]!.rtpParameters.encodings![0]!.ssrc);
    await sleep(2000);
    await sink.reset();
    const seconds = Math.max(5, ctx.flags.stepSeconds);
    ctx.log(`feed window ${feedWindow}: ${n} load viewers on relay A, measuring ${seconds} s (pinned=${pinned})`);
    const pacedBefore = a.stream.program.status().tracks.find((t) => t.kind === 'video')?.paced ?? 0;
    const cpu0 = await a.workerCpuSeconds();
    const bench0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const wallS = (performance.now() - t0) / 1000;
    const workerCpuPct = (100 * ((await a.workerCpuSeconds()) - cpu0)) / wallS;
    const benchUsage = process.cpuUsage(bench0);
    const benchCpuPct = (100 * (benchUsage.user + benchUsage.system)) / 1e6 / wallS;
    const r = await sink.report();
    const pacedAfter = a.stream.program.status().tracks.find((t) => t.kind === 'video')?.paced ?? 0;
    return {
      direct: r.probes[String(DIRECT_SSRC)] ?? [],
      oneHop: r.probes[ssrcOf(probeA)] ?? [],
      twoHops: r.probes[ssrcOf(probeB)] ?? [],
      lossPct: r.expected ? (100 * r.lost) / r.expected : 0,
      pinned,
      paced: pacedAfter - pacedBefore,
      workerCpuPct,
      benchCpuPct,
    };
  } finally {
    clearInterval(timer);
    replay?.stop();
    pipeOut?.close();
    pipeIn?.close();
    sender.close();
    a.close();
    b.close();
  }
}

function pool(x: Pass, y: Pass): Pass {
  return {
    direct: [...x.direct, ...y.direct],
    oneHop: [...x.oneHop, ...y.oneHop],
    twoHops: [...x.twoHops, ...y.twoHops],
    lossPct: (x.lossPct + y.lossPct) / 2,
    pinned: x.pinned && y.pinned,
    paced: x.paced + y.paced,
    workerCpuPct: (x.workerCpuPct + y.workerCpuPct) / 2,
    benchCpuPct: (x.benchCpuPct + y.benchCpuPct) / 2,
  };
}

export const latency: Scenario = {
  name: 'latency',
  description:
    'per-hop latency: probe RTP through relay A (under load) and A → pipe → relay B, vs direct send; video fed unpaced vs paced',
  async run(ctx): Promise<ScenarioResult> {
    const rec = await loadRecording(path.join(ctx.outDir, '.cache'), 1500);
    const sink = await Sink.start(8);
    try {
      // Alternating passes (unpaced, paced, unpaced, paced), samples pooled per mode: a
      // change in the machine's load during the run weighs on both modes alike.
      const passes: Pass[] = [];
      for (const w of [0, ctx.flags.feedWindow, 0, ctx.flags.feedWindow]) passes.push(await measure(ctx, rec, sink, w));
      const unpaced = pool(passes[0]!, passes[2]!);
      const paced = pool(passes[1]!, passes[3]!);
      const ms = (v: number | null) => (v === null ? null : v / 1000);
      const pct = (xs: number[], p: number) => ms(percentile(xs, p));
      const diff = (x: number | null, y: number | null) => (x === null || y === null ? null : x - y);
      const row = (name: string, xs: number[], base: number[]) => [
        name,
        xs.length,
        pct(xs, 50),
        pct(xs, 99),
        pct(xs, 100),
        diff(pct(xs, 50), pct(base, 50)),
        diff(pct(xs, 99), pct(base, 99)),
      ];
      const rows = (label: string, p: Pass) => [
        row(`${label}: direct bench → sink (floor)`, p.direct, p.direct),
        row(`${label}: bench → relay A → sink (1 hop)`, p.oneHop, p.direct),
        row(`${label}: bench → A → pipe → relay B → sink (2 hops)`, p.twoHops, p.direct),
        row(`${label}:   second hop alone (B vs A)`, p.twoHops, p.oneHop),
      ];
      const hop1 = (p: Pass) => diff(pct(p.oneHop, 99), pct(p.direct, 99));
      const n = ctx.flags.latencyViewers;
      const summary = (p: Pass) => ({
        lossPct: p.lossPct,
        pinned: p.pinned,
        pacedPackets: p.paced,
        p: Object.fromEntries(
          Object.entries({ direct: p.direct, oneHop: p.oneHop, twoHops: p.twoHops }).map(([k, xs]) => [
            k,
            { n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), max: pct(xs, 100) },
          ]),
        ),
      });
      const h0 = hop1(unpaced);
      const h1 = hop1(paced);
      return {
        tables: [
          {
            title: `per-hop latency on loopback, ${n} SRTP viewers of the 720p30 program on relay A, probes every ${PROBE_INTERVAL_MS} ms: video fed unpaced, then paced (window ${ctx.flags.feedWindow})`,
            columns: ['path', 'samples', 'p50 ms', 'p99 ms', 'max ms', 'added p50 ms', 'added p99 ms'],
            rows: [...rows('unpaced', unpaced), ...rows('paced', paced)],
            notes: [
              'added = path percentile − floor percentile (the floor is two Node processes on loopback, measured in the same pass)',
              `hop 1 added p99: paced ${h1?.toFixed(2)} ms vs unpaced ${h0?.toFixed(2)} ms (ratio ${h0 && h1 !== null ? (h1 / h0).toFixed(2) : 'n/a'})`,
              `video packets held for the worker by the pacer in the window: ${paced.paced}`,
              `relay A worker CPU: unpaced ${unpaced.workerCpuPct.toFixed(1)} %, paced ${paced.workerCpuPct.toFixed(1)} % of a core; bench process (Node side of both relays, probe sender): unpaced ${unpaced.benchCpuPct.toFixed(1)} %, paced ${paced.benchCpuPct.toFixed(1)} %`,
              `load viewers' loss in the window: unpaced ${unpaced.lossPct.toFixed(2)} %, paced ${paced.lossPct.toFixed(2)} %; workers pinned to CPU 1: ${paced.pinned}`,
            ],
          },
        ],
        data: { viewers: n, unpaced: summary(unpaced), paced: summary(paced) },
      };
    } finally {
      await sink.close();
    }
  },
};
