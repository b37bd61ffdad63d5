import { execFileSync } from 'node:child_process';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { mediaObjects } from '../src/metrics.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { longestFreezeSince, pageNow, startFrameClock } from '../src/viewer.ts';

/** mediasoup-worker processes that are children of a node process. */
function workerPids(nodePid: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(nodePid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, comm]) => comm?.startsWith('mediasoup-work'))
    .map(([pid]) => Number(pid));
}

/**
 * A relay's mediasoup worker crashes mid-match (SIGKILL of the worker
 * process): the pool respawns it, the relay pulls the region copy again, and
 * the viewer plays again within 2 s without a page reload.
 */
describe('mediasoup worker crash on a relay', () => {
  const stream = 'crash';
  let redis: RedisServer;
  let ingest: TestNode;
  let relay: TestNode;
  let origin: ManagedProcess;
  let browser: Browser;
  let viewer: Page;

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, { MM_NODE_ID: 'ingest-c', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    origin = await startOrigin(ingest.url, stream, { MM_SCORE_INTERVAL_MS: '500' });
    relay = await startNode(redis.url, { MM_NODE_ID: 'eu-c', MM_ROLES: 'relay', MM_REGION: 'eu' });
    browser = await launchChromium();
    viewer = await browser.newPage();
    await viewer.goto(`${relay.url}/watch?stream=${stream}&token=${await token('viewer', stream)}`);
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, {
      timeout: 30_000,
    });
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const n of [relay, ingest]) await n?.stop();
    await redis?.stop();
  });

  it('respawns the worker and the viewer plays again within 2 s', async () => {
    const [pid] = workerPids(relay.child.pid!);
    expect(pid).toBeGreaterThan(0);
    await startFrameClock(viewer);
    await viewer.waitForFunction(
      () => ((window as unknown as { __frameTimes: number[] }).__frameTimes.length ?? 0) > 10,
    );
    const navigations: string[] = [];
    viewer.on('framenavigated', (f) => navigations.push(f.url()));

    const killedAt = await pageNow(viewer);
    process.kill(pid!, 'SIGKILL');
    // Playing again: 30 fresh frames after the kill.
    await viewer.waitForFunction(
      (since) => (window as unknown as { __frameTimes: number[] }).__frameTimes.filter((t) => t > since).length >= 30,
      killedAt,
      { timeout: 20_000, polling: 100 },
    );
    const { gapMs, framesAfter } = await longestFreezeSince(viewer, killedAt);
    const respawned = workerPids(relay.child.pid!);
    console.log(
      `worker crash: killed pid ${pid}, respawned ${respawned.join(',')}, viewer freeze ${gapMs.toFixed(0)} ms`,
    );

    expect(respawned).toHaveLength(1);
    expect(respawned[0]).not.toBe(pid);
    expect(navigations).toEqual([]);
    expect(framesAfter).toBeGreaterThanOrEqual(30);
    expect(gapMs).toBeLessThanOrEqual(2000);
    // The relay holds the stream again on the new worker.
    expect((await mediaObjects(relay.url)).router).toBeGreaterThanOrEqual(1);
  });
});
