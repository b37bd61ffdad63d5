import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TESTPATTERN } from '../src/ffmpeg-args.ts';
import { capLadderFps, type LadderLayer, parseLadder } from '../src/ladder.ts';
import { quietLogger } from '../src/log.ts';
import { MediaSource } from '../src/media-source.ts';
import { PATTERN_FPS } from '../src/pattern-layout.ts';
import { annexB, Depacketizer, parseSps, rtpPayload, type SpsInfo } from './h264.ts';

/*
 * The real ffmpeg ladder (CI's small one: 640x360 / 320x180 / 160x90), run for
 * a couple of seconds through the agent's MediaSource: every layer arrives on
 * its own port with its own SSRC, its SPS declares the layer's size and level,
 * ffprobe decodes each layer's depacketised stream at that size, and the key
 * frames of all layers fall on the same source frames (same RTP time since
 * each layer's first frame) — what lets a viewer switch layers on a key frame
 * and keeps one media clock for every layer.
 */

const run = promisify(execFile);
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mm-ladder-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface LayerCapture {
  ssrcs: Set<number>;
  packets: number;
  /** Distinct RTP timestamps = frames. */
  frames: Set<number>;
  firstTimestamp: number | undefined;
  /** RTP time of each key frame since the layer's first frame (90 kHz). */
  keyframes: number[];
  sps: SpsInfo | undefined;
  nals: Buffer[];
  depacketizer: Depacketizer;
}

async function capture(source: string, layers: LadderLayer[], ms: number, keyframeIntervalMs: number) {
  const captures: LayerCapture[] = layers.map(() => ({
    ssrcs: new Set(),
    packets: 0,
    frames: new Set(),
    firstTimestamp: undefined,
    keyframes: [],
    sps: undefined,
    nals: [],
    depacketizer: new Depacketizer(),
  }));
  let audio = 0;
  let allKeyed: () => void = () => {};
  const keyed = new Promise<void>((resolve) => {
    allKeyed = resolve;
  });
  const media = new MediaSource(
    {
      source,
      videoBitrateKbps: 0,
      ladder: layers,
      keyframeIntervalMs,
      burnStrips: false,
      loop: true,
      listen: false,
      ffmpegPath: 'ffmpeg',
      restartDelayMs: 1000,
      logger: quietLogger(),
    },
    (kind, packet, header, layer) => {
      if (kind === 'audio') {
        audio++;
        return;
      }
      const c = captures[layer]!;
      c.packets++;
      c.ssrcs.add(header.ssrc);
      c.frames.add(header.timestamp);
      c.firstTimestamp ??= header.timestamp;
      for (const nal of c.depacketizer.push(rtpPayload(packet))) {
        const type = nal[0]! & 0x1f;
        if (type === 7) c.sps ??= parseSps(nal);
        const since = (header.timestamp - c.firstTimestamp) >>> 0;
        if (type === 5 && c.keyframes.at(-1) !== since) c.keyframes.push(since);
        // Keep the stream from its first SPS, so the dump starts decodable.
        if (c.sps) c.nals.push(nal);
      }
      if (captures.every((k) => k.keyframes.length > 0)) allKeyed();
    },
  );
  await media.start();
  try {
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error('no key frame on every layer within 10 s')), 10_000).unref(),
    );
    await Promise.race([keyed, timeout]);
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    await media.stop();
  }
  return { captures, audio };
}

/** ffprobe decodes every frame of a layer's Annex B dump. */
async function probe(name: string, nals: Buffer[]) {
  const file = join(dir, `${name}.h264`);
  writeFileSync(file, annexB(nals));
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-count_frames',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=codec_name,profile,width,height,nb_read_frames',
    '-of',
    'json',
    file,
  ]);
  const stream = (JSON.parse(stdout) as { streams: Record<string, string | number>[] }).streams[0]!;
  return { ...stream, nb_read_frames: Number(stream.nb_read_frames) };
}

