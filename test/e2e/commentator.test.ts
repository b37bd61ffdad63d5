// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { type LiveMatch, startLiveMatch } from '../src/match.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { TestSignaling } from '../src/signaling.ts';
import { waitForMoreFrames } from '../src/viewer.ts';

type AudioBySource = Record<string, number>;

const audioBySource = (page: Page): Promise<AudioBySource> =>
  page.evaluate(async () => {
    const stats = (await window.__mm?.stats()) as unknown as { audioPacketsBySource: AudioBySource } | undefined;
    if (!stats) throw new Error('the player has no stats yet');
    return stats.audioPacketsBySource;
  });

/**
 * Wait until the page's audio packets per source are above every `above`
 * figure, or, with `gone`, until that source has no track at all.
 */
const waitForAudio = (page: Page, want: { above?: AudioBySource; gone?: string }, timeout = 10_000): Promise<void> =>
  // expect.poll, not page.waitForFunction: Playwright takes an async predicate's promise itself as truthy.
  expect
    .poll(
      async () => {
        const s = await audioBySource(page);
        if (want.gone !== undefined) return s[want.gone] === undefined;
        return Object.entries(want.above ?? {}).every(([source, n]) => (s[source] ?? 0) > n);
      },
      { timeout, interval: 250 },
    )
    .toBe(true);

/**
 * A commentator opens the booth on the ingest node, watches the match and
 * talks (Chromium's fake microphone); the voice reaches a viewer as a
 * commentary audio track beside the match sound, and leaves cleanly.
 */
describe('commentator booth', () => {
  const stream = 'booth';
  let match: LiveMatch;
  let node: TestNode;
  let browser: Browser;
  let viewer: Page;

  beforeAll(async () => {
    // Off air is off at once: a language's track lingers 0 ms after its last commentator (default 30 s).
    match = await startLiveMatch(stream, { nodeEnv: { MM_COMMENTARY_LINGER_MS: '0' } });
    ({ node, browser, viewer } = match);
  });

  afterAll(async () => {
    await match?.stop();
  });

  /** A commentator goes on air (each test brings its own: none uses what another left behind). */
  const goOnAir = async (): Promise<Page> => {
    const booth = await browser.newPage();
    await booth.goto(`${node.url}/commentate?stream=${stream}&token=${await token('commentator', stream)}&autostart=1`);
    await booth.waitForFunction(() => window.__mmBooth?.state === 'live', undefined, { timeout: 20_000 });
    // The booth watches the match too.
    await booth.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 20_000 });
    // The viewer picks the new producer up (newProducers) and receives the voice.
    await waitForAudio(viewer, { above: { commentary: 50 } }, 20_000);
    return booth;
  };
  /** Off air, and the viewer's commentary track gone: the state every test starts from. */
  const leave = async (booth: Page): Promise<void> => {
    await booth.getByTestId('on-air').click();
    await waitForAudio(viewer, { gone: 'commentary' });
    await booth.close();
  };

  it("puts the commentator's voice on air for viewers, beside the match sound", async () => {
    const booth = await goOnAir();
    const first = await audioBySource(viewer);
    await waitForAudio(viewer, { above: { commentary: first.commentary! + 25, program: first.program! + 25 } });
    console.log(`commentary: viewer audio packets by source ${JSON.stringify(await audioBySource(viewer))}`);
    await leave(booth);
  });

  it('takes the voice off air when the commentator leaves; the match plays on', async () => {
    const booth = await goOnAir();
    await booth.getByTestId('on-air').click();
    await waitForAudio(viewer, { gone: 'commentary' });
    expect(await waitForMoreFrames(viewer, 30)).toBeGreaterThan(0);
    await booth.close();
  });

  it('refuses to send media for a viewer token or a viewer peer', async () => {
    const s = await TestSignaling.connect(node.url);
    const asCommentator = await s.request('join', {
      stream,
      token: await token('viewer', stream),
      role: 'commentator',
    });
    expect(asCommentator.ok ? 'ok' : asCommentator.error.code).toBe('forbidden');
    const asViewer = await s.request('join', { stream, token: await token('viewer', stream) });
    expect(asViewer.ok).toBe(true);
    const send = await s.request('createTransport', { direction: 'send', sctp: false });
    expect(send.ok ? 'ok' : send.error.code).toBe('forbidden');
    s.close();
    expect(await waitForMoreFrames(viewer, 10)).toBeGreaterThan(0);
  });
});

/**
 * The same across the mesh: a viewer in Asia watches from a relay whose
 * region copy is already flowing when the commentator goes on air at the
 * ingest; the open pipe starts carrying the voice, and stops when it ends.
 */
describe('commentator heard across the mesh', () => {
  const stream = 'booth-mesh';
  let redis: RedisServer;
  let ingest: TestNode;
  let asia: TestNode;
  let origin: ManagedProcess;
  let browser: Browser;
  let viewer: Page;

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, {
      MM_NODE_ID: 'ingest-b',
      MM_ROLES: 'ingest',
      MM_REGION: 'eu',
      MM_COMMENTARY_LINGER_MS: '0',
    });
    origin = await startOrigin(ingest.url, stream, { MM_SCORE_INTERVAL_MS: '1000' });
    asia = await startNode(redis.url, { MM_NODE_ID: 'asia-b', MM_ROLES: 'relay', MM_REGION: 'asia' });
    browser = await launchChromium();
    viewer = await browser.newPage();
    const node = encodeURIComponent(asia.url);
    await viewer.goto(`${asia.url}/watch?stream=${stream}&node=${node}&token=${await token('viewer', stream)}`);
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    for (const n of [asia, ingest]) await n?.stop();
    await redis?.stop();
  });

  it('carries a commentator who starts after the region copy opened, and drops them when they leave', async () => {
    const booth = await browser.newPage();
    await booth.goto(
      `${ingest.url}/commentate?stream=${stream}&token=${await token('commentator', stream)}&autostart=1`,
    );
    await booth.waitForFunction(() => window.__mmBooth?.state === 'live', undefined, { timeout: 20_000 });
    await waitForAudio(viewer, { above: { commentary: 50 } }, 20_000);
    const first = await audioBySource(viewer);
    await waitForAudio(viewer, { above: { commentary: (first.commentary ?? 0) + 25 } });
    console.log(`commentary in asia: viewer audio packets by source ${JSON.stringify(await audioBySource(viewer))}`);
    // The booth's measured delay against the picture crosses the pipe: the asia viewer holds its picture back by it.
    const viewerStats = () => viewer.evaluate(() => window.__mm!.stats());
    await expect
      .poll(viewerStats, { timeout: 15_000, interval: 250 })
      .toSatisfy((s) => (s.commentaryDelayMs ?? 0) > 0 && (s.programPlayoutMs ?? 0) > (s.commentaryDelayMs ?? 0));
    const aligned = await viewerStats();
    console.log(
      `commentary in asia: ${aligned.commentaryDelayMs} ms late against the picture, program target ${aligned.programPlayoutMs} ms`,
    );
    await booth.getByTestId('on-air').click();
    await waitForAudio(viewer, { gone: 'commentary' });
    expect(await waitForMoreFrames(viewer, 30)).toBeGreaterThan(0);
  });
});
