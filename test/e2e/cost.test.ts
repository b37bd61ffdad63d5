// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { CostResponse } from '@matchmesh/protocol';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { scrapeMetrics } from '../src/metrics.ts';
import { startNode, type TestNode, token, tokenSecret } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import { type ManagedProcess, REPO_ROOT } from '../src/processes.ts';

/*
 * Cost per region (issue 17 item 3) on a real two-region mesh: the ingest in
 * eu (which packages HLS from the first packet, MM_HLS_ALWAYS, with nobody
 * watching), a relay in asia with a Chromium WebRTC viewer and an HLS player
 * (this test's own fetches). The ledger in Redis must show asia's WebRTC and
 * HLS bytes (HLS within a tolerance of what was fetched), eu's region copy to
 * asia, nothing for the ingest's loopback packager, and keep its counters
 * across a restart of the relay.
 */
const PRICES = { MM_REGION_USD_PER_GB: 'eu=0.02,asia=0.09', MM_CDN_USD_PER_GB: '0.085' };
/** Response headers a node writes with an HLS answer: generous (they are ~300 B). */
const HEADER_ALLOWANCE = 1_000;

describe('cost per region on a two-region mesh', () => {
  const stream = 'costmatch';
  let redis: RedisServer;
  let ingest: TestNode;
  let relay: TestNode;
  let origin: ManagedProcess;
  let browser: Browser;
  let admin: string;
  const relayEnv = { MM_NODE_ID: 'cost-asia-1', MM_ROLES: 'relay', MM_REGION: 'asia', ...PRICES };

  beforeAll(async () => {
    redis = await startRedisServer();
    [ingest, relay] = await Promise.all([
      startNode(redis.url, {
        MM_NODE_ID: 'cost-eu-ingest',
        MM_ROLES: 'ingest',
        MM_REGION: 'eu',
        MM_HLS_ALWAYS: '*',
        ...PRICES,
      }),
      startNode(redis.url, relayEnv),
    ]);
    origin = await startOrigin(ingest.url, stream);
    admin = await token('admin', '*');
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const n of [relay, ingest]) await n?.stop();
    await redis?.stop();
  });

  const cost = async (node: TestNode): Promise<CostResponse> => {
    const res = await fetch(`${node.url}/api/v1/cost`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    return CostResponse.parse(await res.json());
  };
  const region = (c: CostResponse, name: string) =>
    c.regions.find((r) => r.region === name)?.bytes ?? { webrtc: 0, hls: 0, pipes: 0 };

  it('the ingest’s own HLS packager with nobody watching adds nothing', async () => {
    // The packager has been fed over loopback RTP once the ingest's internal bytes grow.
    await expect
      .poll(async () => (await scrapeMetrics(ingest.url)).get('mm_egress_bytes{kind="other"}') ?? 0, {
        timeout: 20_000,
        interval: 250,
      })
      .toBeGreaterThan(100_000);
    const metrics = await scrapeMetrics(ingest.url);
    expect(metrics.get('mm_cost_bytes{carrier="webrtc"}')).toBe(0);
    expect(metrics.get('mm_cost_bytes{carrier="pipes"}')).toBe(0);
    expect(metrics.get('mm_region_usd_per_gb')).toBe(0.02);
    expect(metrics.get('mm_cdn_usd_per_gb')).toBe(0.085);
    // The heartbeat's egress is the priced bytes too: still zero.
    const nodes = (await (
      await fetch(`${ingest.url}/api/v1/nodes`, { headers: { authorization: `Bearer ${admin}` } })
    ).json()) as {
      nodes: { id: string; load: { egressBytes: number } }[];
    };
    expect(nodes.nodes.find((n) => n.id === 'cost-eu-ingest')?.load.egressBytes).toBe(0);
    const night = await cost(ingest);
    expect(region(night, 'eu')).toEqual({ webrtc: 0, hls: 0, pipes: 0 });
    expect(night.total.usd).toBe(0);
  });

  it('a WebRTC viewer and an HLS player in asia: asia’s webrtc and hls, eu’s pipes; the CLI prints the night', async () => {
    browser = await launchChromium();
    const viewer = await browser.newPage();
    await viewer.goto(`${relay.url}/watch?stream=${stream}&token=${await token('viewer', stream)}`);
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
    expect(await viewer.evaluate(() => window.__mm?.path)).toMatch(/^webrtc/);

    // The HLS player: the multivariant playlist, the media playlist, the init segment and the
    // segments it lists, every byte of every answer counted as it arrives.
    const viewerToken = await token('viewer', stream);
    let fetched = 0;
    let responses = 0;
    const get = async (url: string | URL): Promise<string> => {
      const res = await fetch(url);
      const body = Buffer.from(await res.arrayBuffer());
      fetched += body.length;
      responses++;
      expect(res.status, String(url)).toBe(200);
      return body.toString('latin1');
    };
    const multivariantUrl = new URL(`${relay.url}/hls/${stream}/index.m3u8?token=${viewerToken}`);
    const multivariant = await get(multivariantUrl);
    const mediaUrl = new URL(multivariant.split('\n').find((l) => l.trim() && !l.startsWith('#'))!, multivariantUrl);
    // A player's blocking reloads (_HLS_msn: answered once that segment is whole) until three are listed.
    const listed = (text: string) => text.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    let playlist = await get(mediaUrl);
    for (let reloads = 0; listed(playlist).length < 3 && reloads < 10; reloads++) {
      const next = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1] ?? 0) + listed(playlist).length;
      playlist = await get(new URL(`?_HLS_msn=${next}`, mediaUrl));
    }
    const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)?.[1];
    expect(init).toBeDefined();
    await get(new URL(init!, mediaUrl));
    const segments = listed(playlist);
    expect(segments.length, `${mediaUrl}\n${playlist}`).toBeGreaterThan(0);
    for (const s of segments.slice(-4)) await get(new URL(s, mediaUrl));
    expect(fetched).toBeGreaterThan(50_000);

    // The relay adds its bytes on its heartbeat (500 ms here); GET /api/v1/cost adds its own first.
    let night = await cost(relay);
    await expect
      .poll(
        async () => {
          night = await cost(relay);
          const asia = region(night, 'asia');
          return asia.hls >= fetched && asia.webrtc > 200_000 && region(night, 'eu').pipes > 200_000;
        },
        { timeout: 15_000, interval: 250 },
      )
      .toBe(true);
    const asia = region(night, 'asia');
    // The viewer stayed on WebRTC (its ladder never fell back to HLS): every HLS byte here is this test's.
    const paths = await viewer.evaluate(() => window.__mm?.stateLog.map((e) => e.path) ?? []);
    expect(paths.filter((p) => p.startsWith('hls'))).toEqual([]);
    expect(asia.hls).toBeLessThanOrEqual(fetched + responses * HEADER_ALLOWANCE);
    // Region copies leave eu only: asia sends none, and nothing is priced twice.
    expect(asia.pipes).toBe(0);
    const asiaCost = night.regions.find((r) => r.region === 'asia')!;
    expect(asiaCost.usdPerGb).toBe(0.09);
    expect(asiaCost.usd).toBeCloseTo(((asia.webrtc + asia.hls) / 1e9) * 0.09, 12);
    expect(asiaCost.cdnUsd).toBeCloseTo(((asia.webrtc + asia.hls) / 1e9) * 0.085, 12);
    expect(night.regions.find((r) => r.region === 'eu')!.usdPerGb).toBe(0.02);

    // The same night through the CLI, --json parsed; and the table ops read.
    const json = CostResponse.parse(JSON.parse(await cli(['cost', '--json', '--url', relay.url])));
    expect(region(json, 'asia').webrtc).toBeGreaterThanOrEqual(asia.webrtc);
    const table = await cli(['cost', '--url', relay.url]);
    expect(table).toMatch(/^REGION\s+WEBRTC\s+HLS\s+PIPES/);

    // The /ops page's cost panel shows the same night.
    const ops = await browser.newPage();
    await ops.goto(`${relay.url}/ops?token=${admin}`);
    const asiaRow = ops.locator('[data-testid="ops-cost"] tr[data-region="asia"]');
    await asiaRow.waitFor({ timeout: 10_000 });
    expect(Number(await asiaRow.getAttribute('data-webrtc'))).toBeGreaterThan(200_000);
    expect(Number(await asiaRow.getAttribute('data-hls'))).toBeGreaterThanOrEqual(fetched);
    const headline = (await ops.locator('[data-testid="ops-cost"] .cost-headline').textContent()) ?? '';
    expect(headline).toMatch(/\$[\d.]+ since .* at the CDN \(\$0\.085\/GB\): \$[\d.]+/);
    await ops.close();
    console.log(
      `cost: HLS fetched ${fetched} B in ${responses} answers, counted ${asia.hls} B\n${table}\n/ops: ${headline}`,
    );
  });

  it('a restart of the relay keeps the counters (never below what they were)', async () => {
    const before = await cost(ingest);
    // What the relay itself counted since it started: after it stops, all of it is in the ledger.
    const counted = await scrapeMetrics(relay.url);
    await relay.stop();
    const stopped = await cost(ingest);
    for (const r of before.regions) {
      const after = region(stopped, r.region);
      expect(after.webrtc).toBeGreaterThanOrEqual(r.bytes.webrtc);
      expect(after.hls).toBeGreaterThanOrEqual(r.bytes.hls);
      expect(after.pipes).toBeGreaterThanOrEqual(r.bytes.pipes);
    }
    expect(region(stopped, 'asia').webrtc).toBeGreaterThanOrEqual(counted.get('mm_cost_bytes{carrier="webrtc"}')!);
    expect(region(stopped, 'asia').hls).toBeGreaterThanOrEqual(counted.get('mm_cost_bytes{carrier="hls"}')!);
    expect(counted.get('mm_cost_bytes{carrier="webrtc"}')).toBeGreaterThan(0);
    relay = await startNode(redis.url, relayEnv);
    const restarted = await cost(relay);
    expect(restarted.since).toBe(before.since);
    expect(region(restarted, 'asia').webrtc).toBeGreaterThanOrEqual(region(stopped, 'asia').webrtc);
    expect(region(restarted, 'asia').hls).toBeGreaterThanOrEqual(region(stopped, 'asia').hls);
    expect(restarted.total.usd).toBeGreaterThanOrEqual(stopped.total.usd);
    console.log(
      `cost after the relay's restart: total $${restarted.total.usd.toFixed(6)} (CDN $${restarted.total.cdnUsd.toFixed(6)}), asia ${JSON.stringify(region(restarted, 'asia'))}`,
    );
  });
});

/** The real `matchmesh` CLI as its own process; resolves to its stdout, fails on a non-zero exit. */
function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'apps/cli/bin/matchmesh.js'), ...args], {
      env: { ...process.env, MM_TOKEN_SECRET: tokenSecret() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b;
    });
    child.stderr.on('data', (b: Buffer) => {
      err += b;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`matchmesh ${args.join(' ')}: exit ${code}: ${err}`)),
    );
  });
}
