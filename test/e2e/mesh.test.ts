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
 *
 * The fixture (ingest, origin, eu-1, asia-1, Chromium) is shared; every test
 * opens its own viewers and starts (and stops) any further relay it needs, so
 * each runs alone (`-t`) or in any order. The holder-death test uses a region
 * of its own (us), as it kills its holder.
 */
describe('regional mesh', () => {
  const stream = 'mesh';
  let redis: RedisServer;
  let ingest: TestNode;
  let eu1: TestNode;
  let asia1: TestNode;
  let origin: ManagedProcess;
  let browser: Browser;

  const pipes = async (node: TestNode): Promise<PipeSummary[]> => {
    const res = await fetch(`${node.url}/api/v1/pipes`, {
      headers: { Authorization: `Bearer ${await token('admin', '*')}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { pipes: PipeSummary[] }).pipes;
  };
  /** The ingest's pipes out to one region: that region's copies of the stream. */
  const copiesTo = async (region: string): Promise<PipeSummary[]> =>
    (await pipes(ingest)).filter((p) => p.direction === 'out' && p.stream === stream && p.peerRegion === region);

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
  const relay = (id: string, region: string): Promise<TestNode> =>
    startNode(redis.url, { MM_NODE_ID: id, MM_ROLES: 'relay', MM_REGION: region });

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, { MM_NODE_ID: 'ingest-1', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    origin = await startOrigin(ingest.url, stream, { MM_SCORE_INTERVAL_MS: '300' });
    eu1 = await relay('eu-1', 'eu');
    asia1 = await relay('asia-1', 'asia');
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const n of [asia1, eu1, ingest]) await n?.stop();
    await redis?.stop();
  });

  it('serves viewers in eu and asia with one pipe per region from the ingest', async () => {
    const euViewer = await watch(eu1);
    const asiaViewer = await watch(asia1);
    try {
      await Promise.all([waitForMoreFrames(euViewer, 15), waitForMoreFrames(asiaViewer, 15)]);

      expect((await copiesTo('eu')).map((p) => p.peerNodeId)).toEqual(['eu-1']);
      expect((await copiesTo('asia')).map((p) => p.peerNodeId)).toEqual(['asia-1']);

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
    } finally {
      await Promise.all([euViewer.close(), asiaViewer.close()]);
    }
  });

  it('feeds a second eu relay from the first, keeping the ingest at one pipe to eu', async () => {
    // eu-1 holds the region's copy: a viewer of its own makes sure of that.
    const euViewer = await watch(eu1);
    const eu2 = await relay('eu-2', 'eu');
    try {
      const viewer = await watch(eu2);
      await waitForMoreFrames(viewer, 15);

      expect((await copiesTo('eu')).map((p) => p.peerNodeId)).toEqual(['eu-1']);
      const inbound = (await pipes(eu2)).filter((p) => p.direction === 'in');
      expect(inbound.map((p) => p.peerNodeId)).toEqual(['eu-1']);
      await viewer.close();
    } finally {
      await euViewer.close();
      await eu2.stop();
    }
  });

  it('re-pulls from the ingest when the region holder dies, without closing the viewers of the second relay', async () => {
    const us1 = await relay('us-1', 'us');
    const us2 = await relay('us-2', 'us');
    const holderViewer = await watch(us1);
    try {
      const viewer = await watch(us2);
      expect((await pipes(us2)).filter((p) => p.direction === 'in').map((p) => p.peerNodeId)).toEqual(['us-1']);
      const navigations: string[] = [];
      viewer.on('framenavigated', (f) => navigations.push(f.url()));
      await startFrameClock(viewer);
      await viewer.waitForFunction(
        () => ((window as unknown as { __frameTimes: number[] }).__frameTimes.length ?? 0) > 10,
      );
      const killedAt = await pageNow(viewer);
      await us1.kill();
      await viewer.waitForFunction(
        (since) => (window as unknown as { __frameTimes: number[] }).__frameTimes.filter((t) => t > since).length >= 30,
        killedAt,
        { timeout: 30_000, polling: 100 },
      );
      const { gapMs } = await longestFreezeSince(viewer, killedAt);
      const inbound = (await pipes(us2)).filter((p) => p.direction === 'in');
      console.log(
        `region holder SIGKILL: us-2 viewer freeze ${gapMs.toFixed(0)} ms, us-2 now pulls from ${inbound[0]?.peerNodeId}`,
      );
      expect(inbound.map((p) => p.peerNodeId)).toEqual(['ingest-1']);
      // Still one copy per region: the dead holder's pipe is gone, us-2 holds us now.
      expect((await copiesTo('us')).map((p) => p.peerNodeId)).toEqual(['us-2']);
      expect(navigations).toEqual([]);
      expect(await viewer.evaluate(() => window.__mm?.moves.failovers ?? -1)).toBe(0);
      await viewer.close();
    } finally {
      await holderViewer.close().catch(() => undefined);
      await us1.stop();
      await us2.stop();
    }
  });
});
