// Issue 16's WHEP alignment, its price tag: the CPU of a language's delay line (DelayedProgram: the
// program consumed on a DirectTransport, every packet held D in Node on one timer queue, produced again)
// at the program's default bit rate, against a same-run baseline without it.
//
// A synthetic program (1.5 Mbit/s of 1,200-byte video packets at 30 frames a second, and 20 ms Opus-sized
// audio packets) is sent into a DirectTransport producer pair on a real mediasoup worker; one viewer (a
// PlainTransport consumer into a UDP socket) receives either the program itself (baseline) or the
// language's delay line of it (held 300 ms). Rounds alternate, so load from elsewhere hits both alike.
// Figures: Node's CPU (process.cpuUsage) and the worker's (getResourceUsage) per phase, and how late the
// viewer gets each packet beyond the hold (the timer queue's own error).

import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import * as mediasoup from 'mediasoup';
import { MEDIA_CODECS } from '../../../packages/sfu/src/codecs.ts';
import { DelayedProgram } from '../../../packages/sfu/src/delay/DelayedProgram.ts';
import type { Scenario, ScenarioResult } from '../registry.ts';
import { percentile, sleep } from '../stats.ts';

const HOLD_MS = 300;
const ROUNDS = 3;
const ROUND_SECONDS = 6;
const VIDEO_KBPS = 1500;
const FPS = 30;
const VIDEO_PACKET = 1200;
const AUDIO_PACKET = 120;

interface Phase {
  nodeCpu: number[];
  workerCpu: number[];
  lateness: number[];
  packets: number;
}

/** VP8 (RFC 7741) start of a key frame, 1280×720: mediasoup's consumers forward video from a key frame on. */
const VP8_KEY_FRAME_START = [0x10, 0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02];

/** A packet whose last 8 bytes are its send time (performance.now(), float64), so the viewer times it. */
function rtp(pt: number, seq: number, ts: number, ssrc: number, size: number, marker: boolean, head = [0]): Buffer {
  const b = Buffer.alloc(size);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  Buffer.from(head).copy(b, 12);
  b.writeDoubleBE(performance.now(), size - 8);
  return b;
}

async function workerCpuMs(worker: mediasoup.types.Worker): Promise<number> {
  const u = await worker.getResourceUsage();
  return u.ru_utime + u.ru_stime;
}

