// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { EventsResponse, OpsEvent, OpsSnapshot } from '@matchmesh/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startNode, type TestNode, token, tokenSecret } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import { type ManagedProcess, REPO_ROOT } from '../src/processes.ts';

/** Where the run keeps its screenshots (git-ignored): MM_TEST_ARTIFACTS, else <repo>/test-results. */
const ARTIFACTS = process.env.MM_TEST_ARTIFACTS ?? path.join(REPO_ROOT, 'test-results');

const run = promisify(execFile);
/** The real `matchmesh` CLI (compiled), against the running mesh, with the dev secret for its admin token. */
async function matchmesh(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, MM_TOKEN_SECRET: tokenSecret(), MM_ADMIN_TOKEN: '' };
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [path.join(REPO_ROOT, 'apps/cli/bin/matchmesh.js'), ...args],
      {
        env,
        timeout: 20_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * The live ops console on a real two-relay region: an ingest+relay and a
 * relay, the origin publishing, a Chromium viewer on the relay, `/ops` open
 * in Chromium. The page shows the region, both nodes and the events feed
 * (both joins), and draining the relay from the page empties it — the viewer
 * moves to the other node, the page shows 0 viewers on the drained one and
 * the drain in the feed without a reload. The CLI reads the same mesh.
 */
describe('live ops console', () => {
  const stream = 'opslive';
  let redis: RedisServer;
  let nodeA: TestNode;
  let nodeB: TestNode;
  let origin: ManagedProcess;
  let browser: Browser;
  let viewer: Page;
  let ops: Page;

  beforeAll(async () => {
    redis = await startRedisServer();
    nodeA = await startNode(redis.url, { MM_NODE_ID: 'ops-a', MM_ROLES: 'ingest,relay', MM_REGION: 'eu' });
    nodeB = await startNode(redis.url, { MM_NODE_ID: 'ops-b', MM_ROLES: 'relay', MM_REGION: 'eu' });
    origin = await startOrigin(nodeA.url, stream, { MM_SCORE_INTERVAL_MS: '1000' });
    browser = await launchChromium();
    viewer = await browser.newPage();
    // Pinned to the relay: it is the node the drain will empty.
    await viewer.goto(
      `${nodeB.url}/watch?stream=${stream}&token=${await token('viewer', stream)}&node=${encodeURIComponent(nodeB.url)}`,
    );
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 20, undefined, { timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const n of [nodeB, nodeA]) await n?.stop();
    await redis?.stop();
  });

  const card = (id: string) => ops.locator(`[data-testid="ops-regions"] [data-region="eu"] [data-node="${id}"]`);
  const feed = (kind: OpsEvent['kind'], nodeId: string) =>
    ops.locator(`[data-testid="ops-events"] li[data-kind="${kind}"][data-node="${nodeId}"]`);
  const playingOn = () => viewer.evaluate(() => (window.__mm as unknown as { nodeId: string | null }).nodeId);

  it('shows the region, its nodes with viewers, the joins in the feed; a drain empties a node, live', async () => {
    expect(await playingOn()).toBe('ops-b');
    ops = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    await ops.goto(`${nodeA.url}/ops?token=${await token('admin', '*')}`);
    await ops.locator('[data-testid="ops-connected"][data-on="yes"]').waitFor({ timeout: 10_000 });
    // The viewer on ops-b, once a heartbeat carries it; ops-a holds none.
    await ops.locator('[data-region="eu"] [data-node="ops-b"][data-viewers="1"]').waitFor({ timeout: 10_000 });
    expect(await card('ops-a').getAttribute('data-viewers')).toBe('0');
    expect(await card('ops-b').getAttribute('data-health')).toBe('ok');
    await feed('node-joined', 'ops-a').waitFor();
    await feed('node-joined', 'ops-b').waitFor();
    await ops.locator(`[data-testid="ops-streams"] tr[data-stream="${stream}"][data-viewers="1"]`).waitFor();
    // Cost and reports come from other routes: on a node without them the panels say so, the page stands.
    expect(await ops.getByTestId('ops-cost').getAttribute('data-available')).toMatch(/^(yes|no)$/);
    expect(await ops.getByTestId('ops-reports').getAttribute('data-available')).toMatch(/^(yes|no)$/);

    // A marker that a reload would lose: what follows arrives over the live stream.
    await ops.evaluate(() => {
      (window as unknown as { __noReload: boolean }).__noReload = true;
    });
    const drainAt = Date.now();
    await card('ops-b').getByRole('button', { name: 'Drain' }).click();
    await feed('drain', 'ops-b').waitFor({ timeout: 10_000 });
    const feedMs = Date.now() - drainAt;
    await ops.locator('[data-node="ops-b"][data-draining="yes"]').waitFor({ timeout: 10_000 });
    // The viewer moves to the region's other relay; the page sees ops-b empty and ops-a holding it.
    await expect.poll(playingOn, { timeout: 20_000, interval: 200 }).toBe('ops-a');
    const movedMs = Date.now() - drainAt;
    await ops.locator('[data-node="ops-b"][data-draining="yes"][data-viewers="0"]').waitFor({ timeout: 10_000 });
    await ops.locator('[data-node="ops-a"][data-viewers="1"]').waitFor({ timeout: 10_000 });
    const emptiedMs = Date.now() - drainAt;
    expect(await ops.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
    console.log(
      `ops live: drain in the feed ${feedMs} ms after the click; viewer on ops-a after ${movedMs} ms; page shows ops-b empty after ${emptiedMs} ms`,
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'ops-live.png');
    await ops.screenshot({ path: shot, fullPage: true });
    console.log(`ops live: screenshot ${shot}`);
  });

  it('the CLI reads the same mesh: top --once, events --json, undrain (seen live by the page)', async () => {
    const top = await matchmesh('top', '--once', '--url', nodeA.url);
    expect(top.code, top.stderr).toBe(0);
    console.log(`matchmesh top --once:\n${top.stdout}`);
    expect(top.stdout).toMatch(/^matchmesh top — 2 nodes · 1 WebRTC/);
    expect(top.stdout).toMatch(/REGION eu: 2 nodes/);
    expect(top.stdout).toMatch(/ops-b\s+relay\s+0\/\d+.*DRAINING/);
    expect(top.stdout).toMatch(/drain\s+ops-b \(eu\)\s+drained by ops/);

    const topJson = await matchmesh('top', '--once', '--json', '--url', nodeA.url);
    const frame = JSON.parse(topJson.stdout) as { snapshot: OpsSnapshot; events: OpsEvent[] };
    expect(frame.snapshot.nodes.map((n) => n.id).sort()).toEqual(['ops-a', 'ops-b']);

    const events = await matchmesh('events', '--json', '--url', nodeA.url);
    expect(events.code, events.stderr).toBe(0);
    const feedKinds = (JSON.parse(events.stdout) as EventsResponse).events.map((e) => `${e.kind}:${e.nodeId}`);
    expect(feedKinds).toEqual(expect.arrayContaining(['node-joined:ops-a', 'node-joined:ops-b', 'drain:ops-b']));

    // `events --follow --json` running while the undrain happens prints it as a JSON line; Ctrl-C ends it with 0.
    const follow = spawn(
      process.execPath,
      [
        path.join(REPO_ROOT, 'apps/cli/bin/matchmesh.js'),
        'events',
        '--follow',
        '--json',
        '--limit',
        '1',
        '--url',
        nodeA.url,
      ],
      {
        env: { ...process.env, MM_TOKEN_SECRET: tokenSecret(), MM_ADMIN_TOKEN: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = once(follow, 'exit');
    let followed = '';
    const undrainLine = new Promise<OpsEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no undrain line from events --follow: ${followed}`)), 15_000);
      follow.stdout.on('data', (chunk: Buffer) => {
        followed += chunk.toString();
        for (const line of followed.split('\n').filter(Boolean)) {
          const e = JSON.parse(line) as OpsEvent;
          if (e.kind === 'undrain' && e.nodeId === 'ops-b') {
            clearTimeout(timer);
            resolve(e);
          }
        }
      });
    });
    // It prints the newest event first (--limit 1): once that line is out, it is following.
    await expect.poll(() => followed.includes('\n'), { timeout: 10_000 }).toBe(true);
    const undrain = await matchmesh('undrain', 'ops-b', '--url', nodeA.url);
    expect(undrain.code, undrain.stderr).toBe(0);
    expect((await undrainLine).detail).toMatch(/undrained by ops/);
    follow.kill('SIGINT');
    expect((await exited)[0]).toBe(0);
    await feed('undrain', 'ops-b').waitFor({ timeout: 10_000 });
    await ops.locator('[data-node="ops-b"][data-draining="no"]').waitFor({ timeout: 10_000 });

    // Exit codes a script can branch on.
    expect((await matchmesh('program', 'no-such-stream', '--url', nodeA.url)).code).toBe(4);
    expect((await matchmesh('nodes', '--url', 'http://127.0.0.1:1')).code).toBe(5);
  });

  it('a node that leaves appears in the feed once', async () => {
    await nodeB.stop();
    await feed('node-left', 'ops-b').waitFor({ timeout: 15_000 });
    const events = await matchmesh('events', '--json', '--url', nodeA.url);
    const left = (JSON.parse(events.stdout) as EventsResponse).events.filter(
      (e) => e.kind === 'node-left' && e.nodeId === 'ops-b',
    );
    expect(left).toHaveLength(1);
    expect(left[0]!.detail).toBe('left: closed gracefully');
  });
});
