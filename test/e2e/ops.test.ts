// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import type { NodeRecord } from '@matchmesh/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiveMatch, startLiveMatch } from '../src/match.ts';
import { scrapeMetrics } from '../src/metrics.ts';
import { type TestNode, token } from '../src/node.ts';

/**
 * What ops see: the /ops page lists the node with its live load and egress
 * cost and the stream with its viewers, and drains a node; the node record
 * and Prometheus carry the same egress figures.
 */
describe('ops page and egress figures', () => {
  const stream = 'ops';
  let match: LiveMatch;
  let node: TestNode;
  let browser: Browser;
  let ops: Page;

  beforeAll(async () => {
    match = await startLiveMatch(stream, { nodeEnv: { MM_NODE_ID: 'ops-1', MM_EGRESS_USD_PER_GB: '0.08' } });
    ({ node, browser } = match);
  });

  afterAll(async () => {
    await match?.stop();
  });

  it('shows nodes, streams, viewers and egress cost, and drains a node', async () => {
    ops = await browser.newPage();
    await ops.goto(`${node.url}/ops?token=${await token('admin', '*')}`);
    const row = ops.locator('[data-testid="ops-nodes"] [data-node="ops-1"]');
    await row.waitFor();
    // The viewer counts once the next heartbeat carries it.
    await ops
      .locator('[data-testid="ops-streams"] tr[data-stream="ops"][data-viewers="1"]')
      .waitFor({ timeout: 10_000 });

    // Egress: the viewer's bytes are measured and priced in the node record.
    // The record is the last heartbeat's snapshot, so poll until a heartbeat
    // has carried at least 100 kB of the viewer's media.
    const admin = await token('admin', '*');
    const readSelf = async (): Promise<NodeRecord> => {
      const res = await fetch(`${node.url}/api/v1/nodes`, { headers: { Authorization: `Bearer ${admin}` } });
      return ((await res.json()) as { nodes: NodeRecord[] }).nodes.find((n) => n.id === 'ops-1')!;
    };
    let self = await readSelf();
    await expect
      .poll(
        async () => {
          self = await readSelf();
          return self.load.egressBytes;
        },
        { timeout: 15_000, interval: 250 },
      )
      .toBeGreaterThan(100_000);
    expect(self.load.egressCostUsd).toBeCloseTo((self.load.egressBytes / 1e9) * 0.08, 6);
    expect(self.load.bitrateOut).toBeGreaterThan(100_000);
    const metrics = await scrapeMetrics(node.url);
    expect(metrics.get('mm_egress_bytes{kind="viewers"}')).toBeGreaterThan(100_000);
    console.log(
      `ops: egress ${self.load.egressBytes} B ($${self.load.egressCostUsd.toFixed(6)}), out ${(self.load.bitrateOut / 1e6).toFixed(2)} Mbit/s`,
    );

    // The only relay of its region: the page asks before it forces the drain (409 without force).
    const asked = new Promise<string>((resolve) =>
      ops.once('dialog', (dialog) => {
        resolve(dialog.message());
        void dialog.accept();
      }),
    );
    await row.getByRole('button', { name: 'Drain' }).click();
    expect(await asked).toMatch(/last relay serving region/);
    await ops
      .locator('[data-testid="ops-nodes"] [data-node="ops-1"][data-draining="yes"]')
      .waitFor({ timeout: 10_000 });
    await row.getByRole('button', { name: 'Undrain' }).click();
    await ops.locator('[data-testid="ops-nodes"] [data-node="ops-1"][data-draining="no"]').waitFor({ timeout: 10_000 });
  });

  it("reads the API: the OpenAPI reference page renders the node's routes in Chromium", async () => {
    const page = await browser.newPage();
    try {
      const res = await page.goto(`${node.url}/api/v1/docs?token=${await token('admin', '*')}`);
      expect(res?.status()).toBe(200);
      // Scalar renders the inline document client-side: the title, then the operations by path.
      await page.getByText('matchmesh node', { exact: false }).first().waitFor({ timeout: 20_000 });
      // (rendered from the document; the operation list may be collapsed, so attached rather than visible)
      await page.getByText('/api/v1/nodes/{id}/drain').first().waitFor({ state: 'attached', timeout: 20_000 });
      expect(await page.getByText('/whip/{stream}').count()).toBeGreaterThan(0);
    } finally {
      await page.close();
    }
  });

  it('says why when the token is not an admin token', async () => {
    const page = await browser.newPage();
    await page.goto(`${node.url}/ops?token=${await token('viewer', stream)}`);
    await page.getByTestId('ops-error').waitFor();
    expect(await page.getByTestId('ops-error').textContent()).toMatch(/^403/);
  });
});
