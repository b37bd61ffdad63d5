// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiveMatch, startLiveMatch } from '../src/match.ts';
import { token } from '../src/node.ts';
import { type PrometheusServer, startPrometheus } from '../src/prometheus.ts';

/**
 * Ops read the mesh through Prometheus: a real Prometheus (Debian's package)
 * scrapes a running node with a metrics-role token, and PromQL through its HTTP
 * API returns the viewers this test put on the stream — and follows them.
 */
describe('a real Prometheus scrapes the node', () => {
  const stream = 'prom';
  let match: LiveMatch;
  let prometheus: PrometheusServer;
  const extra: Page[] = [];

  beforeAll(async () => {
    match = await startLiveMatch(stream, { nodeEnv: { MM_NODE_ID: 'prom-1' } });
    // The scrape token has the metrics role (what infra/ mints for Prometheus): /metrics and nothing else.
    prometheus = await startPrometheus([new URL(match.node.url).host], await token('metrics', '*'));
  }, 120_000);

  afterAll(async () => {
    await prometheus?.stop();
    await match?.stop();
  });

  const viewers = async (): Promise<number | undefined> =>
    (await prometheus.query(`sum(mm_viewers{stream="${stream}", instance="${new URL(match.node.url).host}"})`))[0]
      ?.value;

  it('PromQL returns the viewer count the test created, and follows it', async () => {
    // The scrape itself works (the token is accepted): the target is up.
    await expect
      .poll(async () => (await prometheus.query('up{job="matchmesh"}'))[0]?.value, { timeout: 15_000, interval: 250 })
      .toBe(1);
    // The live match has one viewer playing; two more join.
    for (let i = 0; i < 2; i++) {
      const page = await match.browser.newPage();
      await page.goto(`${match.node.url}/watch?stream=${stream}&token=${await token('viewer', stream)}`);
      await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 10, undefined, { timeout: 30_000 });
      extra.push(page);
    }
    await expect.poll(viewers, { timeout: 15_000, interval: 250 }).toBe(3);
    // One leaves: Prometheus sees 2.
    await extra.pop()!.close();
    await expect.poll(viewers, { timeout: 15_000, interval: 250 }).toBe(2);
    console.log(`prometheus ${prometheus.url}: sum(mm_viewers{stream="${stream}"}) = ${await viewers()}`);
  });
});
