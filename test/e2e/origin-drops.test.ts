import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { frameLog, installFrameProbe } from '../src/frame-probe.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { expectAboveFloor, freezeFloor } from '../src/noise-floor.ts';
import { startOrigin } from '../src/origin.ts';
import { peerConnectionReport, recordPeerConnections } from '../src/pc-recorder.ts';
import { type ManagedProcess, waitForMessage } from '../src/processes.ts';
import { isContiguous, scoreSeqs, waitForMoreFrames } from '../src/viewer.ts';

interface ProgramView {
  activeSource?: string;
  originReconnects: number;
  switches: number;
  lastSwitch?: { reason: string; freezeMs?: number };
}

const API_TOKEN = 'origin-api-token-for-tests';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * The origin's WHIP session dies again and again during a match (the ingest
 * drops it, as the broadcaster's old CDN did on match nights); the origin
 * agent reconnects and the new session is spliced into the stream's stable
 * producers. The Chromium viewer must never notice beyond a short freeze:
 * its peer connection and transceivers stay up, the page never reloads,
 * and the score sequence has no gap and no reorder.
 */
describe('origin drops are invisible to viewers', () => {
  const stream = 'drops';
  let redis: RedisServer;
  let node: TestNode;
  let origin: ManagedProcess;
  let originApi: string;
  let browser: Browser;
  let viewer: Page;

  const admin = async (path: string, method = 'GET'): Promise<Response> =>
    fetch(`${node.url}${path}`, { method, headers: { Authorization: `Bearer ${await token('admin', '*')}` } });
  const program = async (): Promise<ProgramView> =>
    (await (await admin(`/api/v1/streams/${stream}/program`)).json()) as ProgramView;

  beforeAll(async () => {
    redis = await startRedisServer();
    node = await startNode(redis.url);
    origin = await startOrigin(node.url, stream, {
      MM_SCORE_INTERVAL_MS: '100',
      // The ingest splices a new session in from its first key frame (ffmpeg cannot answer a PLI).
      MM_KEYFRAME_INTERVAL_MS: '500',
      ORIGIN_API_TOKEN: API_TOKEN,
    });
    originApi = (await waitForMessage<{ type: string; url: string }>(origin, 'api')).url;
    browser = await launchChromium();
    viewer = await browser.newPage();
    await recordPeerConnections(viewer);
    await viewer.goto(`${node.url}/watch?stream=${stream}&token=${await token('viewer', stream)}`);
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
    await installFrameProbe(viewer);
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    await node?.stop();
    await redis?.stop();
  });

  it('5 dropped sessions: no transport or consumer closed, no reload, each freeze ≤ 1 s, scores gapless', async () => {
    // The freeze the loaded machine alone causes, measured first: each drop's freeze is bounded above it.
    const floor = await freezeFloor(viewer, 'origin-drops');
    const firstSeq = (await scoreSeqs(viewer))[0];

    const freezes: number[] = [];
    const spliceGaps: number[] = [];
    for (let drop = 1; drop <= 5; drop++) {
      // Drops spread over the match: the agent treats a session that lived 5 s as
      // healthy and retries at once (a flapping one backs off exponentially).
      await waitForMoreFrames(viewer, 150, 20_000);
      const droppedAt = Date.now();
      const res = await admin(`/api/v1/streams/${stream}/publishers/drop`, 'POST');
      expect(((await res.json()) as { dropped: number }).dropped).toBe(1);
      await expect.poll(async () => (await program()).originReconnects, { timeout: 15_000, interval: 50 }).toBe(drop);
      await waitForMoreFrames(viewer, 45).catch(async (err) => {
        throw new Error(`no frames after drop ${drop}: ${JSON.stringify(await program())}`, { cause: err });
      });
      const log = await frameLog(viewer, droppedAt);
      const p = await program();
      freezes.push(log.maxGapMs);
      if (p.lastSwitch?.freezeMs !== undefined) spliceGaps.push(p.lastSwitch.freezeMs);
      console.log(
        `origin-drops: drop ${drop}: viewer freeze ${log.maxGapMs} ms (frames ${log.firstFrame}→${log.lastFrame}), ingest splice gap ${p.lastSwitch?.freezeMs} ms (${p.lastSwitch?.reason})`,
      );
    }
    console.log(
      `origin-drops: freeze per drop min/median/max = ${Math.min(...freezes)}/${median(freezes)}/${Math.max(...freezes)} ms`,
    );
    for (const [i, f] of freezes.entries()) expectAboveFloor(`origin-drops: drop ${i + 1} freeze`, f, floor, 1000);

    // The browser's own objects: one peer connection, connected from the start, never anything else.
    const report = await peerConnectionReport(viewer);
    expect(report.loads).toBe(1);
    // mediasoup-client probes codecs with a throw-away peer connection that never connects.
    const media = report.pcs.filter((pc) => pc.states.includes('connected'));
    expect(media).toHaveLength(1);
    expect(media[0]!.states.filter((s) => s !== 'new' && s !== 'connecting')).toEqual(['connected']);
    console.log(`origin-drops: viewer peer connections ${JSON.stringify(report)}`);
    // Every transceiver ever negotiated still receives: no consumer was closed and replaced.
    expect(media[0]!.transceivers).toBeGreaterThanOrEqual(2);
    expect(media[0]!.receiving).toBe(media[0]!.transceivers);
    expect(media[0]!.liveTracks).toBe(media[0]!.transceivers);
    expect(await viewer.evaluate(() => window.__mm!.state)).toBe('connected');

    // Scores: every update from the first the viewer saw to the agent's latest, once, in order.
    const status = (await (
      await fetch(`${originApi}/status`, { headers: { Authorization: `Bearer ${API_TOKEN}` } })
    ).json()) as { lastSeq: number; reconnects: number };
    expect(status.reconnects).toBe(5);
    await expect
      .poll(async () => (await scoreSeqs(viewer)).at(-1), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(status.lastSeq);
    const seqs = await scoreSeqs(viewer);
    expect(seqs[0]).toBe(firstSeq);
    expect(isContiguous(seqs)).toBe(true);
    const counters = await viewer.evaluate(() => window.__mm!.scoreCounters);
    expect(counters.gaps).toBe(0);
    console.log(
      `origin-drops: ${seqs.length} score updates received in order across 5 drops (seq ${seqs[0]}→${seqs.at(-1)})`,
    );

    // Visibility: the ops API and the metrics tell the story.
    const p = await program();
    expect(p.originReconnects).toBe(5);
    expect(p.lastSwitch?.reason).toBe('previous source gone');
    const metrics = await (await admin('/metrics')).text();
    const line = (name: string) =>
      metrics.split('\n').find((l) => l.startsWith(name) && l.includes(`stream="${stream}"`));
    expect(line('mm_origin_reconnects')).toMatch(/ 5$/);
    expect(line('mm_program_active_source')).toContain('role="primary"');
    expect(line('mm_program_switches')).toMatch(/ 5$/);
    expect(line('mm_program_last_switch_freeze_ms')).toBeDefined();
    console.log(`origin-drops: metrics: ${line('mm_program_last_switch_freeze_ms')}`);
  });

  it('refuses a second publisher (409), another codec (422) and another stream (403) while the first plays on', async () => {
    const offer = (codec: string, fmtp = '') =>
      'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n' +
      'a=fingerprint:sha-256 AA:BB:CC\r\na=setup:actpass\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\n' +
      `a=rtpmap:96 ${codec}/90000\r\n${fmtp}`;
    const h264 = offer('H264', 'a=fmtp:96 packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1\r\n');
    const post = async (tok: string, body: string, path = stream) =>
      fetch(`${node.url}/whip/${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${tok}` },
        body,
      });
    const before = await program();
    const cases = [
      { name: 'second publisher', res: await post(await token('publisher', stream), h264), status: 409 },
      { name: 'codec change', res: await post(await token('publisher', stream), offer('VP8')), status: 422 },
      { name: 'token for another stream', res: await post(await token('publisher', 'other'), h264), status: 403 },
    ];
    for (const c of cases) {
      expect(c.res.status, c.name).toBe(c.status);
      const problem = (await c.res.json()) as { detail: string };
      console.log(`origin-drops: ${c.name} → ${c.status}: ${problem.detail}`);
      expect(problem.detail, c.name).toBeTruthy();
      if (c.status === 422) expect(problem.detail).toMatch(/H264.*VP8/);
    }
    const after = await program();
    expect(after.activeSource).toBe(before.activeSource);
    expect(after.originReconnects).toBe(before.originReconnects);
    await waitForMoreFrames(viewer, 15);
  });

  it('1,000 score updates at 50/s through 3 drops: exactly 1,000 reach the viewer, in order', async () => {
    const scoreStream = 'scores1000';
    const journal = path.join(tmpdir(), `mm-scores-${scoreStream}-${randomUUID()}.jsonl`);
    const env = {
      MM_SCORE_INTERVAL_MS: '0',
      MM_KEYFRAME_INTERVAL_MS: '500',
      ORIGIN_API_TOKEN: API_TOKEN,
      MM_SCORE_QUEUE_FILE: journal,
    };
    const agent = await startOrigin(node.url, scoreStream, env);
    const api = (await waitForMessage<{ type: string; url: string }>(agent, 'api')).url;
    const page = await browser.newPage();
    try {
      await page.goto(`${node.url}/watch?stream=${scoreStream}&token=${await token('viewer', scoreStream)}`);
      await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 10, undefined, { timeout: 30_000 });
      // The player's state changes with the wall clock (a re-join shows here).
      await page.evaluate(() => {
        const w = window as unknown as { __trace: string[] };
        w.__trace = [];
        let last = '';
        setInterval(() => {
          const mm = window.__mm as unknown as { state: string; reason: string };
          const now = `${mm.state}|${mm.reason}`;
          if (now !== last) w.__trace.push(`${Date.now() % 100_000} ${now}`);
          last = now;
        }, 20);
      });

      const sent: number[] = [];
      const post = async (i: number): Promise<void> => {
        // The agent is briefly not there while it restarts: the scorer's console retries.
        for (;;) {
          try {
            const res = await fetch(`${api}/scores`, {
              method: 'POST',
              headers: { Authorization: `Bearer ${API_TOKEN}`, 'Content-Type': 'application/json' },
              body: JSON.stringify({ score: scoreOf(i) }),
            });
            expect(res.status).toBe(202);
            sent.push(((await res.json()) as { seq: number }).seq);
            return;
          } catch (err) {
            if ((err as Error).name === 'AssertionError') throw err;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      };
      const drops: Promise<void>[] = [];
      const dropAt = async (): Promise<void> => {
        const res = await admin(`/api/v1/streams/${scoreStream}/publishers/drop`, 'POST');
        expect(((await res.json()) as { dropped: number }).dropped).toBe(1);
      };
      const started = Date.now();
      for (let i = 1; i <= 1000; i++) {
        if (i === 200 || i === 450 || i === 700) drops.push(dropAt());
        await post(i);
        // 50 per second.
        const due = started + i * 20;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      }
      await Promise.all(drops);
      expect(sent).toHaveLength(1000);
      expect(isContiguous(sent)).toBe(true);
      const last = sent.at(-1)!;
      await expect.poll(async () => (await scoreSeqs(page)).at(-1), { timeout: 30_000, interval: 200 }).toBe(last);
      const got = (await scoreSeqs(page)).filter((s) => s >= sent[0]!);
      const status = (await (await admin(`/api/v1/streams/${scoreStream}/program`)).json()) as {
        originReconnects: number;
        scores: { received: number; forwarded: number; duplicates: number };
      };
      const hook = await page.evaluate(() => ({
        counters: window.__mm!.scoreCounters,
        state: window.__mm!.state,
        moves: (window.__mm as unknown as { moves: unknown }).moves,
      }));
      const missing = sent.filter((q) => !got.includes(q));
      console.log(
        `origin-drops: viewer states ${(await page.evaluate(() => (window as unknown as { __trace: string[] }).__trace)).join(' → ')}`,
      );
      console.log(
        `origin-drops: scores sent ${sent.length} (seq ${sent[0]}→${last}), viewer received ${got.length}; ingest: ${JSON.stringify(status.scores)}, origin reconnects ${status.originReconnects}; viewer ${JSON.stringify(hook)}${missing.length ? `; missing ${missing[0]}…${missing.at(-1)} (${missing.length})` : ''}`,
      );
      expect(got).toEqual(sent);
      // Every reconnect accounted for: one per drop, plus any the agent's own liveness watchdog made (it
      // reconnects when the ingest answers nothing for 800 ms while it sends — a CI run at load 8 on the
      // 2 cores once starved the ingest that long: 4 reconnects, every score still delivered in order).
      const watchdog = agent
        .output()
        .split('\n')
        .filter(
          (l) => l.includes('session lost; reconnecting') && l.includes('"reason":"no packets from ingest'),
        ).length;
      const reasons = agent
        .output()
        .split('\n')
        .filter((l) => l.includes('session lost; reconnecting'))
        .map((l) => /"reason":"([^"]*)"/.exec(l)?.[1] ?? '?');
      console.log(`origin-drops: the agent's reconnects and why: ${reasons.join(' | ')} (watchdog: ${watchdog})`);
      expect(status.originReconnects).toBe(3 + watchdog);
    } finally {
      await page.close();
      await agent.stop();
    }
  });

  it('an agent killed with updates not yet delivered loses none: its successor continues from the on-disk queue', async () => {
    const restartStream = 'restart';
    const journal = path.join(tmpdir(), `mm-scores-${restartStream}-${randomUUID()}.jsonl`);
    const env = { MM_SCORE_INTERVAL_MS: '0', ORIGIN_API_TOKEN: API_TOKEN, MM_SCORE_QUEUE_FILE: journal };
    const scores = async () =>
      (
        (await (await admin(`/api/v1/streams/${restartStream}/program`)).json()) as {
          scores?: { forwarded: number; duplicates: number; lastSeq: number };
        }
      ).scores;
    const postTo = async (api: string, i: number): Promise<number> => {
      const res = await fetch(`${api}/scores`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${API_TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ score: scoreOf(i) }),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { seq: number }).seq;
    };
    let agent = await startOrigin(node.url, restartStream, env);
    try {
      let api = (await waitForMessage<{ type: string; url: string }>(agent, 'api')).url;
      await expect.poll(async () => (await scores())?.forwarded ?? -1, { timeout: 30_000 }).toBe(0);
      const sent: number[] = [];
      for (let i = 1; i <= 20; i++) sent.push(await postTo(api, i));
      await expect.poll(async () => (await scores())?.lastSeq, { timeout: 10_000 }).toBe(20);
      // The ingest drops the session; while the agent reconnects, the scorer goes on; then the agent dies.
      await admin(`/api/v1/streams/${restartStream}/publishers/drop`, 'POST');
      for (let i = 21; i <= 40; i++) sent.push(await postTo(api, i));
      await agent.kill();
      const before = await scores();
      agent = await startOrigin(node.url, restartStream, env);
      api = (await waitForMessage<{ type: string; url: string }>(agent, 'api')).url;
      // The successor numbers on from the journal...
      for (let i = 41; i <= 50; i++) sent.push(await postTo(api, i));
      expect(sent).toEqual(Array.from({ length: 50 }, (_, k) => k + 1));
      // ...and every update reaches the ingest exactly once (re-sent ones are dropped as duplicates).
      await expect.poll(async () => (await scores())?.lastSeq, { timeout: 30_000 }).toBe(50);
      const after = await scores();
      console.log(
        `origin-drops: agent restart: ingest had seq ${before?.lastSeq} of 40 when the agent died; after the restart ${JSON.stringify(after)}`,
      );
      expect(after!.forwarded).toBe(50);
    } finally {
      await agent.stop();
    }
  });
});

function scoreOf(i: number) {
  return {
    players: [
      { name: 'Ana', frames: i % 7, points: i % 100 },
      { name: 'Bo', frames: (i >> 3) % 7, points: (i * 3) % 100 },
    ],
    atTable: i % 2,
    raceTo: 9,
    frame: 1 + (i % 13),
  };
}
