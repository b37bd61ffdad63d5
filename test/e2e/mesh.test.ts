import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { PipeSummary } from '@matchmesh/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import {
  isContiguous,
  longestFreezeSince,
  pageNow,
  scoreSeqs,
  startFrameClock,
  waitForMoreFrames,
} from '../src/viewer.ts';

/**
 * The regional mesh: one ingest node, relays in eu and asia, viewers on each.
 * Each region receives exactly one copy of the stream from the ingest; a
 * second relay in a region pulls from the first, never from the ingest.
 */
describe('regional mesh', () => {
  const stream = 'mesh';
  let redis: RedisServer;
  let ingest: TestNode;
  const relays: TestNode[] = [];
  let origin: ManagedProcess;
  let browser: Browser;
  let eu2Viewer: Page | undefined;

  const pipes = async (node: TestNode): Promise<PipeSummary[]> => {
    const res = await fetch(`${node.url}/api/v1/pipes`, {
      headers: { Authorization: `Bearer ${await token('admin', '*')}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { pipes: PipeSummary[] }).pipes;
  };

  const watch = async (node: TestNode): Promise<Page> => {
    const page = await browser.newPage();
    // Pinned to the node (no placement): the test decides which relay serves whom.
    await page.goto(
      `${node.url}/watch?stream=${stream}&node=${encodeURIComponent(node.url)}&token=${await token('viewer', stream)}`,
    );
    await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, {
      timeout: 30_000,
    });
    return page;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, { MM_NODE_ID: 'ingest-1', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    origin = await startOrigin(ingest.url, stream, { MM_SCORE_INTERVAL_MS: '300' });
    for (const [id, region] of [
      ['eu-1', 'eu'],
      ['asia-1', 'asia'],
    ] as const) {
      relays.push(await startNode(redis.url, { MM_NODE_ID: id, MM_ROLES: 'relay', MM_REGION: region }));
    }
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const r of relays) await r.stop(); // stop() after kill() resolves at once
    await ingest?.stop();
    await redis?.stop();
  });

  it('serves viewers in eu and asia with one pipe per region from the ingest', async () => {
    const [eu, asia] = [relays[0]!, relays[1]!];
    const euViewer = await watch(eu);
    const asiaViewer = await watch(asia);
    await Promise.all([waitForMoreFrames(euViewer, 15), waitForMoreFrames(asiaViewer, 15)]);

    const out = (await pipes(ingest)).filter((p) => p.direction === 'out' && p.stream === stream);
    expect(out.map((p) => p.peerRegion).sort()).toEqual(['asia', 'eu']);

    // Scores travel the pipes too, in order.
    await asiaViewer.waitForFunction(() => (window.__mm?.scores.length ?? 0) >= 4, undefined, {
      timeout: 10_000,
    });
    expect(isContiguous(await scoreSeqs(asiaViewer))).toBe(true);

    // The same figure from Prometheus.
    const metrics = await (
      await fetch(`${ingest.url}/metrics`, {
        headers: { Authorization: `Bearer ${await token('admin', '*')}` },
      })
    ).text();
    expect(metrics).toMatch(/mm_pipes\{[^}]*direction="out"[^}]*peer_region="eu"[^}]*\} 1/);
    expect(metrics).toMatch(/mm_pipes\{[^}]*direction="out"[^}]*peer_region="asia"[^}]*\} 1/);
  });

  it('feeds a second eu relay from the first, keeping the ingest at two pipes', async () => {
    const eu2 = await startNode(redis.url, { MM_NODE_ID: 'eu-2', MM_ROLES: 'relay', MM_REGION: 'eu' });
    relays.push(eu2);
    const viewer = await watch(eu2);
    await waitForMoreFrames(viewer, 15);

    const out = (await pipes(ingest)).filter((p) => p.direction === 'out' && p.stream === stream);
    expect(out).toHaveLength(2);
    const inbound = (await pipes(eu2)).filter((p) => p.direction === 'in');
    expect(inbound.map((p) => p.peerNodeId)).toEqual(['eu-1']);
    eu2Viewer = viewer;
  });

  it('re-pulls from the ingest when the region holder dies, without closing the viewers of the second relay', async () => {
    const [eu1, , eu2] = [relays[0]!, relays[1]!, relays[2]!];
    const viewer = eu2Viewer!;
    const navigations: string[] = [];
    viewer.on('framenavigated', (f) => navigations.push(f.url()));
    await startFrameClock(viewer);
    await viewer.waitForFunction(
      () => ((window as unknown as { __frameTimes: number[] }).__frameTimes.length ?? 0) > 10,
    );
    const killedAt = await pageNow(viewer);
    await eu1.kill();
    await viewer.waitForFunction(
      (since) => (window as unknown as { __frameTimes: number[] }).__frameTimes.filter((t) => t > since).length >= 30,
      killedAt,
      { timeout: 30_000, polling: 100 },
    );
    const { gapMs } = await longestFreezeSince(viewer, killedAt);
    const inbound = (await pipes(eu2)).filter((p) => p.direction === 'in');
    const out = (await pipes(ingest)).filter((p) => p.direction === 'out' && p.stream === stream);
    console.log(
      `region holder SIGKILL: eu-2 viewer freeze ${gapMs.toFixed(0)} ms, eu-2 now pulls from ${inbound[0]?.peerNodeId}`,
    );
    expect(inbound.map((p) => p.peerNodeId)).toEqual(['ingest-1']);
    // Still one copy per region: the dead holder's pipe is gone, eu-2 holds eu now.
    expect(out.map((p) => p.peerNodeId).sort()).toEqual(['asia-1', 'eu-2']);
    expect(navigations).toEqual([]);
    expect(await viewer.evaluate(() => window.__mm?.moves.failovers ?? -1)).toBe(0);
  });
});
