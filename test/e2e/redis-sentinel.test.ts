import { type SentinelGroup, startSentinelGroup } from '@matchmesh/cluster/testing';
import type { NodeRecord } from '@matchmesh/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { frameLog, installFrameProbe } from '../src/frame-probe.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { expectAboveFloor, freezeFloor } from '../src/noise-floor.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { TestSignaling } from '../src/signaling.ts';
import { waitForMoreFrames } from '../src/viewer.ts';

/**
 * Redis as ops run it (issue 19 item 2): a primary, a replica and three
 * Debian `redis-sentinel` processes; every node's REDIS_URL is the
 * `redis-sentinel://` list. The primary is killed during a match: playback
 * does not notice, and joins that need the cluster work again within 5 s
 * of the sentinels' promotion (livekit#2464 reports timeouts after exactly
 * this).
 */
describe('Redis behind Sentinel', () => {
  const stream = 'sentinel';
  let group: SentinelGroup;
  let ingest: TestNode;
  let eu: TestNode;
  let asia: TestNode;
  let origin: ManagedProcess;
  let browser: Browser;
  let viewer: Page;

  beforeAll(async () => {
    group = await startSentinelGroup();
    ingest = await startNode(group.url, { MM_NODE_ID: 'ingest-s', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    origin = await startOrigin(ingest.url, stream);
    eu = await startNode(group.url, { MM_NODE_ID: 'eu-s', MM_ROLES: 'relay', MM_REGION: 'eu' });
    asia = await startNode(group.url, { MM_NODE_ID: 'asia-s', MM_ROLES: 'relay', MM_REGION: 'asia' });
    browser = await launchChromium();
    viewer = await browser.newPage();
    await viewer.goto(
      `${eu.url}/watch?stream=${stream}&node=${encodeURIComponent(eu.url)}&token=${await token('viewer', stream)}`,
    );
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
    await installFrameProbe(viewer);
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const n of [asia, eu, ingest]) await n?.stop();
    await group?.stop();
  });

  it('keeps playback untouched when the primary dies, and takes cluster joins again within 5 s of the promotion', async () => {
    const floor = await freezeFloor(viewer, 'sentinel');
    const viewerToken = await token('viewer', stream);
    const oldPort = await group.primaryPort();
    const killedAt = Date.now();
    await group.killPrimary();
    const promotedAt = await group.waitForPromotion(oldPort);
    console.log(`sentinel: replica promoted ${promotedAt - killedAt} ms after the primary was killed`);

    // A join that needs the cluster: the Asian relay does not carry the stream yet (a claim and a region copy).
    let joinedAfter: number | undefined;
    while (joinedAfter === undefined && Date.now() - promotedAt < 10_000) {
      const client = await TestSignaling.connect(asia.url);
      const reply = await client.request('join', { stream, token: viewerToken });
      client.close();
      if (reply.ok) joinedAfter = Date.now() - promotedAt;
    }
    console.log(`sentinel: a join that needs the cluster works ${joinedAfter} ms after the promotion`);
    expect(joinedAfter).toBeDefined();
    expect(joinedAfter!).toBeLessThanOrEqual(5000);

    // The viewer who watched through it all saw no more of a freeze than the machine makes by itself (measured
    // before another page starts decoding beside it, which the floor did not have either).
    await waitForMoreFrames(viewer, 30);
    const log = await frameLog(viewer, killedAt);
    expectAboveFloor('sentinel failover: viewer freeze', log.maxGapMs, floor, 500);

    // A viewer on the Asian relay decodes what that join brought to the region.
    const late = await browser.newPage();
    await late.goto(`${asia.url}/watch?stream=${stream}&node=${encodeURIComponent(asia.url)}&token=${viewerToken}`);
    await late.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 20_000 });
    await late.close();

    // Every node is registered on the new primary (each heartbeat re-registers a node the new primary lacks).
    const listed = async () => {
      const res = await fetch(`${eu.url}/api/v1/nodes`, {
        headers: { Authorization: `Bearer ${await token('admin', '*')}` },
      });
      return ((await res.json()) as { nodes: NodeRecord[] }).nodes.map((n) => n.id).sort();
    };
    expect(await listed()).toEqual(['asia-s', 'eu-s', 'ingest-s']);
  });
});
