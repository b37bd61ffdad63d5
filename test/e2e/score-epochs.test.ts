// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { ScoreUpdate } from '@matchmesh/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { isContiguous, scoreSeqs } from '../src/viewer.ts';

type Position = { epoch: number; seq: number };
type Latest = { position: Position; update: ScoreUpdate | null };

/**
 * Scores that survive a new origin host (issue 19 item 3): updates are keyed
 * by (epoch, seq). An origin agent that starts without its journal picks a
 * new epoch, learns from the ingest where the stream's scores stand and
 * continues after them; an older epoch is refused. A publisher that is not
 * the agent feeds scores over HTTP through the same gate.
 */
describe('score epochs', () => {
  let redis: RedisServer;
  let ingest: TestNode;
  let relay: TestNode;
  let browser: Browser;
  const origins: ManagedProcess[] = [];

  const watch = async (stream: string): Promise<Page> => {
    const page = await browser.newPage();
    await page.goto(
      `${relay.url}/watch?stream=${stream}&node=${encodeURIComponent(relay.url)}&token=${await token('viewer', stream)}`,
    );
    return page;
  };
  const waitForSeq = (page: Page, seq: number, timeout = 20_000) =>
    page.waitForFunction((s) => (window.__mm?.scores ?? []).some((u) => u.seq >= s), seq, { timeout });
  const latest = async (stream: string): Promise<Latest> => {
    const res = await fetch(`${ingest.url}/api/v1/streams/${stream}/scores/latest`, {
      headers: { Authorization: `Bearer ${await token('publisher', stream)}` },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Latest;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, { MM_NODE_ID: 'ingest-e', MM_ROLES: 'ingest', MM_REGION: 'eu' });
    relay = await startNode(redis.url, { MM_NODE_ID: 'relay-e', MM_ROLES: 'relay', MM_REGION: 'asia' });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    for (const o of origins) await o.stop();
    for (const n of [relay, ingest]) await n?.stop();
    await redis?.stop();
  });

  it('an origin agent restarted on a new host (no journal) continues the sequence; a late joiner sees the current score', async () => {
    const stream = 'epochs';
    const first = await startOrigin(ingest.url, stream, { MM_SCORE_INTERVAL_MS: '250' });
    origins.push(first);
    const viewer = await watch(stream);
    await waitForSeq(viewer, 6);
    // The host is lost: no clean shutdown, and its journal stays behind on the dead disk.
    await first.kill();
    const before = await latest(stream);
    expect(before.position.seq).toBeGreaterThanOrEqual(6);

    const second = await startOrigin(ingest.url, stream, { MM_SCORE_INTERVAL_MS: '250' });
    origins.push(second);
    await waitForSeq(viewer, before.position.seq + 6);
    const after = await latest(stream);
    console.log(
      `score epochs: first agent epoch ${before.position.epoch} ended at seq ${before.position.seq}; ` +
        `the new one (epoch ${after.position.epoch}) is at seq ${after.position.seq}`,
    );
    expect(after.position.epoch).toBeGreaterThan(before.position.epoch);
    // The viewer saw every update once, in order, across the change of host.
    const seqs = await scoreSeqs(viewer);
    expect(seqs.at(-1)).toBeGreaterThanOrEqual(before.position.seq + 6);
    expect(isContiguous(seqs), `seqs ${seqs.join(',')}`).toBe(true);
    await viewer.close();

    // A late joiner starts from the current score, not from the first agent's history.
    const now = await latest(stream);
    const late = await watch(stream);
    await waitForSeq(late, now.position.seq);
    const lateSeqs = await scoreSeqs(late);
    expect(lateSeqs[0]).toBeGreaterThanOrEqual(now.position.seq);
    expect(isContiguous(lateSeqs)).toBe(true);
    await late.close();

    const program = (await (
      await fetch(`${ingest.url}/api/v1/streams/${stream}/program`, {
        headers: { Authorization: `Bearer ${await token('admin', '*')}` },
      })
    ).json()) as { scores: { refused: number; epoch: number } };
    expect(program.scores).toMatchObject({ refused: 0, epoch: after.position.epoch });
  });

  it('scores over HTTP from a publisher that is not the agent: idempotent by (epoch, seq), older epochs refused', async () => {
    const stream = 'feed';
    // The agent publishes the picture only; the venue's scoring system feeds the scores over HTTP.
    origins.push(await startOrigin(ingest.url, stream, { MM_SCORE_INTERVAL_MS: '0' }));
    const publisher = await token('publisher', stream);
    const post = (body: unknown, auth = publisher, node = ingest) =>
      fetch(`${node.url}/api/v1/streams/${stream}/scores`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${auth}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    const score = (points: number) => ({
      players: [
        { name: 'Ko', frames: 1, points },
        { name: 'Filler', frames: 0, points: 0 },
      ],
      raceTo: 9,
      frame: 2,
      atTable: 0,
    });
    // Once a viewer decodes the picture, the ingest holds the stream: where do its scores stand?
    const viewer = await watch(stream);
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 10, undefined, { timeout: 20_000 });
    expect((await latest(stream)).position).toEqual({ epoch: 0, seq: 0 });

    const epoch = Date.now();
    const first = await post({ epoch, seq: 1, score: score(10) });
    expect(first.status).toBe(201);
    const accepted = (await first.json()) as { duplicate: boolean; update: ScoreUpdate };
    expect(accepted.duplicate).toBe(false);
    // Stamped by the ingest with the media time of the picture it forwards (none was given).
    expect(accepted.update.mediaTime).toBeGreaterThan(0);
    await waitForSeq(viewer, 1);

    // A retry of the same POST: the same answer, nothing new for viewers.
    const retry = await post({ epoch, seq: 1, score: score(10) });
    expect(retry.status).toBe(200);
    expect(((await retry.json()) as { duplicate: boolean }).duplicate).toBe(true);
    expect((await post({ epoch, seq: 2, mediaTime: 5_000, score: score(11) })).status).toBe(201);

    // A second feeder that did not read the position reuses a seq: 409, told where to continue.
    const taken = await post({ epoch: epoch + 1, seq: 2, score: score(99) });
    expect(taken.status).toBe(409);
    expect(taken.headers.get('content-type')).toContain('application/problem+json');
    expect(((await taken.json()) as { detail: string }).detail).toMatch(/continue at seq 3/);
    // It continues properly, and from then on the first feeder's epoch is the older one.
    expect((await post({ epoch: epoch + 1, seq: 3, score: score(12) })).status).toBe(201);
    const stale = await post({ epoch, seq: 4, score: score(50) });
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as { detail: string }).detail).toMatch(/older than the stream's epoch/);

    // Bad input: the wrong role, no token, a malformed body, an oversized one, a node that does not ingest it.
    expect((await post({ epoch, seq: 5, score: score(1) }, await token('viewer', stream))).status).toBe(403);
    expect((await post({ epoch, seq: 5, score: score(1) }, '')).status).toBe(401);
    expect((await post({ epoch: epoch + 1, seq: 0, score: score(1) })).status).toBe(400);
    const huge = await post({ epoch: epoch + 1, seq: 4, score: { ...score(1), event: 'x'.repeat(20_000) } });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('content-type')).toContain('application/problem+json');
    expect((await post({ epoch: epoch + 1, seq: 4, score: score(13) }, publisher, relay)).status).toBe(404);

    // Viewers got exactly the accepted updates, in order, with the values posted.
    await waitForSeq(viewer, 3);
    const received = await viewer.evaluate(() =>
      (window.__mm?.scores ?? []).map((u) => [u.seq, (u as unknown as ScoreUpdate).score.players[0].points] as const),
    );
    expect(received).toEqual([
      [1, 10],
      [2, 11],
      [3, 12],
    ]);
    await viewer.close();
  });
});
