import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startNode, type TestNode, token } from '../src/node.ts';
import { whipPublishObsStyle } from '../src/obs-publisher.ts';
import { REPO_ROOT } from '../src/processes.ts';
import { type WhepResult, whepPlayInPage } from '../src/webrtc-page.ts';

/*
 * The publishers people really use (issue 19 item 4), each through a real node
 * to a Chromium viewer that decodes its frames: an OBS-shaped WHIP offer from a
 * real WebRTC stack, an encoder set to H.264 High (refused, naming what to
 * publish instead), and GStreamer's webrtcbin doing the WHIP POST itself.
 */
const FRAMES = 30;

describe('publishers people use', () => {
  let redis: RedisServer;
  let node: TestNode;
  let browser: Browser;

  beforeAll(async () => {
    redis = await startRedisServer();
    node = await startNode(redis.url);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await node?.stop();
    await redis?.stop();
  });

  /** A page on the node's origin (a secure context for WebRTC). */
  const pageOnNode = async (): Promise<Page> => {
    const page = await browser.newPage();
    await page.goto(`${node.url}/healthz`);
    return page;
  };

  /** A Chromium viewer over WHEP until FRAMES video frames are decoded. */
  const watch = async (stream: string): Promise<WhepResult> => {
    const viewer = await pageOnNode();
    try {
      return await whepPlayInPage(viewer, `${node.url}/whep/${stream}`, await token('viewer', stream), FRAMES);
    } finally {
      await viewer.close();
    }
  };

  it('(a) an OBS-style offer — H.264 42e01f packetization-mode=1 + Opus, no candidates, no trickle, Bearer — plays', async () => {
    const publisher = await pageOnNode();
    try {
      const published = await whipPublishObsStyle(
        publisher,
        `${node.url}/whip/obs`,
        await token('publisher', 'obs'),
      );
      expect(published.status, published.body).toBe(201);
      // OBS's exact shape went out: no candidate at all, one video codec (H.264 CB pm1), Opus, no DataChannel.
      expect(published.offer).not.toMatch(/a=candidate:|a=end-of-candidates/);
      expect(published.offer).not.toContain('m=application');
      expect(published.offer).not.toMatch(/VP8|VP9|AV1|rtx\//);
      expect(published.offer).toMatch(/a=rtpmap:\d+ opus\/48000\/2/);
      expect(published.offer).toMatch(/a=fmtp:\d+ .*packetization-mode=1;profile-level-id=42e01f/);

      const started = performance.now();
      const result = await watch('obs');
      console.log(
        `OBS-style publisher: viewer decoded ${result.framesDecoded} ${result.videoCodec} frames, first after ${result.firstFrameMs} ms (${Math.round(performance.now() - started)} ms to ${FRAMES}), ${result.audioPackets} audio packets`,
      );
      expect(result.error).toBeUndefined();
      expect(result.framesDecoded).toBeGreaterThanOrEqual(FRAMES);
      expect(result.audioPackets).toBeGreaterThan(0);
      expect(result.videoCodec).toBe('video/H264');
    } finally {
      await publisher.close();
    }
  });

  it('(b) an H.264 High offer is refused with 422 problem+json naming the profiles to publish', async () => {
    const publisher = await pageOnNode();
    try {
      const refused = await whipPublishObsStyle(
        publisher,
        `${node.url}/whip/high`,
        await token('publisher', 'high'),
        '640c1f',
      );
      expect(refused.offer).toContain('profile-level-id=640c1f');
      expect(refused.status).toBe(422);
      expect(refused.contentType).toContain('application/problem+json');
      const problem = JSON.parse(refused.body) as { status: number; detail: string };
      console.log(`H.264 High publisher: ${refused.status} "${problem.detail}"`);
      expect(problem.status).toBe(422);
      expect(problem.detail).toBe(
        'H.264 High (640c1f) is not supported: publish Constrained Baseline 42e01f or Main 4d001f (packetization-mode=1)',
      );
      // Nothing half-made: the stream is not live for a viewer.
      const viewer = await watch('high');
      expect(viewer.status).toBe(409);
    } finally {
      await publisher.close();
    }
  });

  it('(c) a GStreamer webrtcbin publisher (x264enc constrained-baseline + opusenc) doing its own WHIP POST plays', async () => {
    const started = performance.now();
    const gst = spawn('/usr/bin/python3', [path.join(REPO_ROOT, 'test/publishers/gst-whip.py'), `${node.url}/whip/gst`], {
      env: { ...process.env, WHIP_TOKEN: await token('publisher', 'gst') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    gst.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    try {
      const posted = await gstState(gst, 'connected', () => stderr);
      expect(posted.state).toBe('connected');
      const connectedMs = Math.round(performance.now() - started);
      const result = await watch('gst');
      console.log(
        `GStreamer publisher: connected ${connectedMs} ms after start; viewer decoded ${result.framesDecoded} ${result.videoCodec} frames (${result.videoFmtp}), first after ${result.firstFrameMs} ms, ${result.audioPackets} audio packets`,
      );
      expect(result.error).toBeUndefined();
      expect(result.framesDecoded).toBeGreaterThanOrEqual(FRAMES);
      expect(result.audioPackets).toBeGreaterThan(0);
      expect(result.videoCodec).toBe('video/H264');
    } finally {
      if (gst.exitCode === null) {
        gst.kill('SIGTERM');
        await once(gst, 'exit');
      }
    }
  });
});

/** Wait for the GStreamer script to report `state` (its JSON lines on stdout); fail on "failed" or exit. */
async function gstState(
  gst: ChildProcess,
  state: string,
  stderr: () => string,
): Promise<{ state: string; [k: string]: unknown }> {
  const lines = createInterface({ input: gst.stdout! });
  const exited = once(gst, 'exit').then(([code]) => {
    throw new Error(`gst-whip.py exited (${code}) before "${state}":\n${stderr()}`);
  });
  const reported = (async () => {
    for await (const line of lines) {
      const event = JSON.parse(line) as { state: string; [k: string]: unknown };
      if (event.state === 'failed') throw new Error(`gst-whip.py failed: ${line}\n${stderr()}`);
      if (event.state === state) return event;
    }
    throw new Error(`gst-whip.py closed its output before "${state}":\n${stderr()}`);
  })();
  try {
    return await Promise.race([reported, exited]);
  } finally {
    lines.close();
  }
}
