// Issue 16's price tags: the commentary booth on a real mediasoup worker and
// real GStreamer mixers (LanguageMixer, as the ingest runs them).
//
// Per language: one commentator voice — ffmpeg Opus RTP, mono 20 ms as a
// browser booth sends, of a tone that starts every second after 0.6 s of
// silence — enters a PlainTransport producer, goes through the language's
// mixer, and the mixed track is consumed by a PlainTransport consumer into a
// UDP socket (one viewer). Figures:
//  - delay through the mix: from the voice's first loud packet (handed to
//    mediasoup) to the first loud packet of the viewer's track (Opus frame
//    size jumps at a tone onset: silence frames are a few bytes); this is
//    the mouth-to-ear delay minus the commentator's and viewer's links and
//    their browsers' capture and jitter buffers;
//  - the mixer's own lag as the node measures it live (LanguageMixer.mixerLagMs: the voice's packet sizes
//    cross-correlated with the mix's, mixerLag.ts), sampled each second: what feeds the alignment's D in
//    place of a constant, beside the onset delay above (which also counts mediasoup's two hops);
//  - the mixer's CPU per language (gst-launch-1.0's utime+stime per wall s);
//  - the extra bytes a viewer of one language receives: the language
//    consumer's RTP bytes, and on the wire with IP/UDP and the SRTP tag.

import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import * as mediasoup from 'mediasoup';
import { MEDIA_CODECS } from '../../../packages/sfu/src/codecs.ts';
import { LanguageMixer } from '../../../packages/sfu/src/commentary/LanguageMixer.ts';
import { silentLogger } from '../../../packages/sfu/src/logger.ts';
import { produceOpusVoice } from '../../../test/src/opus-voice.ts';
import type { Scenario, ScenarioResult } from '../registry.ts';
import { mean, percentile, sleep } from '../stats.ts';

const LANGS = ['en', 'es', 'fr', 'de'];
/**
 * Opus frames carrying the tone, told from silence by size (measured: the voice's libopus VBR sends 3-byte
 * silence frames and 100–160-byte tone frames; the mix's opusenc at 48 kbit/s 55 and 100–160).
 */
const MOUTH_LOUD_BYTES = 20;
const EAR_LOUD_BYTES = 80;
/** Per packet on the wire beyond RTP: IPv4 20 + UDP 8 + SRTP auth tag 10 (AES_CM_128_HMAC_SHA1_80). */
const WIRE_OVERHEAD = 38;
/** The program a venue-only viewer receives (fanout's 720p30 recording, README): the baseline of the extra share. */
const VENUE_KBPS = 1500;

interface Lane {
  lang: string;
  onsets: number[];
  arrivals: number[];
  /** Baseline: the voice itself consumed straight (plain forwarding, no mix), same run. */
  direct: number[];
  cpu0: number;
}

function rtpPayloadBytes(packet: Buffer): number {
  const cc = packet[0]! & 0x0f;
  let offset = 12 + 4 * cc;
  if (packet[0]! & 0x10) offset += 4 + 4 * packet.readUInt16BE(offset + 2);
  return packet.length - offset;
}

/** True at the first loud packet after at least 200 ms (10 frames) of quiet ones: a tone's onset. */
function onsetDetector(loudBytes: number): (packet: Buffer) => boolean {
  let quiet = 0;
  return (packet) => {
    if (rtpPayloadBytes(packet) <= loudBytes) {
      quiet++;
      return false;
    }
    const onset = quiet >= 10;
    quiet = 0;
    return onset;
  };
}

