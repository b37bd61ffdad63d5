// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
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

/**
 * An offer written line for line after OBS 30's WHIP output (libdatachannel):
 * fingerprint and ice-options at session level, audio first, H.264 with the
 * library's fixed fmtp, no header extensions, no RTX, no candidates.
 */
const OBS_LITERAL_OFFER = `${[
  'v=0',
  'o=rtc 3937284385 0 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=group:LS 0 1',
  'a=msid-semantic:WMS *',
  'a=setup:actpass',
  'a=ice-ufrag:Fq9N',
  'a=ice-pwd:Tb8nFd3cZ0j1kS7uVx2yQw',
  'a=ice-options:ice2,trickle',
  'a=fingerprint:sha-256 4C:7A:0E:2B:91:D3:55:6F:88:1C:A0:3E:47:B2:9D:60:12:EE:5B:C8:74:09:3A:F1:6D:2C:8E:B5:90:47:A3:1F',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=sendonly',
  'a=ssrc:2386318711 cname:obs-cname',
  'a=ssrc:2386318711 msid:obs-stream obs-audio',
  'a=msid:obs-stream obs-audio',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;maxaveragebitrate=96000;stereo=1;sprop-stereo=1;useinbandfec=1',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 0.0.0.0',
  'a=mid:1',
  'a=sendonly',
  'a=ssrc:1436082375 cname:obs-cname',
  'a=ssrc:1436082375 msid:obs-stream obs-video',
  'a=msid:obs-stream obs-video',
  'a=rtcp-mux',
  'a=rtpmap:96 H264/90000',
  'a=rtcp-fb:96 nack',
  'a=rtcp-fb:96 nack pli',
  'a=rtcp-fb:96 goog-remb',
  'a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1',
].join('\r\n')}\r\n`;

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
    // OBS's offer, line for line: accepted, both sections answered on the bundle (nobody completes ICE for it).
    const auth = `Bearer ${await token('publisher', 'obs-literal')}`;
    const literal = await fetch(`${node.url}/whip/obs-literal`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: auth },
      body: OBS_LITERAL_OFFER,
    });
    const answer = await literal.text();
    expect(literal.status, answer).toBe(201);
    expect(answer).toMatch(/^a=ice-lite/m);
    expect(answer.match(/^m=(audio|video) [1-9]\d* /gm)).toHaveLength(2);
    expect(answer).toMatch(/^a=rtpmap:96 H264\/90000/m);
    expect(answer).toMatch(/^a=rtpmap:111 opus\/48000\/2/m);
    expect(answer.match(/^a=recvonly/gm)).toHaveLength(2);
    const ended = await fetch(new URL(literal.headers.get('location')!, node.url), {
      method: 'DELETE',
      headers: { Authorization: auth },
    });
    expect(ended.status).toBe(200);

    // The same shape from a real WebRTC stack, which then sends media.
    const publisher = await pageOnNode();
    try {
      const published = await whipPublishObsStyle(publisher, `${node.url}/whip/obs`, await token('publisher', 'obs'));
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
    const gst = spawn(
      '/usr/bin/python3',
      [path.join(REPO_ROOT, 'test/publishers/gst-whip.py'), `${node.url}/whip/gst`],
      {
        env: { ...process.env, WHIP_TOKEN: await token('publisher', 'gst') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
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
      // Where the video stopped, should it: the program's tracks at the node (fed, forwarded, dropped) and the
      // publisher's own log (a CI run once had the viewer get audio and no video at all).
      const program = await fetch(`${node.url}/api/v1/streams/gst/program`, {
        headers: { authorization: `Bearer ${await token('admin', '*')}` },
      }).then((r) => r.text());
      // The node's own lines about the stream or WHEP (a consumer that never got a key frame, a PLI unanswered).
      const nodeLines = node
        .output()
        .split('\n')
        .filter((l) => l.includes('"gst"') || /whep/i.test(l))
        .slice(-8)
        .map((l) => l.slice(0, 300))
        .join('\n');
      const why = `viewer: ${JSON.stringify(result.diagnostics)}; answer's video: ${result.answerVideo}; program at the node: ${program}; node log: ${nodeLines}; publisher: ${stderr.slice(-1500)}`;
      expect(result.error, why).toBeUndefined();
      expect(result.framesDecoded, why).toBeGreaterThanOrEqual(FRAMES);
      expect(result.audioPackets, why).toBeGreaterThan(0);
      expect(result.videoCodec, why).toBe('video/H264');
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
