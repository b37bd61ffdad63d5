// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { type PipeSummary, type SigningKey, signToken } from '@matchmesh/protocol';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startLinkedRegions } from '../src/linked-regions.ts';
import { type TestNode, token, tokenSecret } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import type { PipeLink } from '../src/pipe-link.ts';
import { type ManagedProcess, REPO_ROOT } from '../src/processes.ts';
import { waitForMoreFrames } from '../src/viewer.ts';

/*
 * Issue 17 item 5: signing keys with kid and rotation, on two real nodes in
 * two regions sharing a real Redis, driven by the real `matchmesh` CLI
 * (a process; --json parsed, exit codes checked). Ops rotate on the ingest:
 * a token of the old key and one of the new key are accepted on both nodes
 * (the relay's ring reloaded when told); the signing key cannot be retired
 * (409); the old key is retired and its tokens refused on both. Then the
 * nodes' own tokens: UDP between the regions is blocked, so the relay pulls
 * the region copy through the ingest's TCP tunnel, whose `node` token the
 * relay signs with the new key — the Asian viewer (with a new-key token)
 * plays although the bootstrap key is retired.
 */
const exec = promisify(execFile);
const CLI = path.join(REPO_ROOT, 'apps/cli/bin/matchmesh.js');

/** Run `matchmesh <args>` as ops would; exit code and output. */
async function matchmesh(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], {
      env: { ...process.env, MM_TOKEN_SECRET: tokenSecret(), MM_TOKEN_KID: '', MM_ADMIN_TOKEN: '', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function status(url: string, bearer?: string): Promise<number> {
  const res = await fetch(url, { headers: bearer ? { Authorization: `Bearer ${bearer}` } : {} });
  await res.arrayBuffer();
  return res.status;
}

describe('signing keys: rotation across nodes, retirement, and node-to-node tokens', () => {
  const stream = 'keys';
  let redis: RedisServer;
  let ingest: TestNode;
  let asia: TestNode;
  let link: PipeLink<'asia' | 'ingest'>;
  let origin: ManagedProcess | undefined;
  let browser: Browser | undefined;
  let fresh: SigningKey;

  beforeAll(async () => {
    redis = await startRedisServer();
    ({ ingest, asia, link } = await startLinkedRegions(redis.url, {
      ids: { ingest: 'ingest-keys', asia: 'asia-keys' },
      aliases: { ingest: '127.0.0.6', asia: '127.0.0.7' },
    }));
    link.shape('asia', { lossPct: 100 });
    link.shape('ingest', { lossPct: 100 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const n of [asia, ingest]) await n?.stop();
    await link?.close();
    await redis?.stop();
  });

  it('rotate: old and new tokens accepted on both nodes; the signing key cannot be retired; retiring the old key refuses its tokens on both', async () => {
    const nodes = [ingest, asia];
    const old = await token('admin', '*');
    const before = await matchmesh(['keys', 'list', '--url', ingest.url, '--json']);
    expect(before.code).toBe(0);
    expect(JSON.parse(before.stdout).keys).toMatchObject([{ kid: 'k0', state: 'signing' }]);

    const rotated = await matchmesh(['keys', 'rotate', '--url', ingest.url, '--json']);
    expect(rotated.code).toBe(0);
    const answer = JSON.parse(rotated.stdout);
    expect(answer.key).toMatchObject({ kid: 'k1', state: 'signing' });
    // Both nodes reloaded their ring before the answer.
    expect(answer.nodesReloaded).toBe(2);
    fresh = { kid: answer.key.kid, secret: answer.secret };
    const young = await signToken(fresh, { role: 'admin', stream: '*', ttl: '1h' });
    const metrics = await signToken(fresh, { role: 'metrics', stream: '*', ttl: '1h' });
    for (const n of nodes) {
      expect(await status(`${n.url}/api/v1/nodes`, old), `old token on ${n.nodeId}`).toBe(200);
      expect(await status(`${n.url}/api/v1/nodes`, young), `new token on ${n.nodeId}`).toBe(200);
      expect(await status(`${n.url}/metrics`, metrics), `new metrics token on ${n.nodeId}`).toBe(200);
      expect(await status(`${n.url}/api/v1/keys`), `no token on ${n.nodeId}`).toBe(401);
      expect(await status(`${n.url}/api/v1/keys`, metrics), `metrics token on ${n.nodeId}`).toBe(403);
    }
    // The relay lists the same ring (from Redis), and never a secret.
    const listed = await matchmesh(['keys', 'list', '--url', asia.url, '--json']);
    expect(JSON.parse(listed.stdout).keys.map((k: { kid: string; state: string }) => `${k.kid}:${k.state}`)).toEqual([
      'k0:verify',
      'k1:signing',
    ]);
    expect(listed.stdout).not.toContain(fresh.secret);

    const signing = await matchmesh(['keys', 'retire', 'k1', '--url', asia.url]);
    expect(signing.code).toBe(1);
    expect(signing.stderr).toContain('409 Conflict');
    const unknown = await matchmesh(['keys', 'retire', 'k9', '--url', asia.url]);
    expect(unknown.code).toBe(4); // the CLI's exit code for 404 (not found)
    expect(unknown.stderr).toContain('404 Not Found');
    expect((await matchmesh(['keys', 'retire', '../k0', '--url', asia.url])).code).toBe(2);

    // Retire the bootstrap key from the relay, as an operator holding the new key.
    const newKeyEnv = { MM_TOKEN_KID: fresh.kid, MM_TOKEN_SECRET: fresh.secret };
    const retired = await matchmesh(['keys', 'retire', 'k0', '--url', asia.url, '--json'], newKeyEnv);
    expect(retired.code).toBe(0);
    expect(JSON.parse(retired.stdout)).toMatchObject({ key: { kid: 'k0', state: 'retired' }, nodesReloaded: 2 });
    for (const n of nodes) {
      expect(await status(`${n.url}/api/v1/nodes`, old), `retired key's token on ${n.nodeId}`).toBe(401);
      expect(await status(`${n.url}/api/v1/nodes`, young), `new token on ${n.nodeId}`).toBe(200);
    }
    // The CLI without the new key is refused too: exit 3 (unauthorized), the reason on one line.
    const stale = await matchmesh(['nodes', '--url', ingest.url]);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain('401 Unauthorized: token signing key "k0" is unknown or retired');
    console.log(`keys: ${(await matchmesh(['keys', 'list', '--url', ingest.url], newKeyEnv)).stdout.trim()}`);
  });

  it("after the bootstrap key is retired, the relay's own token opens the TCP pipe and a new-key viewer plays", async () => {
    expect(fresh, 'the rotation test ran first').toBeDefined();
    origin = await startOrigin(ingest.url, stream, {
      MM_PUBLISH_TOKEN: await signToken(fresh, { role: 'publisher', stream, ttl: '1h' }),
    });
    browser = await launchChromium();
    const page = await browser.newPage();
    try {
      const viewer = await signToken(fresh, { role: 'viewer', stream, ttl: '1h' });
      await page.goto(`${asia.url}/watch?stream=${stream}&token=${viewer}&node=${asia.url}`);
      await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 40_000 });
      await waitForMoreFrames(page, 30);
      const res = await fetch(`${asia.url}/api/v1/pipes`, {
        headers: { Authorization: `Bearer ${await signToken(fresh, { role: 'admin', stream: '*' })}` },
      });
      const inbound = ((await res.json()) as { pipes: PipeSummary[] }).pipes.find(
        (p) => p.direction === 'in' && p.stream === stream,
      );
      console.log(`keys: the relay's region copy after k0 was retired: ${JSON.stringify(inbound)}`);
      expect(link.stats('asia').passed + link.stats('ingest').passed).toBe(0);
      expect(inbound?.path).toBe('tcp');
      expect(inbound?.link?.packets).toBeGreaterThan(100);
    } finally {
      await page.close();
    }
  });
});