async function udp(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

export const booth: Scenario = {
  name: 'booth',
  description: 'commentary booth: delay through a language mixer, mixer CPU per language, extra bytes per viewer',
  async run(ctx): Promise<ScenarioResult> {
    const languages = Math.min(LANGS.length, ctx.flags.boothLanguages);
    const seconds = ctx.flags.boothSeconds;
    ctx.log(`booth: ${languages} languages, one commentator each, ${seconds} s`);
    const worker = await mediasoup.createWorker({ logLevel: 'error' });
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const cleanups: (() => void)[] = [];
    const lanes: Lane[] = [];
    const consumers: mediasoup.types.Consumer[] = [];
    const mixers: LanguageMixer[] = [];
    try {
      for (const lang of LANGS.slice(0, languages)) {
        const lane: Lane = { lang, onsets: [], arrivals: [], direct: [], cpu0: 0 };
        lanes.push(lane);
        const ssrc = 1000 + lanes.length;
        const { producer: voice, port: voicePort } = await produceOpusVoice(router, ssrc, { source: 'voice', lang });
        const mixer = await LanguageMixer.create(
          router,
          lang,
          { gstLaunchPath: process.env.MM_GST_LAUNCH_PATH ?? 'gst-launch-1.0', slots: 4, bitrateKbps: 48 },
          silentLogger,
        );
        mixers.push(mixer);
        await mixer.addVoice(voice);

        // The viewer: a plain consumer of the language's track into a socket.
        const viewer = await udp();
        cleanups.push(() => viewer.close());
        const out = await router.createPlainTransport({
          listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
          rtcpMux: true,
          comedia: false,
        });
        await out.connect({ ip: '127.0.0.1', port: viewer.address().port });
        const consumer = await out.consume({ producerId: mixer.producer.id, rtpCapabilities: router.rtpCapabilities });
        consumers.push(consumer);
        const ear = onsetDetector(EAR_LOUD_BYTES);
        viewer.on('message', (p) => {
          if (ear(p)) lane.arrivals.push(performance.now());
        });

        // Same-run baseline: the voice consumed as is (what forwarding costs without the mix).
        const directSocket = await udp();
        cleanups.push(() => directSocket.close());
        const directOut = await router.createPlainTransport({
          listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
          rtcpMux: true,
          comedia: false,
        });
        await directOut.connect({ ip: '127.0.0.1', port: directSocket.address().port });
        await directOut.consume({ producerId: voice.id, rtpCapabilities: router.rtpCapabilities });
        const directOnset = onsetDetector(MOUTH_LOUD_BYTES);
        directSocket.on('message', (p) => {
          if (directOnset(p)) lane.direct.push(performance.now());
        });

        // The commentator: ffmpeg → our socket (timestamps the onsets) → the voice's transport.
        const mouth = await udp();
        cleanups.push(() => mouth.close());
        const mouthOnset = onsetDetector(MOUTH_LOUD_BYTES);
        mouth.on('message', (p) => {
          mouth.send(p, voicePort, '127.0.0.1');
          if (mouthOnset(p)) lane.onsets.push(performance.now());
        });
        const hz = 600 + 300 * (lanes.length - 1);
        const ffmpeg = spawn(
          'ffmpeg',
          [
            ...['-hide_banner', '-loglevel', 'error', '-nostdin', '-re'],
            ...['-f', 'lavfi', '-i', `aevalsrc=0.25*sin(2*PI*${hz}*t)*gte(mod(t\\,1)\\,0.6):s=48000:c=mono`],
            ...['-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-frame_duration', '20', '-ac', '1'],
            ...['-f', 'rtp', '-payload_type', '111', '-ssrc', String(ssrc)],
            `rtp://127.0.0.1:${mouth.address().port}?pkt_size=1200`,
          ],
          { stdio: 'ignore' },
        );
        cleanups.push(() => ffmpeg.kill('SIGKILL'));
      }
      // Warm-up: GStreamer's pipelines start, first onsets pass through.
      await sleep(3000);
      for (const lane of lanes) {
        lane.onsets.length = 0;
        lane.arrivals.length = 0;
        lane.direct.length = 0;
      }
      const stats0 = await Promise.all(consumers.map((c) => c.getStats()));
      const cpu0 = mixers.map((m) => m.cpuSeconds());
      const t0 = performance.now();
      const lags: number[][] = mixers.map(() => []);
      const lagSampler = setInterval(() => {
        mixers.forEach((m, i) => {
          if (m.mixerLagMs !== undefined) lags[i]!.push(m.mixerLagMs);
        });
      }, 1000);
      await sleep(seconds * 1000);
      clearInterval(lagSampler);
      const wall = (performance.now() - t0) / 1000;
      const cpu = mixers.map((m, i) => ((m.cpuSeconds() - cpu0[i]!) / wall) * 100);
      const stats1 = await Promise.all(consumers.map((c) => c.getStats()));

      const rows = lanes.map((lane, i) => {
        // Each onset's first loud arrival after it (and before the next onset).
        const delaysTo = (arrivals: number[]) => {
          const delays: number[] = [];
          lane.onsets.forEach((t, k) => {
            const next = lane.onsets[k + 1] ?? Number.POSITIVE_INFINITY;
            const a = arrivals.find((x) => x >= t && x < next);
            if (a !== undefined) delays.push(a - t);
          });
          return delays;
        };
        const delays = delaysTo(lane.arrivals);
        const direct = delaysTo(lane.direct);
        const s0 = stats0[i]![0]!;
        const s1 = stats1[i]![0]!;
        const bytes = s1.byteCount - s0.byteCount;
        const packets = s1.packetCount - s0.packetCount;
        const rtpKbps = (bytes * 8) / wall / 1000;
        const wireKbps = ((bytes + packets * WIRE_OVERHEAD) * 8) / wall / 1000;
        return {
          lang: lane.lang,
          onsets: lane.onsets.length,
          matched: delays.length,
          delayP50: percentile(delays, 50),
          delayP95: percentile(delays, 95),
          delayMean: mean(delays),
          directP50: percentile(direct, 50),
          directP95: percentile(direct, 95),
          lagP50: percentile(lags[i]!, 50),
          lagMin: lags[i]!.length ? Math.min(...lags[i]!) : undefined,
          lagMax: lags[i]!.length ? Math.max(...lags[i]!) : undefined,
          cpuPct: cpu[i]!,
          packetsPerSec: packets / wall,
          rtpKbps,
          wireKbps,
        };
      });
      return {
        tables: [
          {
            title: `commentary booth: ${languages} languages, one commentator each, ${Math.round(wall)} s`,
            columns: [
              'language',
              'onsets (matched)',
              'delay through mix p50 ms',
              'p95 ms',
              'forwarding only p50 / p95 ms',
              'mixer lag measured live p50 (min–max) ms',
              'mixer CPU % of a core',
              'viewer extra kbit/s (RTP)',
              'on the wire (IP/UDP/SRTP)',
              'vs 1.5 Mbit/s venue',
            ],
            rows: rows.map((r) => [
              r.lang,
              `${r.onsets} (${r.matched})`,
              r.delayP50,
              r.delayP95,
              `${r.directP50?.toFixed(1) ?? '-'} / ${r.directP95?.toFixed(1) ?? '-'}`,
              r.lagP50 === null ? '-' : `${r.lagP50} (${r.lagMin}–${r.lagMax})`,
              r.cpuPct,
              r.rtpKbps,
              r.wireKbps,
              `+${((r.wireKbps / VENUE_KBPS) * 100).toFixed(1)} %`,
            ]),
            notes: [
              'delay: voice packet handed to mediasoup → mixed packet leaving the viewer consumer (RTP onset of a tone);',
              'a WebRTC mouth-to-ear adds the two links and the browsers’ capture (~10–20 ms) and jitter buffers',
            ],
          },
        ],
        data: { languages, seconds: wall, rows },
      };
    } finally {
      for (const c of cleanups) c();
      for (const m of mixers) m.close();
      worker.close();
    }
  },
};