export const whepDelay: Scenario = {
  name: 'whep-delay',
  description: "WHEP language delay line: Node and worker CPU at the program's bit rate vs the program straight",
  async run(ctx): Promise<ScenarioResult> {
    const worker = await mediasoup.createWorker({ logLevel: 'error' });
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const sink = createSocket('udp4');
    sink.bind(0, '127.0.0.1');
    await once(sink, 'listening');
    try {
      const caps = router.rtpCapabilities;
      const codecOf = (mime: string) => caps.codecs!.find((c) => c.mimeType.toLowerCase() === mime)!;
      const vp8 = codecOf('video/vp8');
      const opus = codecOf('audio/opus');
      const direct = await router.createDirectTransport();
      const video = await direct.produce({
        kind: 'video',
        rtpParameters: {
          codecs: [{ ...vp8, payloadType: vp8.preferredPayloadType!, rtcpFeedback: [] }],
          encodings: [{ ssrc: 0x1111 }],
        },
      });
      const audio = await direct.produce({
        kind: 'audio',
        rtpParameters: {
          codecs: [{ ...opus, payloadType: opus.preferredPayloadType!, channels: 2, rtcpFeedback: [] }],
          encodings: [{ ssrc: 0x2222 }],
        },
      });
      // The program at its pace: a frame's packets every 1/30 s, an audio packet every 20 ms.
      const perFrame = Math.ceil((VIDEO_KBPS * 1000) / 8 / FPS / VIDEO_PACKET);
      let vseq = 0;
      let aseq = 0;
      let frame = 0;
      const vTimer = setInterval(() => {
        frame++;
        for (let i = 0; i < perFrame; i++) {
          const head = i === 0 ? VP8_KEY_FRAME_START : [0x00];
          video.send(
            rtp(vp8.preferredPayloadType!, vseq++, frame * 3000, 0x1111, VIDEO_PACKET, i === perFrame - 1, head),
          );
        }
      }, 1000 / FPS);
      const aTimer = setInterval(() => {
        audio.send(rtp(opus.preferredPayloadType!, aseq, aseq * 960, 0x2222, AUDIO_PACKET, false));
        aseq++;
      }, 20);

      const phases: Record<'straight' | 'delayed', Phase> = {
        straight: { nodeCpu: [], workerCpu: [], lateness: [], packets: 0 },
        delayed: { nodeCpu: [], workerCpu: [], lateness: [], packets: 0 },
      };
      let current: { phase: Phase; hold: number } | undefined;
      const mediaTypes = new Set([vp8.preferredPayloadType!, opus.preferredPayloadType!]);
      sink.on('message', (p) => {
        // Only the program's packets: not RTCP (Sender Reports share the port: rtcp-mux), not the transport's
        // bandwidth probation (payload type 127).
        if (!current || p.length < 20 || !mediaTypes.has(p[1]! & 0x7f) || (p[1]! >= 192 && p[1]! <= 223)) return;
        current.phase.packets++;
        current.phase.lateness.push(performance.now() - p.readDoubleBE(p.length - 8) - current.hold);
      });
      for (let round = 0; round < ROUNDS; round++) {
        for (const name of ['straight', 'delayed'] as const) {
          const line =
            name === 'delayed'
              ? await DelayedProgram.create(router, [video, audio], 'en', HOLD_MS, { stream: 'bench' })
              : undefined;
          const out = await router.createPlainTransport({
            listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
            rtcpMux: true,
            comedia: false,
          });
          await out.connect({ ip: '127.0.0.1', port: sink.address().port });
          for (const p of line ? line.producers() : [video, audio]) {
            await out.consume({ producerId: p.id, rtpCapabilities: caps });
          }
          // Settle (the hold fills), then measure.
          await sleep(HOLD_MS + 500);
          const phase = phases[name];
          current = { phase, hold: line ? HOLD_MS : 0 };
          const cpu0 = process.cpuUsage();
          const w0 = await workerCpuMs(worker);
          const t0 = performance.now();
          await sleep(ROUND_SECONDS * 1000);
          const wall = performance.now() - t0;
          const cpu = process.cpuUsage(cpu0);
          phase.nodeCpu.push(((cpu.user + cpu.system) / 1000 / wall) * 100);
          phase.workerCpu.push((((await workerCpuMs(worker)) - w0) / wall) * 100);
          current = undefined;
          out.close();
          line?.close();
          ctx.log(`whep-delay: round ${round + 1} ${name} done`);
        }
      }
      clearInterval(vTimer);
      clearInterval(aTimer);
      const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const rows = (['straight', 'delayed'] as const).map((name) => {
        const p = phases[name];
        return {
          name,
          nodeCpuPct: avg(p.nodeCpu),
          workerCpuPct: avg(p.workerCpu),
          nodeRounds: p.nodeCpu.map((x) => x.toFixed(1)).join(' / '),
          latenessP50: percentile(p.lateness, 50),
          latenessP99: percentile(p.lateness, 99),
          packetsPerSec: p.packets / (ROUNDS * ROUND_SECONDS),
        };
      });
      const [straight, delayed] = rows;
      return {
        tables: [
          {
            title: `WHEP language delay line: ${VIDEO_KBPS} kbit/s program + audio, held ${HOLD_MS} ms, ${ROUNDS} alternating rounds of ${ROUND_SECONDS} s`,
            columns: [
              'viewer gets',
              'Node CPU % of a core (mean; per round)',
              'worker CPU %',
              'packets/s',
              'arrival beyond the hold p50 ms',
              'p99 ms',
            ],
            rows: rows.map((r) => [
              r.name === 'straight' ? 'the program (baseline)' : `the en delay line (${HOLD_MS} ms)`,
              `${r.nodeCpuPct.toFixed(1)} (${r.nodeRounds})`,
              r.workerCpuPct,
              r.packetsPerSec,
              r.latenessP50,
              r.latenessP99,
            ]),
            notes: [
              `the delay line's cost: Node +${(delayed!.nodeCpuPct - straight!.nodeCpuPct).toFixed(1)} % of a core, ` +
                `worker +${(delayed!.workerCpuPct - straight!.workerCpuPct).toFixed(1)} % (once per node, stream and language, whatever the number of its WHEP players)`,
              'both phases include sending the synthetic program (the same in each)',
            ],
          },
        ],
        data: { holdMs: HOLD_MS, rows },
      };
    } finally {
      sink.close();
      worker.close();
    }
  },
};
