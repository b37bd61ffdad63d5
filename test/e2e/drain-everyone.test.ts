import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { DrainStatus, PipesResponse } from '@matchmesh/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATTERN_FPS } from '../../apps/origin/src/pattern-layout.ts';
import { launchChromium } from '../src/browser.ts';
import { frameLog, installFrameProbe, probedFrames } from '../src/frame-probe.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { expectAboveFloor, freezeFloor } from '../src/noise-floor.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { isContiguous, scoreSeqs, waitForMoreFrames } from '../src/viewer.ts';

/**
 * Drains that move everyone (issue 18 item 2), with real processes: an ingest,
 * two eu relays (eu-1 the region's holder, eu-2 pulling its copy from eu-1),
 * the origin agent, and Chromium viewers on the real watch page — one on eu-1
 * (moves to eu-2), one on eu-2 (its relay must re-pull from another holder
 * before eu-1 leaves), and an HLS viewer on eu-1 (its network lets no
 * WebSocket through, so the page falls back to eu-1's HLS; it moves to eu-2
 * with a second hls.js swapped in once it plays). Then a second ingest joins and the first one drains:
 * its publisher is handed over by a WHIP redirect. Freezes are read from the
 * frame numbers burned into the picture, each bounded above the same viewer's
 * noise floor measured just before.
 */
