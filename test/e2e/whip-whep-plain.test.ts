// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { createHmac } from 'node:crypto';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { TestSignaling } from '../src/signaling.ts';
import { whepPlayInPage, whipPublishFromPage } from '../src/webrtc-page.ts';

/**
 * Standard WHIP and WHEP clients — a bare RTCPeerConnection in Chromium, no
 * mediasoup-client — publish and watch through a real node.
 */
const TURN_SECRET = 'turn-shared-secret-for-tests';

/** A TURN credential as coturn's use-auth-secret checks it: fresh, and HMAC-SHA1 of the username. */
function expectValidTurnCredential(username: string, credential: string): void {
  const expiry = Number(username.split(':')[0]);
  expect(expiry * 1000).toBeGreaterThan(Date.now());
  expect(credential).toBe(createHmac('sha1', TURN_SECRET).update(username).digest('base64'));
}

describe('WHIP + WHEP with plain RTCPeerConnection', () => {
  let redis: RedisServer;
  let node: TestNode;
  let browser: Browser;
  let publisher: Page;

  beforeAll(async () => {
    redis = await startRedisServer();
    node = await startNode(redis.url, {
      // A TURN server as infra/turn runs it: the node mints REST-API credentials per session.
      MM_ICE_SERVERS: 'stun:127.0.0.1:3478,turn:127.0.0.1:3478?transport=tcp',
      MM_TURN_SECRET: TURN_SECRET,
    });
    browser = await launchChromium();
    publisher = await browser.newPage();
    await publisher.goto(`${node.url}/healthz`);
  });

  afterAll(async () => {
    await browser?.close();
    await node?.stop();
    await redis?.stop();
  });

  it('publishes with WHIP and plays with WHEP, decoding frames', async () => {
    const session = await whipPublishFromPage(publisher, `${node.url}/whip/plain`, await token('publisher', 'plain'));
    expect(session).toMatch(/\/whip\/plain\/sessions\/[0-9a-f-]+$/);

    const viewer = await browser.newPage();
    await viewer.goto(`${node.url}/healthz`);
    const result = await whepPlayInPage(viewer, `${node.url}/whep/plain`, await token('viewer', 'plain'), 30);
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(201);
    expect(result.framesDecoded, JSON.stringify(result.diagnostics)).toBeGreaterThanOrEqual(30);
    expect(result.audioPackets).toBeGreaterThan(0);
  });

  it('hands TURN credentials to authorized WHEP callers and to /ws viewers, never to anonymous ones', async () => {
    const preflight = (auth?: string) =>
      fetch(`${node.url}/whep/plain`, {
        method: 'OPTIONS',
        headers: auth ? { Authorization: `Bearer ${auth}` } : {},
      });
    expect((await preflight()).headers.get('link')).toBeNull();
    const link = (await preflight(await token('viewer', 'plain'))).headers.get('link')!;
    expect(link).toContain('<stun:127.0.0.1:3478>; rel="ice-server"');
    const turn =
      /<turn:127\.0\.0\.1:3478\?transport=tcp>; rel="ice-server"; username="([^"]+)"; credential="([^"]+)"; credential-type="password"/.exec(
        link,
      );
    expect(turn).not.toBeNull();
    expectValidTurnCredential(turn![1]!, turn![2]!);

    const ws = await TestSignaling.connect(node.url);
    const joined = await ws.request('join', { stream: 'plain', token: await token('viewer', 'plain'), role: 'viewer' });
    ws.close();
    expect(joined.ok).toBe(true);
    const servers = (joined as { data: { iceServers: { urls: string[]; username?: string; credential?: string }[] } })
      .data.iceServers;
    expect(servers[0]).toEqual({ urls: ['stun:127.0.0.1:3478'] });
    expect(servers[1]!.urls).toEqual(['turn:127.0.0.1:3478?transport=tcp']);
    expectValidTurnCredential(servers[1]!.username!, servers[1]!.credential!);
  });

  it('answers WHEP for a stream nobody publishes with 409 and Retry-After', async () => {
    const res = await fetch(`${node.url}/whep/nobody`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/sdp',
        Authorization: `Bearer ${await token('viewer', 'nobody')}`,
      },
      body: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\na=fingerprint:sha-256 AA:BB\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n',
    });
    expect(res.status).toBe(409);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it("accepts Chromium's own simulcast (sendEncodings, three rids) and the layers it sends reach a viewer", async () => {
    const publisherHd = await browser.newPage();
    const viewer = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await publisherHd.goto(`${node.url}/healthz`);
      await whipPublishFromPage(publisherHd, `${node.url}/whip/sendenc`, await token('publisher', 'sendenc'), {
        width: 1280,
        height: 720,
        simulcast: [
          { rid: 'q', scaleResolutionDownBy: 4 },
          { rid: 'h', scaleResolutionDownBy: 2 },
          { rid: 'f', scaleResolutionDownBy: 1 },
        ],
      });
      await viewer.goto(`${node.url}/watch?stream=sendenc&token=${await token('viewer', 'sendenc')}`);
      await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 15, undefined, { timeout: 30_000 });
      // The node measured every layer from the media it received: all three arrived.
      // The node takes all three rids (one encoding each). Chromium itself sends only the layers its
      // capture size allows (its fake camera gives 640x480: two layers, 160x120 and 320x240 — libwebrtc
      // drops the third below 960x540) and that its estimate carries; those reach the viewer.
      await viewer
        .waitForFunction(
          () =>
            window.__mm?.layers?.spatialLayers === 3 &&
            window.__mm.layers.layers.filter((l) => l.height !== undefined).length >= 2,
          undefined,
          { timeout: 20_000 },
        )
        .catch(async (err: unknown) => {
          const seen = await viewer.evaluate(() => JSON.stringify(window.__mm?.layers ?? null));
          const sent = await publisherHd.evaluate(async () => {
            const { pc } = (window as unknown as { __whip: { pc: RTCPeerConnection } }).__whip;
            const out: string[] = [];
            (await pc.getStats()).forEach((r) => {
              if (r.type === 'outbound-rtp' && r.kind === 'video')
                out.push(`${r.rid}:${r.frameWidth}x${r.frameHeight} ${r.bytesSent}B`);
            });
            return out.join(', ');
          });
          throw new Error(`layers not measured: ${seen}; publisher sends ${sent}`, { cause: err });
        });
      const heights = (await viewer.evaluate(() => window.__mm!.layers!.layers.map((l) => l.height))).filter(
        (h): h is number => h !== undefined,
      );
      console.log(`Chromium simulcast publisher: layers measured at the node ${heights.join(' / ')} px tall`);
      expect(new Set(heights).size).toBe(heights.length);
      expect(heights).toEqual([...heights].sort((a, b) => a - b));
      // And a viewer gets the one it picks.
      await viewer.selectOption('[data-testid="quality"]', '0');
      await viewer.waitForFunction((h) => window.__mm!.frameSize().height === h, heights[0], { timeout: 15_000 });
    } finally {
      await viewer.close();
      await publisherHd.close();
    }
  });
});
