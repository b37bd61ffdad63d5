import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { EventsResponse, StreamsResponse } from '@matchmesh/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATTERN_FPS } from '../../apps/origin/src/pattern-layout.ts';
import { launchChromium } from '../src/browser.ts';
import { frameLog, installFrameProbe, type ProbedFrame, probedFrames } from '../src/frame-probe.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { expectAboveFloor, freezeFloor } from '../src/noise-floor.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { type RtcProxy, startRtcProxy } from '../src/rtc-proxy.ts';

type StateEntry = { at: number; state: string; path: string; reason: string };

/**
 * The delivery ladder with a real network cut: the eu relay's WebRtcServer
 * sits behind a user-space firewall (test/src/rtc-proxy.ts: the relay
 * announces 127.0.0.2 in its ICE candidates and the proxy there forwards to
 * it, or drops UDP, or drops everything). Signaling and HLS are HTTP and
 * always get through, as on a network that only lets web traffic out.
 * A reference viewer on the asia relay (no firewall) is the WebRTC picture
 * the HLS viewer's score overlay is compared with, frame by frame.
 */
describe('HLS fallback and upgrade', () => {
  const stream = 'ladder';
  let redis: RedisServer;
  let ingest: TestNode;
  let eu: TestNode;
  let asia: TestNode;
  let firewall: RtcProxy;
  let origin: ManagedProcess;
  let browser: Browser;
  let reference: Page;

  const open = async (node: TestNode): Promise<Page> => {
    const page = await browser.newPage();
    await page.goto(`${node.url}/watch?stream=${stream}&token=${await token('viewer', stream)}&node=${node.url}`);
    return page;
  };
  const stateLog = (page: Page): Promise<StateEntry[]> => page.evaluate(() => window.__mm!.stateLog);
  const pathOf = (page: Page): Promise<string> => page.evaluate(() => `${window.__mm!.state}/${window.__mm!.path}`);
  const waitForPath = (page: Page, state: string, path: string, timeout: number): Promise<unknown> =>
    page
      .waitForFunction(([s, p]) => window.__mm?.state === s && window.__mm?.path === p, [state, path], { timeout })
      .catch(async (err: unknown) => {
        const log = await stateLog(page).catch(() => []);
        throw new Error(`not ${state}/${path} in ${timeout} ms; player: ${trace(log, log[0]?.at ?? 0)}`, {
          cause: err,
        });
      });
  /** Wall time of the first state entry at or after `since` matching `match`. */
  const firstAt = (log: StateEntry[], since: number, match: (e: StateEntry) => boolean): number | undefined =>
    log.find((e) => e.at >= since && match(e))?.at;
  const trace = (log: StateEntry[], since: number): string =>
    log
      .filter((e) => e.at >= since)
      .map((e) => `${Math.round(e.at - since)} ${e.state}/${e.path} ${e.reason}`)
      .join(' → ');

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, { MM_NODE_ID: 'ingest-l', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    eu = await startNode(redis.url, {
      MM_NODE_ID: 'eu-fw',
      MM_ROLES: 'relay',
      MM_REGION: 'eu',
      // Viewers reach the WebRtcServer through the firewall at 127.0.0.2;
      // the ingest still sends the region copy straight to 127.0.0.1.
      MM_ANNOUNCED_ADDRESS: '127.0.0.2',
      MM_MESH_ADDRESS: '127.0.0.1',
    });
    firewall = await startRtcProxy('127.0.0.2', eu.rtcPort);
    asia = await startNode(redis.url, { MM_NODE_ID: 'asia-ref', MM_ROLES: 'relay', MM_REGION: 'asia' });
    origin = await startOrigin(ingest.url, stream, { MM_SCORE_INTERVAL_MS: '400' });
    browser = await launchChromium();
    reference = await open(asia);
    await reference.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 20, undefined, { timeout: 30_000 });
    // Pinned to asia even when it joined before the stream was live (not_found is retried on the same node).
    expect(await reference.evaluate(() => window.__mm!.nodeId)).toBe('asia-ref');
    await installFrameProbe(reference);
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const node of [asia, eu, ingest]) await node?.stop();
    await firewall?.close();
    await redis?.stop();
  });

  it('plays over ICE-TCP when only UDP is blocked (the TCP rung)', async () => {
    firewall.setMode('udp-blocked');
    const page = await open(eu);
    await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 20_000 });
    const stats = await page.evaluate(() => window.__mm!.stats());
    console.log(`[ladder] UDP blocked: ${stats.framesDecoded} frames over ${stats.iceProtocol}, ${await pathOf(page)}`);
    expect(stats.iceProtocol).toBe('tcp');
    expect(await pathOf(page)).toBe('connected/webrtc');
    expect(firewall.counts.tcpAccepted).toBeGreaterThan(0);
    await page.close();
    firewall.setMode('open');
  });

  it('starts on HLS within 3 s of WebRTC failing, and shows the WebRTC viewer’s score on the same frame', async () => {
    // The stall the loaded machine alone causes a playing page right now, measured first (on the
    // reference viewer): the 3 s bound applies to what the ladder adds above it.
    const floor = await freezeFloor(reference, '[ladder] start on HLS');
    firewall.setMode('blocked');
    const page = await open(eu);
    const opened = Date.now();
    await waitForPath(page, 'connected', 'hls', 30_000);
    await installFrameProbe(page);
    const log = await stateLog(page);
    const trigger = firstAt(log, opened, (e) => e.path === 'hls')!;
    const playing = firstAt(log, trigger, (e) => e.state === 'connected' && e.path === 'hls')!;
    console.log(
      `[ladder] WebRTC blocked: fell back ${trigger - opened} ms after opening, HLS playing ${playing - trigger} ms after the trigger; ${trace(log, opened)}`,
    );
    expect(log.find((e) => e.at === trigger)!.reason).toMatch(/^fallback: (ice-|no-frames|signaling-)/);
    expectAboveFloor('[ladder] WebRTC blocked: trigger → HLS playing', playing - trigger, floor, 3000);
    // Ops see it: the player's beacon puts the fallback in the events feed, and the relay counts an HLS viewer.
    const admin = { authorization: `Bearer ${await token('admin', '*')}` };
    const fallbacks = async () =>
      ((await (await fetch(`${eu.url}/api/v1/events?limit=100`, { headers: admin })).json()) as EventsResponse).events
        .filter((e) => e.kind === 'fallback' && e.stream === stream && e.nodeId === 'eu-fw')
        .map((e) => e.detail);
    await expect.poll(fallbacks, { timeout: 10_000 }).toEqual([expect.stringMatching(/→ hls: fallback: /)]);
    const hlsViewers = async () =>
      ((await (await fetch(`${eu.url}/api/v1/streams`, { headers: admin })).json()) as StreamsResponse).streams.find(
        (s) => s.stream === stream,
      )?.hlsViewers;
    await expect.poll(hlsViewers, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    console.log(`[ladder] ops: events feed "${(await fallbacks())[0]}", HLS viewers ${await hlsViewers()}`);

    // currentTime advances on the HLS element.
    const t0 = await page.evaluate(() => window.__mm!.videoCurrentTime());
    await page.waitForFunction((t) => window.__mm!.videoCurrentTime() > t + 1, t0, { timeout: 10_000 });

    // The overlay: for every frame both viewers showed, the same score.
    await page.waitForFunction(
      () => ((window as unknown as { __mmFrames?: unknown[] }).__mmFrames?.length ?? 0) >= 150,
      undefined,
      { timeout: 20_000 },
    );
    const hlsFrames = (await probedFrames(page)).filter(([, , , path]) => path === 'hls');
    const refFrames = (await probedFrames(reference)).filter(([, , , path]) => path === 'webrtc');
    const scores = await reference.evaluate(() => window.__mm!.scores.map((s) => [s.seq, s.mediaTime] as const));
    const comparison = compareOverlays(hlsFrames, refFrames, scores);
    console.log(`[ladder] overlay on HLS vs WebRTC: ${JSON.stringify(comparison)}`);
    // Most frames were placed on the stream's timeline by their own path (RTP timestamp, fMP4 decode time).
    const ratio = (placed: string) => Number(placed.split('/')[0]) / Number(placed.split('/')[1]);
    expect(ratio(comparison.hlsPlaced)).toBeGreaterThanOrEqual(0.8);
    expect(ratio(comparison.refPlaced)).toBeGreaterThanOrEqual(0.8);
    expect(comparison.common).toBeGreaterThanOrEqual(60);
    // Score changes were on screen in the compared stretch (400 ms apart).
    expect(comparison.changes).toBeGreaterThanOrEqual(3);
    // Same score on the same frame; where not, the other overlay's change was one frame away
    // (the WebRTC viewer's update can reach it a frame after the picture when the node is busy).
    expect(comparison.same / comparison.common).toBeGreaterThanOrEqual(0.9);
    expect(comparison.beyondOneFrame).toEqual([]);
    // Never ahead of the picture by more than a frame, on either path.
    expect(comparison.hlsAheadBeyondOneFrame).toBe(0);
    expect(comparison.refAheadBeyondOneFrame).toBe(0);
    await page.close();
    firewall.setMode('open');
  });

  it('falls back to HLS within 3 s when WebRTC is cut mid-match, and is back on WebRTC within 15 s of it returning', async () => {
    firewall.setMode('open');
    const page = await open(eu);
    await waitForPath(page, 'connected', 'webrtc', 20_000);
    await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 20, undefined, { timeout: 20_000 });
    await installFrameProbe(page);
    // The freeze the loaded machine alone causes this page, measured first: the bounds on the
    // fall back's delay and on the freezes apply to what the ladder adds above it.
    const floor = await freezeFloor(page, '[ladder] cut mid-match');

    const cut = Date.now();
    firewall.setMode('blocked');
    await waitForPath(page, 'connected', 'hls', 15_000);
    let log = await stateLog(page);
    const trigger = firstAt(log, cut, (e) => e.path === 'hls')!;
    const onHls = firstAt(log, trigger, (e) => e.state === 'connected' && e.path === 'hls')!;
    console.log(
      `[ladder] cut: trigger ${trigger - cut} ms after the cut, HLS playing ${onHls - trigger} ms after the trigger`,
    );
    expect(log.find((e) => e.at === trigger)!.reason).toMatch(/^fallback: (ice-|no-frames)/);
    expectAboveFloor('[ladder] cut: trigger → HLS playing', onHls - trigger, floor, 3000);
    // The viewer watches HLS for a while.
    const t0 = await page.evaluate(() => window.__mm!.videoCurrentTime());
    await page.waitForFunction((t) => window.__mm!.videoCurrentTime() > t + 2, t0, { timeout: 10_000 });

    const restored = Date.now();
    firewall.setMode('open');
    await waitForPath(page, 'connected', 'webrtc', 15_000);
    log = await stateLog(page);
    const back = firstAt(log, restored, (e) => e.state === 'connected' && e.path === 'webrtc')!;
    console.log(`[ladder] restored: back on WebRTC ${back - restored} ms later; ${trace(log, cut)}`);
    expect(back - restored).toBeLessThanOrEqual(15_000);
    await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 10_000 });
    const after = Date.now();
    await page.waitForFunction((t) => {
      const frames = (window as unknown as { __mmFrames: [number][] }).__mmFrames;
      return frames.filter(([at]) => at > t).length >= 30;
    }, after);

    // The picture never stopped for longer than the fall back (cut → HLS playing)
    // took, and the switch back to WebRTC showed no freeze of its own.
    const whole = await frameLog(page, cut, Date.now());
    const upgrade = await frameLog(page, restored, Date.now());
    console.log(
      `[ladder] freezes: longest ${whole.maxGapMs} ms over the whole run (fall back took ${onHls - cut} ms), ${upgrade.maxGapMs} ms around the upgrade`,
    );
    const around = (await probedFrames(page))
      .filter(([at]) => at >= upgrade.maxGapAt - 300 && at <= upgrade.maxGapAt + upgrade.maxGapMs + 300)
      .map(([at, frame, , path]) => `${Math.round(at - upgrade.maxGapAt)}:${frame}:${path}`)
      .join(' ');
    expectAboveFloor('[ladder] longest freeze beyond the fall back', whole.maxGapMs, floor, onHls - cut + 250);
    expectAboveFloor(
      '[ladder] freeze around the upgrade',
      upgrade.maxGapMs,
      floor,
      500,
      `; frames around the longest gap after the restore: ${around}; ${trace(log, cut)}`,
    );
    await page.close();
  });
});

