import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HLS_JS_CONFIG } from '@matchmesh/client';
import { HlsService } from '@matchmesh/hls';
import { signToken } from '@matchmesh/protocol';
import Fastify, { type FastifyInstance } from 'fastify';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useZodSchemas } from '../../apps/node/src/http/schemas.ts';
import { registerHls } from '../../apps/node/src/routes/hls.ts';
import { type Feed, LAYERS, MEDIA_CODECS, standIn, startFeed } from '../../packages/hls/test/simulcast-feed.ts';
import { launchChromium } from '../src/browser.ts';
import { openHlsPage } from '../src/hls-page.ts';
import { startThrottleProxy } from '../src/throttle-proxy.ts';

/**
 * The HLS ladder over HTTP, with real parts: the real mediasoup worker, a
 * three-layer simulcast producer fed by a real ffmpeg (CI ladder 640x360 /
 * 320x180 / 160x90), the real HlsService and the node's real /hls routes on a
 * real port, read by Debian ffmpeg/ffprobe as any HLS client would. The
 * stream router is a stand-in (the stable program carrying simulcast is
 * another branch's work); everything between it and the HTTP answer is the
 * product's.
 */

const SECRET = 'hls-ladder-test-secret-0123456789abcdef';
const STREAM = 'ladder';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HLS ladder over HTTP: every simulcast layer a rendition (real worker, ffmpeg, routes)', () => {
  let worker: types.Worker;
  let feed: Feed;
  let hls: HlsService;
  let app: FastifyInstance;
  let base: string;
  let token: string;
  let dir: string;

  const index = (): string => `${base}/hls/${STREAM}/index.m3u8?token=${token}`;
  const folder = (): string => `${base}/hls/${STREAM}/t/${token}/`;

  async function multivariant(): Promise<string> {
    const res = await fetch(index());
    expect(res.status).toBe(200);
    return res.text();
  }

  async function waitForVariants(n: number, ms: number): Promise<string> {
    const end = Date.now() + ms;
    let text = '';
    while (Date.now() < end) {
      const res = await fetch(index());
      text = res.status === 200 ? await res.text() : '';
      if ((text.match(/#EXT-X-STREAM-INF:/g) ?? []).length === n) return text;
      await sleep(250);
    }
    return text;
  }

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    feed = await startFeed(router);
    const source = standIn(router, [feed.producer, feed.audio], STREAM);
    dir = mkdtempSync(path.join(os.tmpdir(), 'mm-hls-ladder-e2e-'));
    hls = new HlsService({
      rootDir: dir,
      ffmpegPath: 'ffmpeg',
      partMs: 200,
      segmentMs: 1000,
      targetDuration: 2,
      windowMinutes: 5,
      maxBytes: 1 << 30,
      audioBitrateKbps: 64,
      lingerMs: 600_000,
      always: [STREAM],
      resolveStream: async (s) => (s === STREAM ? (source as never) : undefined),
      log: { debug() {}, info() {}, warn: (o, m) => console.warn(m, o), error: (o, m) => console.error(m, o) },
    });
    app = Fastify({ routerOptions: { maxParamLength: 2048 } });
    useZodSchemas(app);
    await app.register(async (scope) => registerHls(scope, { hls, tokenSecret: SECRET, startWaitMs: 15_000 }));
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    token = await signToken(SECRET, { role: 'viewer', stream: STREAM, ttl: '1h' });
    hls.published(STREAM);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await hls?.close();
    feed?.close();
    worker?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('index.m3u8 lists three renditions, highest first, with BANDWIDTH, AVERAGE-BANDWIDTH, CODECS, RESOLUTION, FRAME-RATE', async () => {
    const text = await waitForVariants(3, 30_000);
    // Let the bandwidth figures come from a few complete segments.
    await sleep(3000);
    const served = await multivariant();
    console.log(`multivariant playlist as served (token elided):\n${served.replaceAll(token, '<token>')}`);
    expect(text).toContain('#EXTM3U');
    const infs = [...served.matchAll(/^#EXT-X-STREAM-INF:(.*)\n(.*)$/gm)];
    expect(infs).toHaveLength(3);
    const sizes = infs.map((m) => /RESOLUTION=(\d+x\d+)/.exec(m[1]!)?.[1]);
    expect(sizes).toEqual(['640x360', '320x180', '160x90']);
    expect(infs.map((m) => m[2])).toEqual([2, 1, 0].map((i) => `t/${token}/r${i}/media.m3u8`));
    for (const [, attrs] of infs) {
      expect(attrs).toMatch(
        /^BANDWIDTH=\d+,AVERAGE-BANDWIDTH=\d+,CODECS="avc1\.42[0-9a-f]{4},mp4a\.40\.2",RESOLUTION=\d+x\d+,FRAME-RATE=30\.000$/,
      );
    }
    const bw = infs.map((m) => Number(/AVERAGE-BANDWIDTH=(\d+)/.exec(m[1]!)![1]));
    expect(bw[0]).toBeGreaterThan(bw[1]!);
    expect(bw[1]).toBeGreaterThan(bw[2]!);
    // The root media playlist (today's URL) is the top rendition.
    const root = await fetch(`${folder()}media.m3u8`);
    expect(root.status).toBe(200);
    const top = await fetch(`${folder()}r2/media.m3u8`);
    const [rootText, topText] = [await root.text(), await top.text()];
    expect(rootText.split('\n').slice(0, 5)).toEqual(topText.split('\n').slice(0, 5));
  }, 60_000);

  it('each media playlist is LL-HLS with parts, blocks for the next part, and shares segment numbers with the others', async () => {
    const playlists = await Promise.all(
      [0, 1, 2].map(async (i) => (await fetch(`${folder()}r${i}/media.m3u8`)).text()),
    );
    const pdts = playlists.map((p) => {
      const map = new Map<number, string>();
      const seq = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(p)![1]);
      let msn = seq;
      let pdt = '';
      for (const line of p.split('\n')) {
        if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = line.slice(25);
        const seg = /^seg-(\d+)\.m4s$/.exec(line);
        if (seg) {
          expect(Number(seg[1])).toBe(msn);
          map.set(msn++, pdt);
        }
      }
      return map;
    });
    for (const p of playlists) {
      expect(p).toMatch(/#EXT-X-PART:DURATION=0\.\d+,URI="part-\d+\.\d+\.m4s",INDEPENDENT=YES/);
      expect(p).toMatch(/#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-(\d+)\.(\d+)\.m4s"/);
    }
    // The same msn begins at the same PDT in every rendition.
    const common = [...pdts[0]!.keys()].filter((m) => pdts[1]!.has(m) && pdts[2]!.has(m));
    expect(common.length).toBeGreaterThanOrEqual(3);
    for (const m of common) {
      expect(pdts[1]!.get(m)).toBe(pdts[0]!.get(m));
      expect(pdts[2]!.get(m)).toBe(pdts[0]!.get(m));
    }
    // Blocking reload of the next part of each rendition, then the part itself.
    for (const [i, p] of playlists.entries()) {
      const [, msn, part] = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-(\d+)\.(\d+)\.m4s"/.exec(p)!;
      const t0 = Date.now();
      const blocked = await fetch(`${folder()}r${i}/media.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`);
      expect(blocked.status).toBe(200);
      const text = await blocked.text();
      expect(text.includes(`part-${msn}.${part}.m4s`) || new RegExp(`^seg-${msn}\\.m4s$`, 'm').test(text)).toBe(true);
      expect(Date.now() - t0).toBeLessThan(3000);
      const bytes = await fetch(`${folder()}r${i}/part-${msn}.${part}.m4s`);
      expect(bytes.status).toBe(200);
      expect((await bytes.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    const scores = await fetch(`${folder()}scores.json`);
    expect(scores.status).toBe(200);
    expect((await scores.json()).timeline).toHaveLength(1);
  }, 30_000);

  it('ffprobe lists every rendition of index.m3u8 and ffmpeg decodes each at its size', async () => {
    const probe = await run('ffprobe', [
      '-v',
      'error',
      '-show_entries',
      'stream=codec_name,width,height:program=program_id',
      '-of',
      'json',
      index(),
    ]);
    expect(probe.code).toBe(0);
    const programs =
      (JSON.parse(probe.stdout).programs as { streams: { codec_name: string; width?: number; height?: number }[] }[]) ??
      [];
    expect(programs).toHaveLength(3);
    const sizes = programs
      .map((p) => p.streams.filter((s) => s.codec_name === 'h264').map((s) => `${s.width}x${s.height}`)[0])
      .sort();
    expect(sizes).toEqual(['160x90', '320x180', '640x360']);
    for (const p of programs) expect(p.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    for (const i of [0, 1, 2]) {
      const url = `${folder()}r${i}/media.m3u8`;
      const { code, stderr, stdout } = await run('ffmpeg', [
        '-hide_banner',
        '-v',
        'error',
        '-i',
        url,
        '-t',
        '3',
        '-map',
        '0:v:0',
        '-f',
        'framemd5',
        '-',
      ]);
      expect(stderr.trim()).toBe('');
      expect(code).toBe(0);
      const frames = stdout.split('\n').filter((l) => /^0,/.test(l)).length;
      expect(frames).toBeGreaterThanOrEqual(80);
      const size = await run('ffprobe', [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=width,height',
        '-of',
        'json',
        url,
      ]);
      const stream = (JSON.parse(size.stdout).streams as { width: number; height: number }[])[0]!;
      expect([stream.width, stream.height]).toEqual([LAYERS[i]!.w, LAYERS[i]!.h]);
    }
  }, 90_000);

  it('a layer that stops is left out of index.m3u8 and its playlist answers 404; the others go on; it returns', async () => {
    feed.mute(2, true);
    const two = await waitForVariants(2, 10_000);
    expect([...two.matchAll(/RESOLUTION=(\d+x\d+)/g)].map((m) => m[1])).toEqual(['320x180', '160x90']);
    expect((await fetch(`${folder()}r2/media.m3u8`)).status).toBe(404);
    const before = Number(
      /#EXT-X-MEDIA-SEQUENCE:\d+[\s\S]*seg-(\d+)\.m4s\n(?![\s\S]*seg-)/.exec(
        await (await fetch(`${folder()}r1/media.m3u8`)).text(),
      )?.[1] ?? -1,
    );
    await sleep(2500);
    const after = await (await fetch(`${folder()}r1/media.m3u8`)).text();
    const last = Number([...after.matchAll(/^seg-(\d+)\.m4s$/gm)].at(-1)![1]);
    expect(last).toBeGreaterThan(before);
    expect(after).not.toContain('#EXT-X-DISCONTINUITY\n');
    feed.mute(2, false);
    const three = await waitForVariants(3, 20_000);
    expect([...three.matchAll(/RESOLUTION=(\d+x\d+)/g)].map((m) => m[1])).toEqual(['640x360', '320x180', '160x90']);
    expect((await fetch(`${folder()}r2/media.m3u8`)).status).toBe(200);
  }, 60_000);

  it('hls.js switches down under a throttled HTTP link and back up when it is lifted', async () => {
    // hls.js reads the multivariant playlist once: start it when all three renditions are listed.
    await waitForVariants(3, 30_000);
    const proxy = await startThrottleProxy(Number(new URL(base).port));
    const browser = await launchChromium();
    // The product player's hls.js settings (packages/client HlsSession), ABR included.
    const { page, close } = await openHlsPage(browser, `${proxy.url}/hls/${STREAM}/index.m3u8?token=${token}`, {
      hlsConfig: { ...HLS_JS_CONFIG },
    });
    type Level = { current: number; heights: number[]; videoHeight: number; bandwidth: number };
    const level = (): Promise<Level> =>
      page.evaluate(() => (window as unknown as { __hls: { level(): Level } }).__hls.level());
    // hls.js's level and bandwidth estimate, sampled while waiting: what a failure report shows.
    const series: string[] = [];
    const waitHeight = async (ok: (h: number) => boolean, ms: number): Promise<{ at: number; l: Level }> => {
      const t0 = Date.now();
      let l = await level();
      series.length = 0;
      while (Date.now() - t0 < ms) {
        l = await level();
        series.push(`${Date.now() - t0}:${l.current}/${l.videoHeight}@${Math.round(l.bandwidth / 1000)}k`);
        if (l.current >= 0 && ok(l.heights[l.current]!) && ok(l.videoHeight)) return { at: Date.now() - t0, l };
        await sleep(250);
      }
      return { at: -1, l };
    };
    try {
      const top = await waitHeight((h) => h === 360, 30_000);
      console.log('hls.js on the top rendition after', top.at, 'ms', top.l, series.join(' '));
      expect(top.at).toBeGreaterThanOrEqual(0);
      // 400 kbit/s: only the lowest rendition (≈ 120 kbit/s video + 64 kbit/s audio) fits.
      proxy.setRate(50_000);
      const down = await waitHeight((h) => h < 360, 30_000);
      console.log('hls.js down after', down.at, 'ms', down.l, series.join(' '));
      expect(down.at).toBeGreaterThanOrEqual(0);
      proxy.setRate(Number.POSITIVE_INFINITY);
      const up = await waitHeight((h) => h === 360, 60_000);
      console.log('hls.js back up after', up.at, 'ms', up.l, series.join(' '));
      if (up.at < 0)
        console.log(
          await page.evaluate(() => {
            const w = window as unknown as { __hls: { warnings: string[] }; __hlsjs?: unknown };
            return { warnings: w.__hls.warnings.slice(-30) };
          }),
        );
      expect(up.at).toBeGreaterThanOrEqual(0);
      const errors = await page.evaluate(() => (window as unknown as { __hls: { errors: string[] } }).__hls.errors);
      expect(errors).toEqual([]);
    } finally {
      await close();
      await browser.close();
      await proxy.close();
    }
  }, 150_000);
});
