import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, TEST_VIEWPORT } from '../src/browser.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { expectAboveFloor } from '../src/noise-floor.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { TestSignaling } from '../src/signaling.ts';
import { framesDecoded, isContiguous, scoreSeqs, waitForMoreFrames } from '../src/viewer.ts';

/**
 * The foundation end to end: redis-server, one node with the real mediasoup
 * worker, the real origin agent publishing the test match over WHIP, and
 * the React viewer page in headless Chromium playing it with mediasoup-client.
 */
describe('a live match plays from the origin to a browser', () => {
  const stream = 'final';
  let redis: RedisServer;
  let node: TestNode;
  let origin: ManagedProcess;
  let browser: Browser;
  let viewer: Page;

  const watchUrl = async (): Promise<string> =>
    `${node.url}/watch?stream=${stream}&token=${await token('viewer', stream)}`;

  beforeAll(async () => {
    redis = await startRedisServer();
    node = await startNode(redis.url);
    // A fast score generator so the test sees many updates in a few seconds.
    origin = await startOrigin(node.url, stream, { MM_SCORE_INTERVAL_MS: '250' });
    browser = await launchChromium();
    viewer = await browser.newPage();
    await viewer.goto(await watchUrl());
    // Playing before any test (each one stands alone, in any order).
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 1, undefined, { timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await origin?.stop();
    await node?.stop();
    await redis?.stop();
  });

  it('decodes video frames, advances currentTime and receives audio', async () => {
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 60, undefined, {
      timeout: 30_000,
    });
    const t0 = await viewer.evaluate(() => window.__mm!.videoCurrentTime());
    await waitForMoreFrames(viewer, 15);
    const t1 = await viewer.evaluate(() => window.__mm!.videoCurrentTime());
    expect(t1).toBeGreaterThan(t0);
    const stats = await viewer.evaluate(() => window.__mm!.stats());
    expect(stats.inboundAudioPackets).toBeGreaterThan(0);
    expect(stats.framesDecoded).toBeGreaterThanOrEqual(60);
    // Set up the short way: placement data from the session exchange, transport and consumers in the join.
    expect(await viewer.evaluate(() => window.__mm!.setup)).toEqual({ bootstrapped: true, oneRoundTrip: true });
  });

  it('answers a join with its capabilities in one round trip, and one with foreign capabilities step by step', async () => {
    const viewerToken = await token('viewer', stream);
    const plain = await TestSignaling.connect(node.url);
    const joined = await plain.request('join', { stream, token: viewerToken });
    plain.close();
    if (!joined.ok) throw new Error(`join refused: ${joined.error.code}`);
    const caps = (joined.data as { routerRtpCapabilities: { codecs: { preferredPayloadType: number }[] } })
      .routerRtpCapabilities;
    expect(joined.data).not.toHaveProperty('recv');

    const oneTrip = await TestSignaling.connect(node.url);
    const answer = await oneTrip.request('join', { stream, token: viewerToken, recv: { rtpCapabilities: caps } });
    oneTrip.close();
    if (!answer.ok) throw new Error(`join refused: ${answer.error.code}`);
    const recv = (answer.data as { recv?: { transport: { id: string }; consumers: { kind: string }[] } }).recv;
    expect(recv?.transport.id).toBeTruthy();
    expect(recv?.consumers.map((c) => c.kind).sort()).toEqual(['audio', 'video']);
    expect(answer.data).toHaveProperty('recv.scores.label');

    // A Device loaded with another router's capabilities (other payload types): the node does not guess.
    const foreign = { codecs: caps.codecs.map((c) => ({ ...c, preferredPayloadType: c.preferredPayloadType + 1 })) };
    const other = await TestSignaling.connect(node.url);
    const stepwise = await other.request('join', { stream, token: viewerToken, recv: { rtpCapabilities: foreign } });
    other.close();
    if (!stepwise.ok) throw new Error(`join refused: ${stepwise.error.code}`);
    expect(stepwise.data).not.toHaveProperty('recv');
  });

  it('receives score updates in order with no gap', async () => {
    await viewer.waitForFunction(() => (window.__mm?.scores.length ?? 0) >= 6, undefined, {
      timeout: 15_000,
    });
    const seqs = await scoreSeqs(viewer);
    expect(seqs.length).toBeGreaterThanOrEqual(6);
    expect(isContiguous(seqs)).toBe(true);
  });

  it("never hides the score under the player's controls (1280x800 and the test window)", async () => {
    await viewer.waitForSelector('[data-testid="score"]', { timeout: 15_000 });
    try {
      for (const size of [{ width: 1280, height: 800 }, TEST_VIEWPORT]) {
        await viewer.setViewportSize(size);
        const boxes = await viewer.evaluate(() => {
          const box = (el: Element | null) => {
            const r = el?.getBoundingClientRect();
            return r ? { name: el!.className || el!.tagName, l: r.left, t: r.top, r: r.right, b: r.bottom } : null;
          };
          const controls = ['[data-testid="replay"]', '.unmute', '.badge'].map((q) => box(document.querySelector(q)));
          return { score: box(document.querySelector('[data-testid="score"]'))!, controls };
        });
        const overlaps = boxes.controls.filter(
          (c) => c && c.l < boxes.score.r && boxes.score.l < c.r && c.t < boxes.score.b && boxes.score.t < c.b,
        );
        expect(boxes.controls.filter(Boolean).length).toBeGreaterThanOrEqual(2);
        const at = (b: { l: number; t: number; r: number; b: number }) =>
          `[${Math.round(b.l)},${Math.round(b.t)}–${Math.round(b.r)},${Math.round(b.b)}]`;
        expect(
          overlaps.map((c) => `${c!.name} ${at(c!)} over the score ${at(boxes.score)} at ${size.width}x${size.height}`),
        ).toEqual([]);
      }
    } finally {
      await viewer.setViewportSize(TEST_VIEWPORT);
    }
  });

  it('shows a late joiner the current score within 1 s', async () => {
    await viewer.waitForFunction(() => window.__mm?.lastScore != null, undefined, { timeout: 15_000 });
    const late = await browser.newPage();
    try {
      // The current score when the late viewer arrives: what it must show within 1 s.
      const current = await viewer.evaluate(() => window.__mm!.lastScore!.seq);
      await late.goto(await watchUrl());
      await late.waitForFunction((seq) => (window.__mm?.lastScore?.seq ?? 0) >= seq, current, {
        timeout: 10_000,
        polling: 20,
      });
      // Timed by the page: from its navigation start to the arrival of that score (wall clock,
      // as the hook's receivedAt), free of the test's own polling and round trips.
      // The floor is this very page load's own: navigation start until its module script (the app
      // bundle) has been fetched and run, which is when DOMContentLoaded fires. That part is the
      // machine's (renderer start, HTTP, parse); the 1 s bound applies to what the app's join and
      // the score path add after it. The absolute time to first score and frame is the bench's
      // (npm run bench -- --scenarios=ttff).
      const { elapsed, shown, floor } = await late.evaluate((seq) => {
        const score = window.__mm!.scores.find((s) => s.seq >= seq) ?? window.__mm!.lastScore!;
        const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
        return {
          elapsed: Math.round(score.receivedAt - performance.timeOrigin),
          shown: score.seq,
          floor: Math.round(nav.domContentLoadedEventEnd),
        };
      }, current);
      console.log(`late joiner: noise floor, the page's own load until its app bundle ran: ${floor} ms`);
      console.log(`late joiner: score ${shown} shown ${elapsed} ms after navigation (current at arrival ${current})`);
      expect(shown).toBeGreaterThanOrEqual(current);
      expectAboveFloor('late joiner: current score shown', elapsed, floor, 1000);
    } finally {
      await late.close();
    }
  });

  it('keeps decoding after every kind of bad input', async () => {
    const sdpOk = 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n';
    const whip = (headers: Record<string, string>, body: string) =>
      fetch(`${node.url}/whip/${stream}`, { method: 'POST', headers, body });
    const publisher = await token('publisher', stream);
    const expired = await token('publisher', stream, -10);
    const offerWithCodec = (codec: string) =>
      `${sdpOk}a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\na=fingerprint:sha-256 AA:BB:CC\r\na=setup:actpass\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 ${codec}/90000\r\n`;

    const cases: { name: string; run: () => Promise<Response>; status: number }[] = [
      { name: 'no token', run: () => whip({ 'Content-Type': 'application/sdp' }, sdpOk), status: 401 },
      {
        name: 'garbage token',
        run: () => whip({ 'Content-Type': 'application/sdp', Authorization: 'Bearer not-a-jwt-at-all' }, sdpOk),
        status: 401,
      },
      {
        name: 'expired token',
        run: () => whip({ 'Content-Type': 'application/sdp', Authorization: `Bearer ${expired}` }, sdpOk),
        status: 401,
      },
      {
        name: 'viewer token',
        run: async () =>
          whip({ 'Content-Type': 'application/sdp', Authorization: `Bearer ${await token('viewer', stream)}` }, sdpOk),
        status: 403,
      },
      {
        name: 'other stream',
        run: async () =>
          whip(
            {
              'Content-Type': 'application/sdp',
              Authorization: `Bearer ${await token('publisher', 'other')}`,
            },
            sdpOk,
          ),
        status: 403,
      },
      {
        name: 'not SDP',
        run: () => whip({ 'Content-Type': 'application/json', Authorization: `Bearer ${publisher}` }, '{}'),
        status: 415,
      },
      {
        name: 'malformed SDP',
        run: () => whip({ 'Content-Type': 'application/sdp', Authorization: `Bearer ${publisher}` }, 'hello'),
        status: 400,
      },
      {
        name: 'no acceptable codec',
        run: () =>
          whip({ 'Content-Type': 'application/sdp', Authorization: `Bearer ${publisher}` }, offerWithCodec('H265')),
        status: 422,
      },
      {
        // The stream's codec (H.264) from a second publisher while the first one's media flows.
        name: 'second publisher',
        run: () =>
          whip(
            { 'Content-Type': 'application/sdp', Authorization: `Bearer ${publisher}` },
            `${offerWithCodec('H264')}a=fmtp:96 packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1\r\n`,
          ),
        status: 409,
      },
      {
        // Another codec than the stream's would break every viewer's decoder: refused with the reason.
        name: 'codec change',
        run: () =>
          whip({ 'Content-Type': 'application/sdp', Authorization: `Bearer ${publisher}` }, offerWithCodec('VP8')),
        status: 422,
      },
    ];
    for (const c of cases) {
      const before = await framesDecoded(viewer);
      const res = await c.run();
      expect(res.status, c.name).toBe(c.status);
      expect(res.headers.get('content-type'), c.name).toContain('application/problem+json');
      const problem = (await res.json()) as { status: number; detail?: string };
      expect(problem.status, c.name).toBe(c.status);
      expect(problem.detail, c.name).toBeTruthy();
      // What was already flowing is undisturbed.
      const after = await waitForMoreFrames(viewer, 5);
      expect(after, c.name).toBeGreaterThan(before);
    }
  });

  it('answers bad signaling with typed errors and keeps the socket open', async () => {
    const replies = await viewer.evaluate(async () => {
      const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/ws`);
      await new Promise((r) => ws.addEventListener('open', r, { once: true }));
      const ask = (raw: string) =>
        new Promise<unknown>((resolve) => {
          ws.addEventListener('message', (e) => resolve(JSON.parse(e.data as string)), { once: true });
          ws.send(raw);
        });
      const out = [
        await ask('{not json'),
        await ask(JSON.stringify({ id: 1, method: 'fly', data: {} })),
        await ask(JSON.stringify({ id: 2, method: 'consume', data: { transportId: 'nope', rtpCapabilities: {} } })),
        await ask(JSON.stringify({ id: 3, method: 'join', data: { stream: 'final', token: 'x'.repeat(20) } })),
        await ask(JSON.stringify({ id: 4, method: 'join', data: { stream: '../etc', token: 'x'.repeat(20) } })),
      ];
      const open = ws.readyState === WebSocket.OPEN;
      ws.close();
      return { out, open };
    });
    const codes = replies.out.map((r) => (r as { error?: { code: string } }).error?.code);
    expect(codes).toEqual(['bad_request', 'unknown_method', 'not_joined', 'unauthorized', 'bad_request']);
    expect(replies.open).toBe(true);
    await waitForMoreFrames(viewer, 5);
  });
});
