// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { PipeSummary } from '@matchmesh/protocol';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startLinkedRegions } from '../src/linked-regions.ts';
import { type TestNode, token } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import type { PipeLink } from '../src/pipe-link.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { waitForMoreFrames } from '../src/viewer.ts';

/*
 * Issue 15: a firewall between the regions drops UDP. The Asian relay's
 * first pipe from the ingest (UDP, set up over Redis, which works) carries
 * nothing; after 3 s the relay marks the path blocked and pulls again through
 * the TCP tunnel (a WebSocket to the ingest's HTTP port, one datagram per
 * message); the Asian viewer plays. Every UDP datagram between the nodes'
 * pipe ports goes through test/src/pipe-link.ts, which drops them all.
 */
describe('a pipe over TCP when UDP between the regions is blocked', () => {
  const stream = 'tcp-pipe';
  let redis: RedisServer;
  let ingest: TestNode;
  let asia: TestNode;
  let link: PipeLink<'asia' | 'ingest'>;
  let origin: ManagedProcess;
  let browser: Browser;

  beforeAll(async () => {
    redis = await startRedisServer();
    ({ ingest, asia, link } = await startLinkedRegions(redis.url, {
      ids: { ingest: 'ingest-tcp', asia: 'asia-tcp' },
      aliases: { ingest: '127.0.0.6', asia: '127.0.0.7' },
    }));
    // UDP blocked both ways between the nodes' pipes.
    link.shape('asia', { lossPct: 100 });
    link.shape('ingest', { lossPct: 100 });
    origin = await startOrigin(ingest.url, stream);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const n of [asia, ingest]) await n?.stop();
    await link?.close();
    await redis?.stop();
  });

  it('the region copy comes over TCP and the Asian viewer plays', async () => {
    const page = await browser.newPage();
    try {
      const t0 = Date.now();
      await page.goto(`${asia.url}/watch?stream=${stream}&token=${await token('viewer', stream)}&node=${asia.url}`);
      await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 40_000 });
      const playingMs = Date.now() - t0;
      await waitForMoreFrames(page, 60);
      const res = await fetch(`${asia.url}/api/v1/pipes`, {
        headers: { Authorization: `Bearer ${await token('admin', '*')}` },
      });
      const pipes = ((await res.json()) as { pipes: PipeSummary[] }).pipes;
      const inbound = pipes.find((p) => p.direction === 'in' && p.stream === stream);
      const udp = { asia: link.stats('asia'), ingest: link.stats('ingest') };
      console.log(
        `pipe over TCP: viewer playing ${playingMs} ms after it opened the page; the pipe ${JSON.stringify(inbound)}; ` +
          `UDP at the firewall: ${udp.asia.lost} dropped towards asia, ${udp.ingest.lost} towards the ingest, ` +
          `${udp.asia.passed + udp.ingest.passed} passed`,
      );
      // The first pipe tried UDP and the firewall dropped it; nothing got through that way.
      expect(udp.asia.lost).toBeGreaterThan(0);
      expect(udp.asia.passed + udp.ingest.passed).toBe(0);
      // The copy in use came through the tunnel, carrying the program.
      expect(inbound?.path).toBe('tcp');
      expect(inbound?.link?.packets).toBeGreaterThan(100);
      const left = (await page.evaluate(() => window.__mm!.stateLog)).map((e) => `${e.state}/${e.path}`);
      expect(left.filter((s) => s.endsWith('/hls'))).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
