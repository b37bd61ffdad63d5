import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CLOCK_ROW_Y, FRAME_ROW_Y, PATTERN_HEIGHT, PATTERN_WIDTH, STRIP_BITS, STRIP_CELL } from '@matchmesh/origin';
import type { Browser, Page } from 'playwright-core';

/**
 * A bare hls.js player page for the server-side HLS tests: served from a
 * fake origin (so every request to the node is cross-origin and CORS is
 * exercised), it plays a multivariant URL in low-latency mode and records,
 * for each presented frame (requestVideoFrameCallback), the burned-in frame
 * number and clock (apps/origin/src/pattern-layout.ts) and the frame's
 * program date time computed the way the contract in protocol/hls.ts says.
 */

export interface HlsFrame {
  /** Burned-in frame number (row 0). */
  frame: number;
  /** Burned-in origin wall clock, ms mod 2^32 (row 1). */
  clock: number;
  /** Presentation time of the frame on the media element (s). */
  mediaTime: number;
  /** Program date time of the frame (ms since epoch), from the playlist; null if not mapped. */
  pdt: number | null;
  /** fMP4 decode time (s) of the frame: mediaTime + hls.js initPTS (see protocol/hls.ts); null before it is known. */
  decodeTime: number | null;
  /** Page wall clock when presented. */
  wall: number;
  /** How late the callback ran after the frame's expected display time (ms): a late callback may draw a newer frame. */
  late: number;
}

interface HlsPageHook {
  frames: HlsFrame[];
  errors: string[];
  /** Frames presented so far (frames keeps only the recent ones). */
  count: number;
  currentTime(): number;
  /** hls.js's level now, the levels' heights, the decoded frame's height and the bandwidth estimate (bit/s). */
  level(): { current: number; heights: number[]; videoHeight: number; bandwidth: number };
  liveSyncPosition(): number | null;
  /** End of the element's seekable range (the newest media loaded), or null. */
  seekableEnd(): number | null;
  /** The live playlist's edge (end of its newest part, media time) and hls.js's target latency, or null. */
  liveEdge(): { edge: number; targetLatency: number | null } | null;
  seek(t: number): void;
  latency(): number | null;
  state(): unknown;
  warnings: string[];
}

declare global {
  interface Window {
    __hls?: HlsPageHook;
  }
}

const require = createRequire(import.meta.url);

function hlsJsSource(): string {
  return readFileSync(require.resolve('hls.js/dist/hls.min.js'), 'utf8');
}

