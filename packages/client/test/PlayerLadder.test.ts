import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HlsLike } from '../src/HlsSession.ts';
import { Player } from '../src/Player.ts';
import { FakeNode, fakeDevice, installMediaStream, WebSocket } from './fakeNode.ts';

beforeAll(installMediaStream);

/** Just enough of an HTMLVideoElement for the player: events, textTracks, currentTime. */
class FakeVideo extends EventTarget {
  currentTime = 0;
  srcObject: unknown = null;
  src = '';
  muted = true;
  style: Record<string, string> = {};
  dataset: Record<string, string> = {};

  play() {
    return Promise.resolve();
  }
  /** The HLS picture advances. */
  tick(seconds: number) {
    this.currentTime += seconds;
    this.dispatchEvent(new Event('timeupdate'));
  }
}

class FakeHls implements HlsLike {
  source = '';
  media: unknown = null;
  destroyed = false;
  loadSource(url: string) {
    this.source = url;
  }
  attachMedia(media: HTMLMediaElement) {
    this.media = media;
  }
  on() {}
  destroy() {
    this.destroyed = true;
  }
}

/** A Player pinned to the fake node, with the fake device; `extra` adds the options a test is about. */
function ladderPlayer(
  at: FakeNode,
  device: ReturnType<typeof fakeDevice>,
  extra: Partial<ConstructorParameters<typeof Player>[0]>,
): Player {
  return new Player({
    nodeUrl: at.url,
    stream: 'match',
    token: 'viewer-token-123',
    WebSocket,
    device: device.options,
    placement: false,
    ...extra,
  });
}

let node: FakeNode | null = null;
let player: Player | null = null;

afterEach(async () => {
  player?.close();
  player = null;
  await node?.stop();
  node = null;
});

describe('Player ladder', () => {
  it('falls back to HLS from the same relay when ICE fails, with path and reason, and keeps retrying WebRTC', async () => {
    node = await new FakeNode().start();
    const device = fakeDevice();
    const hlsInstances: FakeHls[] = [];
    player = ladderPlayer(node, device, {
      upgradeRetry: { initialDelayMs: 30, maxDelayMs: 30 },
      // The fake node has no HLS score log; the fetch fails and is retried quietly.
      hlsFactory: async () => {
        const hls = new FakeHls();
        hlsInstances.push(hls);
        return hls;
      },
    });
    const video = new FakeVideo();
    const hlsVideo = new FakeVideo();
    player.attach(video as unknown as HTMLVideoElement, hlsVideo as unknown as HTMLVideoElement);
    player.start();
    await expect.poll(() => device.handlers.length).toBe(1);
    const startedAt = Date.now();
    device.setConnectionState('failed');

    await expect.poll(() => player!.path).toBe('hls');
    expect(player.reason).toMatch(/^fallback: ice-failed/);
    await expect.poll(() => hlsInstances.length).toBe(1);
    expect(hlsInstances[0]!.source).toBe(`${node.url}/hls/match/index.m3u8?token=viewer-token-123`);
    expect(hlsInstances[0]!.media).toBe(hlsVideo);
    expect(hlsVideo.style.visibility).toBe('visible');
    expect(video.style.visibility).toBe('hidden');
    expect(player.state).toBe('connecting');
    hlsVideo.tick(0.5);
    expect(player.state).toBe('connected');
    expect(Date.now() - startedAt).toBeLessThan(3000);

    // WebRTC is retried in the background (TCP first), without leaving HLS meanwhile.
    await expect
      .poll(() => node!.requests.some((r) => r.method === 'createTransport' && r.data?.forceTcp === true))
      .toBe(true);
    expect(player.path).toBe('hls');
  });

  it('does not fall back on an error HLS cannot fix (stream not live): it retries WebRTC', async () => {
    node = await new FakeNode({
      override: (req) => (req.method === 'join' ? { ok: false, code: 'not_found' } : undefined),
    }).start();
    const device = fakeDevice();
    player = ladderPlayer(node, device, {
      retry: { initialDelayMs: 20, maxDelayMs: 20 },
      hlsFactory: async () => new FakeHls(),
    });
    player.attach(new FakeVideo() as unknown as HTMLVideoElement, new FakeVideo() as unknown as HTMLVideoElement);
    // Every state the player goes through: the retry cycles too fast (20 ms) to sample its reason.
    const seen: { path: string; reason: string }[] = [];
    player.on('state', (change) => seen.push({ path: change.path, reason: change.reason }));
    player.start();
    await expect.poll(() => node!.methods().filter((m) => m === 'join').length).toBeGreaterThanOrEqual(2);
    expect(seen.some((s) => s.path === 'hls')).toBe(false);
    expect(seen.some((s) => /join-not_found/.test(s.reason))).toBe(true);
  });
});

/** A video element with a seekable live window [0, end]; every assignment to currentTime fires 'seeked'. */
class SeekableVideo extends FakeVideo {
  end = 100;
  readonly seekable = { length: 1, start: () => 0, end: () => this.end };

  constructor() {
    super();
    // An accessor on the instance: the base class's currentTime is a plain field.
    let time = 0;
    Object.defineProperty(this, 'currentTime', {
      get: () => time,
      set: (t: number) => {
        time = t;
        queueMicrotask(() => this.dispatchEvent(new Event('seeked')));
      },
    });
  }
}

describe('Player replay', () => {
  it('rewinds onto HLS behind the live edge, closing WebRTC, and goes back to live with WebRTC retried', async () => {
    node = await new FakeNode().start();
    const device = fakeDevice();
    player = ladderPlayer(node, device, {
      hlsFactory: async () => new FakeHls(),
    });
    const hlsVideo = new SeekableVideo();
    player.attach(new FakeVideo() as unknown as HTMLVideoElement, hlsVideo as unknown as HTMLVideoElement);
    player.start();
    await expect.poll(() => device.handlers.length).toBe(1);
    device.setConnectionState('connected');
    await expect.poll(() => player!.path).toBe('webrtc');

    const rewound = player.rewind(10);
    await expect.poll(() => player!.path).toBe('hls');
    expect(player.session).toBeNull();
    hlsVideo.tick(0.5); // HLS plays
    expect(await rewound).toBe(10);
    expect(hlsVideo.currentTime).toBe(90);
    expect(player.behindLive).toBe(10);
    expect(player.reason).toBe('rewind: 10 s behind live');

    // Further back: relative to the picture now; clamped to the window start.
    expect(await player.rewind(500)).toBe(100);
    expect(hlsVideo.currentTime).toBe(0);

    const joins = node.methods().filter((m) => m === 'join').length;
    player.goLive();
    expect(player.behindLive).toBe(0);
    expect(player.reason).toBe('going live');
    await expect.poll(() => hlsVideo.currentTime).toBe(100);
    // WebRTC is asked for again at once (UDP first).
    await expect.poll(() => node!.methods().filter((m) => m === 'join').length).toBe(joins + 1);
    const transport = node.requests.filter((r) => r.method === 'createTransport').at(-1);
    expect(transport?.data?.forceTcp).toBe(false);
  });
});
