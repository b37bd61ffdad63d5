import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { whepPlayInPage, whipPublishFromPage } from '../src/webrtc-page.ts';

/**
 * Standard WHIP and WHEP clients — a bare RTCPeerConnection in Chromium, no
 * mediasoup-client — publish and watch through a real node.
 */
describe('WHIP + WHEP with plain RTCPeerConnection', () => {
  let redis: RedisServer;
  let node: TestNode;
  let browser: Browser;
  let publisher: Page;

  beforeAll(async () => {
    redis = await startRedisServer();
    node = await startNode(redis.url);
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
    const session = await whipPublishFromPage(
      publisher,
      `${node.url}/whip/plain`,
      await token('publisher', 'plain'),
    );
    expect(session).toMatch(/\/whip\/plain\/sessions\/[0-9a-f-]+$/);

    const viewer = await browser.newPage();
    await viewer.goto(`${node.url}/healthz`);
    const result = await whepPlayInPage(viewer, `${node.url}/whep/plain`, await token('viewer', 'plain'), 30);
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(201);
    expect(result.framesDecoded).toBeGreaterThanOrEqual(30);
    expect(result.audioPackets).toBeGreaterThan(0);
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
});