const PAGE = (layout: Record<string, number>): string => `<!doctype html>
<html><body>
<video id="v" muted autoplay playsinline width="640" height="360"></video>
<script src="/hls.min.js"></script>
<script>
const L = ${JSON.stringify(layout)};
const params = new URLSearchParams(location.search);
const video = document.getElementById('v');
const hook = { frames: [], errors: [], warnings: [], count: 0 };
window.__hls = hook;
const hls = new Hls({ lowLatencyMode: params.get('ll') !== '0', backBufferLength: Infinity, ...JSON.parse(params.get('config') || '{}') });
hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) hook.errors.push(d.type + ':' + d.details + (d.response ? ' ' + d.response.code : '') + (d.error ? ' ' + d.error.message : '')); });
hls.loadSource(params.get('src'));
hls.attachMedia(video);
video.play().catch(() => {});
hook.currentTime = () => video.currentTime;
hook.level = () => ({ current: hls.currentLevel, heights: hls.levels.map((l) => l.height), videoHeight: video.videoHeight, bandwidth: hls.bandwidthEstimate, next: hls.nextAutoLevel, auto: hls.autoLevelEnabled, cap: hls.autoLevelCapping, errs: hls.levels.map((l) => [l.loadError, l.fragmentError]), version: Hls.version });
hook.liveSyncPosition = () => hls.liveSyncPosition;
hook.seekableEnd = () => (video.seekable.length ? video.seekable.end(video.seekable.length - 1) : null);
hook.liveEdge = () => { const d = hls.latestLevelDetails; return d && d.live ? { edge: d.edge, targetLatency: hls.targetLatency } : null; };
hook.seek = (t) => { video.currentTime = t; };
hook.latency = () => hls.latency;
hook.state = () => ({ readyState: video.readyState, paused: video.paused, currentTime: video.currentTime, buffered: Array.from({ length: video.buffered.length }, (_, i) => [video.buffered.start(i), video.buffered.end(i)]), errors: hook.errors });
hls.on(Hls.Events.ERROR, (_e, d) => { if (!d.fatal) hook.warnings.push(d.details); });
const initPts = {};
let lastInitPts = null;
hls.on(Hls.Events.INIT_PTS_FOUND, (_e, d) => { initPts[d.frag.cc] = d.initPTS / d.timescale; lastInitPts = initPts[d.frag.cc]; });
const W = 640, H = 360;
const canvas = document.createElement('canvas');
canvas.width = W; canvas.height = H;
const ctx = canvas.getContext('2d', { willReadFrequently: true });
function readRow(data, top) {
  let value = 0;
  for (let c = 0; c < L.bits; c++) {
    const x = Math.floor((c * L.cell + L.cell / 2) * W / L.width);
    const y = Math.floor((top + L.cell / 2) * H / L.height);
    value = value * 2 + (data[(y * W + x) * 4 + 1] >= 128 ? 1 : 0);
  }
  return value;
}
function pdtOf(t) {
  const level = hls.levels[hls.currentLevel >= 0 ? hls.currentLevel : 0];
  const details = level && level.details;
  if (!details) return null;
  let best = null;
  const consider = (f) => {
    if (f && f.programDateTime != null && Number.isFinite(f.start) && f.start <= t + 1e-4 && (!best || f.start > best.start)) best = f;
  };
  for (const f of details.fragments) consider(f);
  for (const p of details.partList || []) consider(p.fragment);
  return best ? best.programDateTime + (t - best.start) * 1000 : null;
}
function onFrame(_now, md) {
  try {
    ctx.drawImage(video, 0, 0, W, H);
    const data = ctx.getImageData(0, 0, W, Math.ceil(2 * L.cell * H / L.height) + 2).data;
    hook.count++;
    hook.frames.push({ frame: readRow(data, L.frameY), clock: readRow(data, L.clockY), mediaTime: md.mediaTime, pdt: pdtOf(md.mediaTime), decodeTime: lastInitPts === null ? null : md.mediaTime + lastInitPts, wall: Date.now(), late: performance.now() - md.expectedDisplayTime });
    if (hook.frames.length > 2000) hook.frames.splice(0, 1000);
  } catch (e) { hook.errors.push(String(e)); }
  video.requestVideoFrameCallback(onFrame);
}
video.requestVideoFrameCallback(onFrame);
</script></body></html>`;

/**
 * Open the player page on `src` (a multivariant playlist URL on the node).
 * The page comes from its own small HTTP server on 127.0.0.1 (another
 * origin than the node's, so every media request is cross-origin and needs
 * CORS; the same loopback address space, so Chromium's local-network-access
 * rules do not apply).
 */
export async function openHlsPage(
  browser: Browser,
  src: string,
  /** hlsConfig: hls.js settings over the page's (e.g. the product player's HLS_JS_CONFIG). */
  options: { lowLatency?: boolean; hlsConfig?: Record<string, unknown> } = {},
): Promise<{ page: Page; close(): Promise<void> }> {
  const layout = {
    cell: STRIP_CELL,
    bits: STRIP_BITS,
    width: PATTERN_WIDTH,
    height: PATTERN_HEIGHT,
    frameY: FRAME_ROW_Y,
    clockY: CLOCK_ROW_Y,
  };
  const html = PAGE(layout);
  const js = hlsJsSource();
  const server = http.createServer((req, res) => {
    const isJs = req.url === '/hls.min.js';
    res.writeHead(200, { 'content-type': isJs ? 'text/javascript' : 'text/html' });
    res.end(isJs ? js : html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const page = await browser.newPage();
  await page.goto(
    `http://127.0.0.1:${port}/?src=${encodeURIComponent(src)}${options.lowLatency === false ? '&ll=0' : ''}` +
      (options.hlsConfig ? `&config=${encodeURIComponent(JSON.stringify(options.hlsConfig))}` : ''),
  );
  return {
    page,
    async close() {
      await page.close().catch(() => {});
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export async function hlsFrames(page: Page): Promise<HlsFrame[]> {
  return page.evaluate(() => window.__hls?.frames.slice() ?? []);
}

/** Wait until at least `n` more frames were presented than when called; returns them. */
export async function waitForHlsFrames(page: Page, n: number, timeout = 30_000): Promise<HlsFrame[]> {
  const start = await page.evaluate(() => window.__hls?.count ?? 0);
  await page.waitForFunction((target) => (window.__hls?.count ?? 0) >= target, start + n, {
    timeout,
    polling: 100,
  });
  const all = await hlsFrames(page);
  return all.slice(-n);
}
