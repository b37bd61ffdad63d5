import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { FULL_SIZE, findFont, testPatternChain, videoEncoderArgs } from '../src/ffmpeg-args.ts';
import { CLOCK_MODULUS, decodeStripRow, latencyFromClock, PATTERN_FPS } from '../src/pattern-layout.ts';

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
  // 640x360 at 600 kbps is the e2e rig's picture (test/src/origin.ts): its 12 px cells must read back too.
  it.each([
    { size: FULL_SIZE, kbps: 1500 },
    { size: { width: 640, height: 360 }, kbps: 600 },
  ])(
    'encode the frame number and wall clock legibly after H.264 round trip at $size.width x $size.height',
    async ({ size, kbps }) => {
      const encoder = spawn(
        'ffmpeg',
        // biome-ignore format: ffmpeg flag/value pairs
        [
        '-hide_banner', '-loglevel', 'error', '-nostdin',
        '-re', '-f', 'lavfi', '-i', `color=c=0x1e1e1e:s=${size.width}x${size.height}:r=${PATTERN_FPS}`,
        '-filter_complex', `[0:v]${testPatternChain(findFont(), size).join(',')}[v]`,
        '-map', '[v]', ...videoEncoderArgs(kbps), '-frames:v', String(FRAMES),
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

      const frameSize = size.width * size.height;
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
        const luma = (x: number, y: number) => frame[y * size.width + x]!;
        expect(decodeStripRow(luma, 'frame', size.width, size.height)).toBe(i);
        clocks.push(decodeStripRow(luma, 'clock', size.width, size.height));

        // Scaled read (a canvas half the size): nearest-neighbour downscale of the same frame.
        const half = (x: number, y: number) => luma(x * 2, y * 2);
        if (size.width >= 1280) expect(decodeStripRow(half, 'frame', size.width / 2, size.height / 2)).toBe(i);
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
    },
  );
});
