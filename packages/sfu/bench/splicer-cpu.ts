/**
 * CPU cost of the stable-stream splicer per stream, beside a baseline of
 * plain forwarding, on the real mediasoup worker:
 *
 *   baseline: source producer → pipeToRouter (a PipeTransport pair, what a
 *             relay's pipe does) → a PlainTransport consumer (to a discard port)
 *   stable:   source producer → StableProgram (DirectTransport consumer up to
 *             Node, rewrite, DirectTransport producer back down) → the same
 *             PlainTransport consumer
 *
 * The source is a DirectTransport producer fed from Node with synthetic
 * H.264 (1.5 Mbit/s, 30 fps, a key frame per second) and Opus (50 packets/s)
 * — the same in both runs, so the difference is the splicer. Reported: Node
 * (main thread) and worker CPU, in % of one core per stream.
 *
 *   tsx packages/sfu/bench/splicer-cpu.ts [streams=4] [seconds=10]
 *
 * Exported as `measureSplicerCpu()` for `npm run bench` to register as a scenario.
 */
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { MEDIA_CODECS } from '../src/codecs.ts';
import { StableProgram } from '../src/stable/StableProgram.ts';

export interface SplicerCpuResult {
  streams: number;
  seconds: number;
  /** % of one core per stream. */
  baseline: { nodePct: number; workerPct: number };
  stable: { nodePct: number; workerPct: number };
  packetsPerSecondPerStream: number;
}

const VIDEO_PT = 102;
const AUDIO_PT = 100;
const FPS = 30;
const VIDEO_BPS = 1_500_000;
const MTU_PAYLOAD = 1100;

interface Feed {
  video: types.Producer;
  audio: types.Producer;
  seq: { video: number; audio: number };
  frame: number;
}

async function sourceProducers(router: types.Router): Promise<{ transport: types.DirectTransport; feed: Feed }> {
  const transport = await router.createDirectTransport();
  const h264 = router.rtpCapabilities.codecs!.find(
    (c) => c.mimeType === 'video/H264' && c.parameters?.['profile-level-id'] === '42e01f',
  )!;
  const opus = router.rtpCapabilities.codecs!.find((c) => c.mimeType === 'audio/opus')!;
  const video = await transport.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/H264', payloadType: VIDEO_PT, clockRate: 90000, parameters: h264.parameters }],
      encodings: [{ ssrc: 1111 }],
    },
  });
  const audio = await transport.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [
        { mimeType: 'audio/opus', payloadType: AUDIO_PT, clockRate: 48000, channels: 2, parameters: opus.parameters },
      ],
      encodings: [{ ssrc: 2222 }],
    },
  });
  return { transport, feed: { video, audio, seq: { video: 1, audio: 1 }, frame: 0 } };
}

function packet(pt: number, seq: number, ts: number, ssrc: number, marker: boolean, payload: Buffer): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  payload.copy(b, 12);
  return b;
}

/** One video frame (FU-A fragments of an IDR or a P slice) and one 20 ms Opus packet's worth per call site. */
function sendFrame(f: Feed): void {
  const key = f.frame % FPS === 0;
  const size = Math.round((VIDEO_BPS / 8 / FPS) * (key ? 4 : 0.9));
  const ts = f.frame * 3000;
  const nal = key ? 0x05 : 0x01;
  // mediasoup (3.27) takes a packet with an SPS as the key frame start, as the encoder sends it.
  if (key)
    f.video.send(packet(VIDEO_PT, f.seq.video++, ts, 1111, false, Buffer.from([0x67, 0x42, 0xe0, 0x1f, 0xda, 0x01])));
  for (let off = 0; off < size; off += MTU_PAYLOAD) {
    const len = Math.min(MTU_PAYLOAD, size - off);
    const payload = Buffer.alloc(len + 2, 0xab);
    payload[0] = 0x7c; // FU-A, nri 3
    payload[1] = (off === 0 ? 0x80 : 0) | (off + len >= size ? 0x40 : 0) | nal;
    f.video.send(packet(VIDEO_PT, f.seq.video++, ts, 1111, off + len >= size, payload));
  }
  f.frame++;
}

function sendAudio(f: Feed, n: number): void {
  f.audio.send(packet(AUDIO_PT, f.seq.audio++, n * 960, 2222, false, Buffer.alloc(120, 0x55)));
}

