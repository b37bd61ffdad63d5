import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { findFont, testPatternChain, videoEncoderArgs } from '../src/ffmpeg-args.ts';
import {
  CLOCK_MODULUS,
  decodeStripRow,
  latencyFromClock,
  PATTERN_FPS,
  PATTERN_HEIGHT,
  PATTERN_WIDTH,
} from '../src/pattern-layout.ts';

/*
 * Render the real test pattern through the real encoder settings, decode it
 * again, and read the strips back with the exported layout: proves the
 * burned-in frame number and clock survive H.264 at the configured bitrate.
 */

const FRAMES = 40;
const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  children.length = 0;
});

describe('test pattern strips', () => {
  it('encode the frame number and wall clock legibly after H.264 round trip', async () => {
    const encoder = spawn(
      'ffmpeg',
      // biome-ignore format: ffmpeg flag/value pairs
      [
        '-hide_banner', '-loglevel', 'error', '-nostdin',
        '-re', '-f', 'lavfi', '-i', `color=c=0x1e1e1e:s=${PATTERN_WIDTH}x${PATTERN_HEIGHT}:r=${PATTERN_FPS}`,
        '-filter_complex', `[0:v]${testPatternChain(findFont()).join(',')}[v]`,
        '-map', '[v]', ...videoEncoderArgs(1500), '-frames:v', String(FRAMES),
        '-f', 'h264', 'pipe:1',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const decoder = spawn(
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-nostdin',
        '-f',
        'h264',
        '-i',
        'pipe:0',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'gray',
        'pipe:1',
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    children.push(encoder, decoder);
    encoder.stdout!.pipe(decoder.stdin!);
    const t0 = Date.now();

    const frameSize = PATTERN_WIDTH * PATTERN_HEIGHT;
    const chunks: Buffer[] = [];
    decoder.stdout!.on('data', (c: Buffer) => chunks.push(c));
    const [code] = await once(decoder, 'exit');
    const t1 = Date.now();
    expect(code).toBe(0);
    const raw = Buffer.concat(chunks);
    expect(raw.length).toBe(frameSize * FRAMES);

    const clocks: number[] = [];
    for (let i = 0; i < FRAMES; i++) {
      const frame = raw.subarray(i * frameSize, (i + 1) * frameSize);
      const luma = (x: number, y: number) => frame[y * PATTERN_WIDTH + x]!;
      expect(decodeStripRow(luma, 'frame')).toBe(i);
      clocks.push(decodeStripRow(luma, 'clock'));

      // Scaled read (a 640x360 canvas): nearest-neighbour downscale of the same frame.
      const half = (x: number, y: number) => luma(x * 2, y * 2);
      expect(decodeStripRow(half, 'frame', 640, 360)).toBe(i);
    }
    // Wall-clock row: within the run, never backwards, ~33 ms per frame (-re pacing).
    for (const c of clocks) {
      expect(c).toBeGreaterThanOrEqual((t0 - 50) % CLOCK_MODULUS);
      expect(c).toBeLessThanOrEqual(t1 % CLOCK_MODULUS);
    }
    for (let i = 1; i < FRAMES; i++) expect(clocks[i]!).toBeGreaterThanOrEqual(clocks[i - 1]!);
    const perFrame = (clocks.at(-1)! - clocks[0]!) / (FRAMES - 1);
    expect(perFrame).toBeGreaterThan(20);
    expect(perFrame).toBeLessThan(50);
    // The helper a latency probe uses: the last frame was rendered well under a second ago.
    expect(latencyFromClock(clocks.at(-1)!, t1)).toBeLessThan(1000);
  });
});
