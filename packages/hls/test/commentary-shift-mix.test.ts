import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toneOnsets } from '../../../test/src/tone-onsets.ts';
import { FfmpegPackager, type PackagerTrack, reserveRtpPorts } from '../src/FfmpegPackager.ts';
import { RtpRelay } from '../src/RtpRelay.ts';

const VENUE_SSRC = 1111;
const COMMENTARY_SSRC = 2222;
/** How late the commentary's clicks come after the venue's (a booth's D). */
const DELAY_MS = 300;
const SECONDS = 7;
const RATE = 48000;

/** A 30 ms click of `hz` every second at 0.5 s (+ `lateMs`), silence between (ffmpeg's aevalsrc expression). */
const clicks = (hz: number, lateMs: number) =>
  `aevalsrc='if(gte(t,${lateMs / 1000})*lt(mod(t-${lateMs / 1000},1)-0.5,0.03)*gte(mod(t-${lateMs / 1000},1),0.5),` +
  `0.8*sin(2*PI*${hz}*t),0)':s=${RATE}:d=${SECONDS}`;

/** Onsets (s) of a tone in the decoded mix. */
const onsets = (pcm: Float32Array, hz: number) => toneOnsets(hz, RATE)(pcm).map((at) => at / RATE);

/**
 * The HLS audio rendition's mix with a real ffmpeg on both sides: one ffmpeg sends a venue track (1 kHz clicks
 * at x.5 s) and a commentary track (2 kHz clicks DELAY_MS later, as a commentator's reaction comes) as Opus RTP
 * through the rendition's RtpRelay into the packager's amix; the AAC it writes is decoded and the clicks found.
 * Told the delay, the relay sums each commentary click with its venue click; told none, they stay apart.
 */
describe('a language rendition sums the commentary with the venue sound of its delay earlier', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-shift-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function mix(name: string, delayMs: number): Promise<{ venue: number[]; commentary: number[] }> {
    const out = path.join(dir, name);
    mkdirSync(out, { recursive: true });
    const relay = await RtpRelay.open();
    const ports = await reserveRtpPorts(2);
    const track = (ssrc: number, port: number): PackagerTrack => ({
      kind: 'audio',
      producerId: String(ssrc),
      payloadType: 100,
      ssrc,
      mimeType: 'audio/opus',
      clockRate: RATE,
      channels: 2,
      parameters: {},
      port,
    });
    const tracks = [track(VENUE_SSRC, ports[0]!), track(COMMENTARY_SSRC, ports[1]!)];
    const packager = await FfmpegPackager.start(out, tracks, {
      ffmpegPath: 'ffmpeg',
      partMs: 200,
      audioBitrateKbps: 128,
      audioOnly: true,
    });
    relay.setTargets(tracks.map((t) => ({ ssrc: t.ssrc, kind: 'audio', port: t.port })));
    relay.setCommentaryDelay(delayMs);
    const chunks: Buffer[] = [];
    packager.on('init', (init) => chunks.unshift(init.data));
    packager.on('fragment', (f) => chunks.push(f.data));
    const opus = ['-c:a', 'libopus', '-b:a', '64k', '-frame_duration', '20', '-payload_type', '100'];
    const sender = spawn('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', clicks(1000, 0)],
      ...['-re', '-f', 'lavfi', '-i', clicks(2000, DELAY_MS)],
      ...['-map', '0:a', ...opus, '-ssrc', String(VENUE_SSRC), '-rtpflags', 'skip_rtcp'],
      ...['-f', 'rtp', `rtp://127.0.0.1:${relay.port}`],
      ...['-map', '1:a', ...opus, '-ssrc', String(COMMENTARY_SSRC), '-rtpflags', 'skip_rtcp'],
      ...['-f', 'rtp', `rtp://127.0.0.1:${relay.port}`],
    ]);
    await new Promise((resolve) => sender.once('exit', resolve));
    await packager.stop();
    relay.close();
    const mp4 = path.join(out, 'mix.mp4');
    writeFileSync(mp4, Buffer.concat(chunks));
    const raw = execFileSync(
      'ffmpeg',
      ['-loglevel', 'error', '-i', mp4, '-ac', '1', '-f', 'f32le', '-ar', '48000', '-'],
      {
        maxBuffer: 64 << 20,
      },
    );
    const pcm = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    return { venue: onsets(pcm, 1000), commentary: onsets(pcm, 2000) };
  }

  /** For each venue click, how far the nearest commentary click is from it (ms). */
  const apart = (m: { venue: number[]; commentary: number[] }) =>
    m.venue
      .map((v) => m.commentary.reduce((a, c) => (Math.abs(c - v) < Math.abs(a - v) ? c : a), Number.POSITIVE_INFINITY))
      .map((c, i) => Math.round((c - m.venue[i]!) * 1000))
      .filter((ms) => Math.abs(ms) < 500);

  it('puts each commentary click on its venue click, and leaves them apart without the delay', async () => {
    const [aligned, unaligned] = await Promise.all([mix('aligned', DELAY_MS), mix('unaligned', 0)]);
    const a = apart(aligned);
    const u = apart(unaligned);
    console.log(
      `commentary click − venue click in the mix: told ${DELAY_MS} ms ${a.join(', ')} ms; told 0: ${u.join(', ')} ms`,
    );
    expect(a.length).toBeGreaterThanOrEqual(4);
    // Within the relay's tolerance (30 ms: it corrects in whole 20 ms Opus frames).
    for (const ms of a) expect(Math.abs(ms)).toBeLessThanOrEqual(30);
    expect(u.length).toBeGreaterThanOrEqual(4);
    for (const ms of u) expect(Math.abs(ms - DELAY_MS)).toBeLessThanOrEqual(40);
  });
});