async function sink(router: types.Router, producer: types.Producer): Promise<void> {
  const plain = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: false,
  });
  await plain.connect({ ip: '127.0.0.1', port: 9 });
  await plain.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
}

async function run(mode: 'baseline' | 'stable', streams: number, seconds: number) {
  // Two workers in both runs: a pipe between routers of one worker would reuse the producer id.
  const worker = await mediasoup.createWorker({ logLevel: 'error' });
  const worker2 = await mediasoup.createWorker({ logLevel: 'error' });
  const feeds: Feed[] = [];
  const programs: StableProgram[] = [];
  let packets = 0;
  for (let i = 0; i < streams; i++) {
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const { feed } = await sourceProducers(router);
    feeds.push(feed);
    if (mode === 'baseline') {
      const relay = await worker2.createRouter({ mediaCodecs: MEDIA_CODECS });
      for (const p of [feed.video, feed.audio]) {
        const { pipeProducer } = await router.pipeToRouter({ producerId: p.id, router: relay });
        await sink(relay, pipeProducer!);
      }
    } else {
      const direct = await router.createDirectTransport();
      const program = new StableProgram(direct, router.rtpCapabilities, { stream: `s${i}` });
      programs.push(program);
      await program.attach({ id: `src${i}`, role: 'primary', producers: [feed.video, feed.audio], label: 'bench' });
      for (const p of program.producers()) await sink(router, p);
    }
  }
  // Warm up 1 s, then measure.
  const t0 = performance.now();
  let audioSent = 0;
  const timer = setInterval(() => {
    // Real time: 30 video frames and 50 audio packets a second, whatever the timer's jitter.
    const ms = performance.now() - t0;
    const frames = Math.floor((ms * FPS) / 1000);
    const audio = Math.floor(ms / 20);
    for (const f of feeds) while (f.frame < frames) sendFrame(f);
    for (; audioSent < audio; audioSent++) for (const f of feeds) sendAudio(f, audioSent);
  }, 10);
  await new Promise((r) => setTimeout(r, 1000));
  const workerCpu = async (): Promise<number> => {
    let ms = 0;
    for (const w of [worker, worker2]) {
      const u = await w.getResourceUsage();
      ms += u.ru_utime + u.ru_stime;
    }
    return ms;
  };
  const before = {
    cpu: process.cpuUsage(),
    worker: await workerCpu(),
    at: performance.now(),
    seq: feeds[0]!.seq.video + feeds[0]!.seq.audio,
  };
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(before.cpu);
  const wu = await workerCpu();
  const elapsed = (performance.now() - before.at) / 1000;
  packets = (feeds[0]!.seq.video + feeds[0]!.seq.audio - before.seq) / elapsed;
  clearInterval(timer);
  const forwarded = programs.reduce((sum, p) => sum + p.status().tracks.reduce((a, t) => a + t.forwarded, 0), 0);
  if (mode === 'stable' && forwarded < packets * seconds * streams * 0.9) {
    throw new Error(`the splicer forwarded only ${forwarded} packets`);
  }
  for (const p of programs) p.close();
  worker.close();
  worker2.close();
  const pct = (ms: number) => Math.round(((ms / 1000 / elapsed) * 100 * 100) / streams) / 100;
  return {
    nodePct: pct((cpu.user + cpu.system) / 1000),
    workerPct: pct(wu - before.worker),
    packets,
  };
}

export async function measureSplicerCpu(streams = 4, seconds = 10): Promise<SplicerCpuResult> {
  const baseline = await run('baseline', streams, seconds);
  const stable = await run('stable', streams, seconds);
  return {
    streams,
    seconds,
    baseline: { nodePct: baseline.nodePct, workerPct: baseline.workerPct },
    stable: { nodePct: stable.nodePct, workerPct: stable.workerPct },
    packetsPerSecondPerStream: Math.round(stable.packets),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const streams = Number(process.argv[2] ?? 4);
  const seconds = Number(process.argv[3] ?? 10);
  const r = await measureSplicerCpu(streams, seconds);
  console.log(JSON.stringify(r));
  console.log(
    `per stream (${r.packetsPerSecondPerStream} packets/s in): plain pipe forwarding node ${r.baseline.nodePct}% + worker ${r.baseline.workerPct}% of a core; stable splicer node ${r.stable.nodePct}% + worker ${r.stable.workerPct}%`,
  );
}
