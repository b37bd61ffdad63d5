// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { LogsResponse, ReportDetail, ReportsResponse } from '@matchmesh/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiveMatch, startLiveMatch } from '../src/match.ts';
import { startNode, token, tokenSecret } from '../src/node.ts';
import { REPO_ROOT } from '../src/processes.ts';

const run = promisify(execFile);

/** The built `matchmesh` CLI against the running node, as ops would type it. */
async function matchmesh(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(REPO_ROOT, 'apps/cli/bin/matchmesh.js'), ...args], {
    env: { ...process.env, MM_TOKEN_SECRET: tokenSecret() },
    timeout: 20_000,
  });
  return stdout;
}

/**
 * A viewer in Chromium playing over WebRTC presses "Report a problem", types,
 * sends; ops read the report with the CLI: its words, the player's figures of
 * the last minute, and the node's log lines of that viewer's session.
 */
describe('problem reports from a viewer, read by ops', () => {
  const stream = 'reports';
  let match: LiveMatch;

  beforeAll(async () => {
    match = await startLiveMatch(stream, { nodeEnv: { MM_NODE_ID: 'rep-1' } });
  });

  afterAll(async () => {
    await match?.stop();
  });

  it('the report is readable through the CLI with its figures and the session log lines', async () => {
    const { viewer, node } = match;
    // A few seconds of samples first: the recorder takes one a second from the player's start.
    const framesAtStart = await viewer.evaluate(() => window.__mm!.framesDecoded());
    await viewer.waitForFunction((n) => (window.__mm?.framesDecoded() ?? 0) >= n + 120, framesAtStart, {
      timeout: 15_000,
    });

    await viewer.getByTestId('report-open').click();
    await viewer.getByTestId('report-text').fill('The picture stuttered when the goal was scored');
    await viewer.getByTestId('report-send').click();
    const status = viewer.getByTestId('report-status');
    await status.waitFor({ timeout: 10_000 });
    const id = await status.getAttribute('data-report-id');
    expect(id, (await status.textContent()) ?? '').toBeTruthy();
    console.log(`reports: viewer page says "${await status.textContent()}"`);

    const listed = ReportsResponse.parse(JSON.parse(await matchmesh(['reports', '--json', '--url', node.url])));
    const summary = listed.reports.find((r) => r.id === id);
    expect(summary).toMatchObject({
      stream,
      nodeId: 'rep-1',
      region: 'local',
      path: 'webrtc',
      text: 'The picture stuttered when the goal was scored',
    });

    const raw = JSON.parse(await matchmesh(['report', id!, '--json', '--logs', '--url', node.url])) as {
      logLines: unknown;
    };
    const report = ReportDetail.parse(raw);
    expect(report.figures.samples.length).toBeLessThanOrEqual(61);
    // From the first decoded frame on (on a loaded machine a first sample may fall before the join's answer).
    const samples = report.figures.samples.slice(report.figures.samples.findIndex((s) => s.framesDecoded > 0));
    expect(samples.length).toBeGreaterThanOrEqual(3);
    for (const s of samples) expect(s).toMatchObject({ path: 'webrtc', nodeId: 'rep-1', region: 'local' });
    const frames = samples.map((s) => s.framesDecoded);
    expect(frames[0]).toBeGreaterThan(0);
    for (let i = 1; i < frames.length; i++) expect(frames[i]).toBeGreaterThanOrEqual(frames[i - 1]!);
    expect(frames.at(-1)!).toBeGreaterThan(frames[0]!);
    expect(samples.at(-1)!.rttMs).not.toBeNull();
    const tail = samples.slice(-3).map((s) => ({ at: s.at, kbps: s.kbps, frames: s.framesDecoded }));
    expect(samples.at(-1)!.kbps, `the last samples: ${JSON.stringify(tail)}`).toBeGreaterThan(50);
    expect(report.figures.browser).toMatch(/^Chrome \d+$/);
    expect(report.figures.os).toBe('Linux');
    expect(report.logs.url).toBe(`${node.url}/api/v1/logs?session=${encodeURIComponent(report.sessionId)}`);

    // The player's session id reached the node at join: the node's lines of that session tell its story.
    const lines = LogsResponse.shape.lines.parse(raw.logLines);
    const messages = lines.map((l) => l.msg);
    for (const msg of ['peer joined', 'transport created', 'consuming', 'problem report stored']) {
      expect(messages).toContain(msg);
    }
    expect(lines.every((l) => l.session === report.sessionId)).toBe(true);
    expect(JSON.stringify(lines)).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // no token in the logs

    // What ops read in a terminal.
    const text = await matchmesh(['report', id!, '--url', node.url]);
    expect(text).toContain('"The picture stuttered when the goal was scored"');
    expect(text).toMatch(/\+\d+s\s+webrtc\s+rep-1/);
    console.log(`reports: matchmesh report ${id}\n${text}`);
    console.log(
      `reports: ${samples.length} samples, frames ${frames[0]} → ${frames.at(-1)}, rtt ${samples.at(-1)!.rttMs} ms, ${lines.length} log lines of session ${report.sessionId}`,
    );
  });

  it('/ops lists the report and opens it: figures and the session log lines', async () => {
    const { browser, node } = match;
    const ops = await browser.newPage();
    try {
      await ops.goto(`${node.url}/ops?token=${await token('admin', '*')}`);
      const entry = ops.locator('[data-testid="ops-reports"] li').first();
      await entry.waitFor({ timeout: 10_000 });
      expect(await entry.textContent()).toContain('The picture stuttered when the goal was scored');
      await entry.getByRole('button').click();
      const detail = ops.getByTestId('ops-report');
      await detail.locator('tbody tr').first().waitFor({ timeout: 10_000 });
      expect(await detail.locator('tbody tr').count()).toBeGreaterThanOrEqual(3);
      const logs = ops.getByTestId('ops-report-logs');
      await logs.waitFor({ timeout: 10_000 });
      expect(await logs.textContent()).toContain('peer joined');
    } finally {
      await ops.close();
    }
  });

  it("a viewer on another region's relay: the report links to that relay's lines, the region copy it pulled among them", async () => {
    const { browser, node, redis } = match;
    const relay = await startNode(redis.url, { MM_NODE_ID: 'rep-asia', MM_ROLES: 'relay', MM_REGION: 'asia' });
    const page = await browser.newPage();
    try {
      // Served by the ingest's page, playing from the relay (pinned): the report goes to the page's node.
      await page.goto(
        `${node.url}/watch?stream=${stream}&node=${encodeURIComponent(relay.url)}&token=${await token('viewer', stream)}`,
      );
      await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 90, undefined, { timeout: 30_000 });
      await page.getByTestId('report-open').click();
      await page.getByTestId('report-text').fill('Asia: sound fine, picture blocky');
      await page.getByTestId('report-send').click();
      const status = page.getByTestId('report-status');
      await status.waitFor({ timeout: 10_000 });
      const id = await status.getAttribute('data-report-id');
      expect(id, (await status.textContent()) ?? '').toBeTruthy();

      const raw = JSON.parse(await matchmesh(['report', id!, '--json', '--logs', '--url', node.url])) as {
        logLines: unknown;
      };
      const report = ReportDetail.parse(raw);
      expect(report).toMatchObject({ nodeId: 'rep-asia', region: 'asia', path: 'webrtc' });
      expect(report.logs.url).toBe(`${relay.url}/api/v1/logs?session=${encodeURIComponent(report.sessionId)}`);
      const lines = LogsResponse.shape.lines.parse(raw.logLines);
      expect(lines.every((l) => l.session === report.sessionId && l.node === 'rep-asia')).toBe(true);
      const messages = lines.map((l) => l.msg);
      expect(messages).toContain('region copy brought through the mesh for this session');
      expect(messages).toContain('peer joined');
      console.log(`reports: relay session lines: ${messages.join(' · ')}`);
    } finally {
      await page.close();
      await relay.stop();
    }
  });

  it('the real node answers a report without a token 401 and a malformed one 400, as problems', async () => {
    const { node } = match;
    const anonymous = await fetch(`${node.url}/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toContain('application/problem+json');
    const malformed = await fetch(`${node.url}/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token('viewer', stream)}` },
      body: JSON.stringify({ stream, text: 'no figures' }),
    });
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toContain('application/problem+json');
  });
});