/**
 * Frame-by-frame comparison of what two viewers' overlays showed. Only
 * samples where the player had placed the frame the probe read count (the
 * probe reads the overlay a task after the frame; on a busy page the next
 * frame may have been placed by then) — and how many did is itself the
 * check that each path maps its frames to the right mediaTime. `truth` is
 * the score that belongs to frame f: the latest update whose mediaTime's
 * frame is <= f.
 */
function compareOverlays(
  hls: ProbedFrame[],
  ref: ProbedFrame[],
  updates: (readonly [number, number])[],
): {
  hlsPlaced: string;
  refPlaced: string;
  common: number;
  same: number;
  changes: number;
  hlsAheadBeyondOneFrame: number;
  refAheadBeyondOneFrame: number;
  /** Common frames where the two differ by more than the change of an adjacent frame: [frame, hls, webrtc]. */
  beyondOneFrame: [number, number, number][];
  differ: string;
} {
  const frameOf = (mediaTime: number) => Math.round((mediaTime * PATTERN_FPS) / 1000);
  const truth = (frame: number): number =>
    updates.reduce((best, [seq, mediaTime]) => (frameOf(mediaTime) <= frame && seq > best ? seq : best), -1);
  const placed = (frames: ProbedFrame[]) =>
    frames.filter(([, frame, seq, , mediaTime]) => seq >= 0 && mediaTime >= 0 && frameOf(mediaTime) === frame);
  const hlsPlaced = placed(hls);
  const refPlaced = placed(ref);
  const refByFrame = new Map<number, number>();
  for (const [, frame, seq] of refPlaced) refByFrame.set(frame, seq);
  let common = 0;
  let same = 0;
  const seen = new Set<number>();
  const beyondOneFrame: [number, number, number][] = [];
  let hlsLater = 0;
  let webrtcLater = 0;
  for (const [, frame, seq] of hlsPlaced) {
    const other = refByFrame.get(frame);
    if (other === undefined) continue;
    common++;
    if (seq === other) same++;
    else if (seq < other) hlsLater++;
    else webrtcLater++;
    if (
      seq !== other &&
      (![truth(frame - 1), truth(frame), truth(frame + 1)].includes(seq) ||
        ![truth(frame - 1), truth(frame), truth(frame + 1)].includes(other))
    ) {
      beyondOneFrame.push([frame, seq, other]);
    }
    seen.add(seq);
  }
  // Ahead: a score shown on a frame before the one it belongs to (one frame of slack).
  const aheadBeyondOne = (frames: ProbedFrame[]) => frames.filter(([, frame, seq]) => seq > truth(frame + 1)).length;
  return {
    hlsPlaced: `${hlsPlaced.length}/${hls.length}`,
    refPlaced: `${refPlaced.length}/${ref.length}`,
    common,
    same,
    changes: seen.size - 1,
    hlsAheadBeyondOneFrame: aheadBeyondOne(hlsPlaced),
    refAheadBeyondOneFrame: aheadBeyondOne(refPlaced),
    beyondOneFrame,
    differ: `HLS later on ${hlsLater}, WebRTC later on ${webrtcLater}`,
  };
}