function expectAlignedKeyframes(captures: LayerCapture[]): void {
  // Compare the key frames every layer has seen completely (the last may be cut by the stop).
  const n = Math.min(...captures.map((c) => c.keyframes.length)) - 1;
  expect(n).toBeGreaterThanOrEqual(2);
  const reference = captures.at(-1)!.keyframes.slice(0, n);
  for (const c of captures) expect(c.keyframes.slice(0, n)).toEqual(reference);
}

describe('the ffmpeg ladder (real ffmpeg)', () => {
  it('encodes the test pattern once into three layers: own port and SSRC, SPS size and level, decodable, key frames aligned', async () => {
    const layers = capLadderFps(parseLadder('640x360@30:600,320x180@30:300,160x90@30:150'), PATTERN_FPS);
    const { captures, audio } = await capture(TESTPATTERN, layers, 2000, 500);

    expect(audio).toBeGreaterThan(50);
    for (const [i, layer] of layers.entries()) {
      const c = captures[i]!;
      console.log(
        `${layer.rid} ${layer.width}x${layer.height}: ${c.packets} packets, ${c.frames.size} frames, key frames at ${c.keyframes.map((t) => t / 90).join(', ')} ms, SPS ${c.sps?.width}x${c.sps?.height} level ${c.sps?.levelIdc}`,
      );
      expect([...c.ssrcs]).toEqual([layer.ssrc]);
      expect(c.packets).toBeGreaterThan(c.frames.size - 1);
      expect(c.sps).toMatchObject({
        profileIdc: 66,
        width: layer.width,
        height: layer.height,
        levelIdc: Number(layer.level.replace('.', '')),
      });
      // Constrained Baseline: constraint_set1 set.
      expect(c.sps!.constraints & 0x40).toBe(0x40);
      const probed = await probe(layer.rid, c.nals);
      expect(probed).toMatchObject({ codec_name: 'h264', width: layer.width, height: layer.height });
      // Every frame from the first key frame on decodes.
      expect(probed.nb_read_frames).toBeGreaterThanOrEqual(c.frames.size - 2);
    }
    // Key frames every 500 ms (15 frames at 30 fps = 45000 ticks), the same frames in every layer.
    expectAlignedKeyframes(captures);
    const kf = captures[0]!.keyframes;
    expect(kf[1]! - kf[0]!).toBe(45_000);
  }, 30_000);

  it('keeps a 60 fps source at 60 on the top layer and thins the 30 fps layer by dropping frames, key frames still aligned', async () => {
    const file = join(dir, 'src60.mp4');
    const gen = spawn(
      'ffmpeg',
      // biome-ignore format: ffmpeg flag/value pairs read best one pair per line
      ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y',
        '-f', 'lavfi', '-i', 'testsrc2=s=320x180:r=60', '-t', '4',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '60', file],
      { stdio: 'inherit' },
    );
    expect((await once(gen, 'exit'))[0]).toBe(0);

    const layers = parseLadder('320x180@60:500,160x90@30:150');
    const t0 = Date.now();
    const { captures } = await capture(file, layers, 2000, 500);
    const seconds = (Date.now() - t0) / 1000;
    const [low, top] = captures as [LayerCapture, LayerCapture];
    // Frame spacing in RTP ticks: 1500 at 60 fps, 3000 at 30 fps.
    const spacing = (c: LayerCapture) => {
      const ts = [...c.frames].map((t) => (t - c.firstTimestamp!) >>> 0).sort((a, b) => a - b);
      const gaps = ts.slice(1).map((t, i) => t - ts[i]!);
      return gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
    };
    console.log(
      `60 fps source, ${seconds.toFixed(1)} s: top ${top.frames.size} frames (median gap ${spacing(top)}), low ${low.frames.size} frames (median gap ${spacing(low)})`,
    );
    expect(spacing(top)).toBe(1500);
    expect(spacing(low)).toBe(3000);
    expect(low.frames.size).toBeGreaterThan(top.frames.size * 0.4);
    expect(low.frames.size).toBeLessThan(top.frames.size * 0.6);
    expect(top.sps).toMatchObject({ width: 320, height: 180 });
    expect(low.sps).toMatchObject({ width: 160, height: 90 });
    expectAlignedKeyframes(captures);
  }, 30_000);
});