describe('drain everyone', () => {
  const stream = 'drainall';
  let redis: RedisServer;
  let ingest: TestNode;
  let eu1: TestNode;
  let eu2: TestNode;
  let origin: ManagedProcess;
  let browser: Browser;

  const adminHeaders = async () => ({
    Authorization: `Bearer ${await token('admin', '*')}`,
    'Content-Type': 'application/json',
  });
  const drain = async (id: string, body: unknown = { draining: true }) =>
    fetch(`${eu2.url}/api/v1/nodes/${id}/drain`, {
      method: 'POST',
      headers: await adminHeaders(),
      body: JSON.stringify(body),
    });
  const status = async (id: string) =>
    DrainStatus.parse(
      await (await fetch(`${eu2.url}/api/v1/nodes/${id}/drain`, { headers: await adminHeaders() })).json(),
    );
  const upstreamOf = async (node: TestNode): Promise<string | undefined> => {
    const res = await fetch(`${node.url}/api/v1/pipes`, { headers: await adminHeaders() });
    return PipesResponse.parse(await res.json()).pipes.find((p) => p.direction === 'in' && p.stream === stream)
      ?.peerNodeId;
  };
  const nodeIdOf = (page: Page) => page.evaluate(() => (window.__mm as unknown as { nodeId: string | null }).nodeId);

  const open = async (node: TestNode, options: { blockWebSocket?: boolean } = {}): Promise<Page> => {
    const page = await browser.newPage();
    // A network that lets no WebSocket through: signaling fails at once and the player falls back to HLS.
    if (options.blockWebSocket) await page.routeWebSocket(/\/ws(\?|$)/, (ws) => ws.close());
    const q = `stream=${stream}&node=${encodeURIComponent(node.url)}&token=${await token('viewer', stream)}`;
    await page.goto(`${node.url}/watch?${q}`);
    await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 20, undefined, { timeout: 30_000 });
    await installFrameProbe(page);
    return page;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, { MM_NODE_ID: 'dr-ingest-1', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    origin = await startOrigin(ingest.url, stream, { MM_SCORE_INTERVAL_MS: '500', MM_KEYFRAME_INTERVAL_MS: '500' });
    eu1 = await startNode(redis.url, { MM_NODE_ID: 'dr-eu-1', MM_ROLES: 'relay', MM_REGION: 'eu' });
    eu2 = await startNode(redis.url, { MM_NODE_ID: 'dr-eu-2', MM_ROLES: 'relay', MM_REGION: 'eu' });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const n of [eu2, eu1, ingest]) await n?.stop();
    await redis?.stop();
  });

  let onEu1: Page;
  let onEu2: Page;
  let hlsOnEu1: Page;
  const hlsNodeOf = (page: Page) => page.evaluate(() => window.__mm!.hlsNodeUrl);
  /**
   * Where the HLS picture was at the swap: the burned-in frame number the old
   * relay showed last and the new one first (relays package independently, so
   * the new hls.js starts at its own live edge: a few frames ahead or behind).
   */
  const swapOf = async (page: Page, drainedAt: number) => {
    const swappedAt = (await page.evaluate(() => window.__mm!.stateLog)).find((e) => e.reason.endsWith('(moved)'))?.at;
    const frames = await probedFrames(page);
    const before = frames.filter(([at]) => swappedAt !== undefined && at <= swappedAt).at(-1)?.[1];
    const after = frames.find(([at]) => swappedAt !== undefined && at > swappedAt)?.[1];
    return before === undefined || after === undefined || swappedAt === undefined
      ? 'swap not seen'
      : `frame ${before} → ${after}, ${Math.round(swappedAt - drainedAt)} ms after the drain call`;
  };
  /**
   * Is the score overlay in step with the picture across the move? For each
   * presented frame the probe records the stream time the player placed it
   * at (from the relay's own timeline: the old one's, then the new one's);
   * minus the burned-in frame number's time it is a constant when every
   * frame is placed right. Returns the share of placed frames within 100 ms
   * of the median offset (a probe sample may race the next frame: 33 ms).
   */
  const overlayInStep = async (page: Page, from: number) => {
    const offsets = (await probedFrames(page))
      .filter(([at, , , , mediaTime]) => at >= from && mediaTime >= 0)
      .map(([, frame, , , mediaTime]) => mediaTime - (frame * 1000) / PATTERN_FPS)
      .sort((a, b) => a - b);
    const median = offsets[Math.floor(offsets.length / 2)] ?? 0;
    const near = offsets.filter((o) => Math.abs(o - median) <= 100).length;
    return { placed: offsets.length, share: offsets.length ? near / offsets.length : 0 };
  };

  it('a drained region holder: its WebRTC and HLS viewers move, the relay it fed re-pulls first, then it reports empty', async () => {
    // eu-1 brings the region's copy (it holds the lease); eu-2 then pulls it from eu-1.
    onEu1 = await open(eu1);
    onEu2 = await open(eu2);
    // The HLS viewer must start on eu-1. A first HLS attempt can fail there (a loaded CI machine: the cold
    // packager's start), and the player then rightly plays HLS from eu-2: such a page is not the viewer this
    // test needs, so it is closed (its reason printed) and another opened, at most three times.
    for (let attempt = 1; ; attempt++) {
      hlsOnEu1 = await open(eu1, { blockWebSocket: true });
      if ((await hlsNodeOf(hlsOnEu1)) === eu1.url || attempt === 3) break;
      console.log(
        `drain: HLS page ${attempt} plays from ${await hlsNodeOf(hlsOnEu1)}, not eu-1 (${await hlsOnEu1.evaluate(() => window.__mm!.reason)}); opening another`,
      );
      await hlsOnEu1.close();
    }
    expect(await hlsOnEu1.evaluate(() => `${window.__mm!.state}/${window.__mm!.path}`)).toBe('connected/hls');
    expect(await hlsNodeOf(hlsOnEu1)).toBe(eu1.url);
    expect(await upstreamOf(eu1)).toBe('dr-ingest-1');
    expect(await upstreamOf(eu2)).toBe('dr-eu-1');
    // The last serving relay of a region is not drained without force.
    const floors = {
      moved: await freezeFloor(onEu1, 'drain: WebRTC viewer on eu-1'),
      downstream: await freezeFloor(onEu2, 'drain: WebRTC viewer on eu-2 (fed by eu-1)'),
      hls: await freezeFloor(hlsOnEu1, 'drain: HLS viewer on eu-1'),
    };
    const hlsSeqsBefore = await scoreSeqs(hlsOnEu1);

    const drainedAt = Date.now();
    expect((await drain('dr-eu-1')).status).toBe(200);
    await onEu1.waitForFunction(
      () => (window.__mm as unknown as { nodeId: string | null }).nodeId === 'dr-eu-2',
      undefined,
      { timeout: 10_000 },
    );
    await hlsOnEu1.waitForFunction((url) => window.__mm!.hlsNodeUrl === url, eu2.url, { timeout: 15_000 });
    const hlsMovedMs = Date.now() - drainedAt;
    await expect.poll(() => upstreamOf(eu2), { timeout: 15_000, interval: 100 }).toBe('dr-ingest-1');
    await expect.poll(async () => (await status('dr-eu-1')).empty, { timeout: 15_000, interval: 200 }).toBe(true);
    const emptyMs = Date.now() - drainedAt;
    expect((await status('dr-eu-1')).remaining.hlsPlayers).toBe(0);
    const hlsTimeAfterMove = await hlsOnEu1.evaluate(() => window.__mm!.videoCurrentTime());
    await Promise.all([waitForMoreFrames(onEu1, 45), waitForMoreFrames(onEu2, 45), waitForMoreFrames(hlsOnEu1, 45)]);

    const moved = await frameLog(onEu1, drainedAt - 1000);
    const downstream = await frameLog(onEu2, drainedAt - 1000);
    const hls = await frameLog(hlsOnEu1, drainedAt - 1000);
    const hlsSeqs = await scoreSeqs(hlsOnEu1);
    const inStep = await overlayInStep(hlsOnEu1, drainedAt - 1000);
    console.log(
      `drain figures: WebRTC viewer moved to ${await nodeIdOf(onEu1)}: longest freeze ${moved.maxGapMs} ms over ${moved.frames} frames; ` +
        `downstream relay's viewer (eu-2 re-pulled from the ingest): longest freeze ${downstream.maxGapMs} ms over ${downstream.frames} frames; ` +
        `HLS viewer moved to ${await hlsNodeOf(hlsOnEu1)} ${hlsMovedMs} ms after the drain call: longest freeze ${hls.maxGapMs} ms over ${hls.frames} frames (longest at +${Math.round(hls.maxGapAt - drainedAt)} ms; at the swap ${await swapOf(hlsOnEu1, drainedAt)}; ` +
        `overlay in step on ${Math.round(inStep.share * 100)} % of ${inStep.placed} placed frames); ` +
        `eu-1 empty (hlsPlayers 0) ${emptyMs} ms after the drain call`,
    );
    expect(moved.frames).toBeGreaterThan(60);
    expect(downstream.frames).toBeGreaterThan(60);
    expect(hls.frames).toBeGreaterThan(60);
    expectAboveFloor('drain: moved WebRTC viewer freeze', moved.maxGapMs, floors.moved, 1000);
    expectAboveFloor('drain: downstream relay viewer freeze', downstream.maxGapMs, floors.downstream, 1000);
    expectAboveFloor('drain: moved HLS viewer freeze', hls.maxGapMs, floors.hls, 1000);
    // Still HLS (no WebSocket), playing on eu-2's element, with the scores going on without a gap.
    const after = await hlsOnEu1.evaluate(() => ({
      at: `${window.__mm!.state}/${window.__mm!.path}`,
      time: window.__mm!.videoCurrentTime(),
      moves: window.__mm!.moves.moves,
    }));
    expect(after.at).toBe('connected/hls');
    expect(after.moves).toBe(1);
    expect(after.time).toBeGreaterThan(hlsTimeAfterMove + 1);
    expect(hlsSeqs.length).toBeGreaterThan(hlsSeqsBefore.length);
    expect(isContiguous(hlsSeqs)).toBe(true);
    // The overlay follows the new session: frames placed on its timeline, at the same offset as before the move.
    expect(inStep.placed).toBeGreaterThan(hls.frames * 0.8);
    expect(inStep.share).toBeGreaterThan(0.9);
    // The events feed says so.
    const events = (await (
      await fetch(`${eu2.url}/api/v1/events?limit=50`, { headers: await adminHeaders() })
    ).json()) as {
      events: { kind: string; nodeId?: string }[];
    };
    expect(events.events.some((e) => e.kind === 'drain-empty' && e.nodeId === 'dr-eu-1')).toBe(true);
    // eu-2 now serves eu alone: draining it is refused without force.
    const refused = await drain('dr-eu-2');
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect((await drain('dr-nobody')).status).toBe(404);
  });

  it('a drained ingest hands its publisher to another ingest (WHIP redirect): viewers keep playing, no score lost', async () => {
    const ingest2 = await startNode(redis.url, { MM_NODE_ID: 'dr-ingest-2', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    try {
      const floor = await freezeFloor(onEu2, 'ingest drain: WebRTC viewer on eu-2');
      const seqsBefore = await scoreSeqs(onEu2);
      const drainedAt = Date.now();
      expect((await drain('dr-ingest-1')).status).toBe(200);
      await expect.poll(() => upstreamOf(eu2), { timeout: 20_000, interval: 100 }).toBe('dr-ingest-2');
      await expect.poll(async () => (await status('dr-ingest-1')).empty, { timeout: 20_000, interval: 200 }).toBe(true);
      const emptyMs = Date.now() - drainedAt;
      await waitForMoreFrames(onEu2, 45);
      const log = await frameLog(onEu2, drainedAt - 1000);
      const seqs = await scoreSeqs(onEu2);
      console.log(
        `ingest drain figures: viewer on eu-2 longest freeze ${log.maxGapMs} ms over ${log.frames} frames; ` +
          `scores seq ${seqs[0]}→${seqs.at(-1)} (${seqs.length}); ingest-1 empty ${emptyMs} ms after the drain call`,
      );
      expect(log.frames).toBeGreaterThan(60);
      expect(seqs.length).toBeGreaterThan(seqsBefore.length);
      expect(isContiguous(seqs)).toBe(true);
      expectAboveFloor('ingest drain: viewer freeze', log.maxGapMs, floor, 1000);
    } catch (err) {
      // Where the hand-over stopped: the agent's and both ingests' own words.
      const tail = (p: ManagedProcess) =>
        p
          .output()
          .split('\n')
          .filter((l) => /whip|reconnect|drain|session|ingest|pull/i.test(l))
          .slice(-15)
          .join('\n');
      console.log(
        `origin:\n${tail(origin)}\ningest-1:\n${tail(ingest)}\ningest-2:\n${tail(ingest2)}\neu-2:\n${tail(eu2)}`,
      );
      throw err;
    } finally {
      await ingest2.stop();
    }
  });
});
