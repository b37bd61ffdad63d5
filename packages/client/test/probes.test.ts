import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TypedEmitter } from '../src/emitter.ts';
import {
  firstFrame,
  HLS_WARM_AFTER_MS,
  HLS_WARM_EVERY_MS,
  HlsWarmer,
  StallWatch,
  untilPlaying,
} from '../src/probes.ts';
import type { SessionState, SessionStateChange } from '../src/SessionLifecycle.ts';

/** A session as the probes see one: its state set by the test, its decoded-frame count too. */
class FakeSession extends TypedEmitter<{ state: [SessionStateChange] }> {
  state: SessionState = 'connecting';
  reason = 'new';
  frames = 0;
  statsCalls = 0;

  get closed(): boolean {
    return this.state === 'closed' || this.state === 'failed';
  }

  async stats(): Promise<{ framesDecoded?: number }> {
    this.statsCalls++;
    return { framesDecoded: this.frames };
  }

  set(state: SessionState, reason: string): void {
    this.state = state;
    this.reason = reason;
    this.emit('state', { state, reason });
  }
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('firstFrame', () => {
  it('resolves once the connected session has decoded a frame', async () => {
    const session = new FakeSession();
    const waiting = firstFrame(session, 5000, true);
    session.set('connected', 'playing');
    await expect.poll(() => session.statsCalls).toBeGreaterThan(0);
    session.frames = 1;
    await expect(waiting).resolves.toBeUndefined();
  });

  it('after the timeout: resolves for a move, rejects when strict (an upgrade needs a picture)', async () => {
    vi.useFakeTimers();
    const session = new FakeSession();
    session.set('connected', 'playing');
    const move = firstFrame(session, 200);
    const upgrade = firstFrame(session, 200, true);
    const upgradeFailed = expect(upgrade).rejects.toThrow('no decoded frame');
    await vi.advanceTimersByTimeAsync(199);
    let moved = false;
    void move.then(() => (moved = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(moved).toBe(false);
    await vi.advanceTimersByTimeAsync(41);
    await expect(move).resolves.toBeUndefined();
    await upgradeFailed;
  });

  it('rejects when the session ends first, naming its state and reason', async () => {
    const session = new FakeSession();
    const waiting = firstFrame(session, 5000);
    session.set('failed', 'ice-failed');
    await expect(waiting).rejects.toThrow('session failed: ice-failed');
  });
});

describe('untilPlaying', () => {
  it('answers at once for a session that already plays or has ended', async () => {
    const playing = new FakeSession();
    playing.set('connected', 'playing');
    const ended = new FakeSession();
    ended.set('closed', 'closed');
    expect(await untilPlaying(playing)).toBe(true);
    expect(await untilPlaying(ended)).toBe(false);
  });

  it('waits past connecting: true once it plays, false once it fails, and stops listening', async () => {
    const good = new FakeSession();
    const bad = new FakeSession();
    const goodPlays = untilPlaying(good);
    const badPlays = untilPlaying(bad);
    good.set('connecting', 'loading');
    bad.set('connecting', 'loading');
    good.set('connected', 'playing');
    bad.set('failed', 'hls-error');
    expect(await goodPlays).toBe(true);
    expect(await badPlays).toBe(false);
    expect(good.listenerCount('state')).toBe(0);
    expect(bad.listenerCount('state')).toBe(0);
  });
});

describe('StallWatch', () => {
  const counting = () => {
    const calls = { slow: 0, stalled: 0 };
    let current = true;
    return {
      calls,
      setCurrent: (v: boolean) => {
        current = v;
      },
      on: { current: () => current, slow: () => calls.slow++, stalled: () => calls.stalled++ },
    };
  };

  it('reports slow at half the limit and stalled at the limit once frames stop', async () => {
    vi.useFakeTimers();
    const session = new FakeSession();
    session.set('connected', 'playing');
    const { calls, on } = counting();
    const watch = new StallWatch();
    watch.watch(session, 2000, on);
    // Frames keep coming: nothing to report.
    for (let i = 1; i <= 12; i++) {
      session.frames = i;
      await vi.advanceTimersByTimeAsync(250);
    }
    expect(calls).toEqual({ slow: 0, stalled: 0 });
    // Frames stop: the last new count was seen at the previous check.
    await vi.advanceTimersByTimeAsync(750);
    expect(calls).toEqual({ slow: 0, stalled: 0 });
    await vi.advanceTimersByTimeAsync(250);
    expect(calls.slow).toBe(1);
    expect(calls.stalled).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls.stalled).toBe(1);
    watch.stop();
    await vi.advanceTimersByTimeAsync(2000);
    expect(calls.stalled).toBe(1);
  });

  it('does not count before the first decoded frame (ICE and keyframe timeouts are in charge)', async () => {
    vi.useFakeTimers();
    const session = new FakeSession();
    session.set('connected', 'playing');
    const { calls, on } = counting();
    new StallWatch().watch(session, 2000, on);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual({ slow: 0, stalled: 0 });
    expect(session.statsCalls).toBe(40);
  });

  it('ends quietly once the session is no longer current or has closed, and one watch replaces another', async () => {
    vi.useFakeTimers();
    const a = new FakeSession();
    a.set('connected', 'playing');
    a.frames = 5;
    const first = counting();
    const watch = new StallWatch();
    watch.watch(a, 1000, first.on);
    await vi.advanceTimersByTimeAsync(250);
    first.setCurrent(false);
    await vi.advanceTimersByTimeAsync(5000);
    expect(first.calls).toEqual({ slow: 0, stalled: 0 });
    expect(a.statsCalls).toBe(1);

    const b = new FakeSession();
    b.set('connected', 'playing');
    b.frames = 5;
    const second = counting();
    watch.watch(b, 1000, second.on);
    b.set('closed', 'stream-ended');
    await vi.advanceTimersByTimeAsync(5000);
    expect(second.calls).toEqual({ slow: 0, stalled: 0 });
    expect(b.statsCalls).toBe(0);

    const c = new FakeSession();
    c.set('connected', 'playing');
    c.frames = 5;
    const third = counting();
    watch.watch(c, 1000, third.on);
    const d = new FakeSession();
    d.set('connected', 'playing');
    d.frames = 5;
    const fourth = counting();
    watch.watch(d, 1000, fourth.on);
    await vi.advanceTimersByTimeAsync(1250);
    expect(c.statsCalls).toBe(0);
    expect(third.calls).toEqual({ slow: 0, stalled: 0 });
    expect(fourth.calls.stalled).toBe(1);
  });
});

describe('HlsWarmer', () => {
  it('asks the relay for its playlist with a real GET', async () => {
    const server = createServer((_req, res) => res.writeHead(200).end('#EXTM3U\n'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const warmer = new HlsWarmer(
        (nodeUrl) => `${nodeUrl}/hls/match/index.m3u8?token=t`,
        () => true,
      );
      const asked = once(server, 'request');
      warmer.warm(url);
      const [req] = (await asked) as [{ url: string; method: string }];
      expect(req.method).toBe('GET');
      expect(req.url).toBe('/hls/match/index.m3u8?token=t');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('warms each relay once per HLS_WARM_EVERY_MS, never when disabled, and swallows failures', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const fetched: string[] = [];
    const caches: (RequestCache | undefined)[] = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      fetched.push(url);
      caches.push(init.cache);
      throw new TypeError('fetch failed');
    });
    let enabled = true;
    const warmer = new HlsWarmer(
      (nodeUrl) => `${nodeUrl}/playlist`,
      () => enabled,
    );
    warmer.warm('http://a');
    warmer.warm('http://a');
    warmer.warm('http://b');
    expect(fetched).toEqual(['http://a/playlist', 'http://b/playlist']);
    vi.advanceTimersByTime(HLS_WARM_EVERY_MS - 1);
    warmer.warm('http://a');
    expect(fetched).toHaveLength(2);
    vi.advanceTimersByTime(1);
    warmer.warm('http://a');
    expect(fetched).toEqual(['http://a/playlist', 'http://b/playlist', 'http://a/playlist']);
    enabled = false;
    vi.advanceTimersByTime(HLS_WARM_EVERY_MS);
    warmer.warm('http://a');
    expect(fetched).toHaveLength(3);
    expect(caches).toEqual(['no-store', 'no-store', 'no-store']);
  });

  it('warmIfSlow warms only a session still connecting HLS_WARM_AFTER_MS later', async () => {
    vi.useFakeTimers();
    const warmed: string[] = [];
    const warmer = new HlsWarmer(
      (nodeUrl) => nodeUrl,
      () => true,
    );
    warmer.warm = (nodeUrl: string) => void warmed.push(nodeUrl);
    const slow = new FakeSession();
    const quick = new FakeSession();
    const failed = new FakeSession();
    warmer.warmIfSlow(slow, 'http://slow');
    warmer.warmIfSlow(quick, 'http://quick');
    warmer.warmIfSlow(failed, 'http://failed');
    slow.set('connecting', 'joining');
    quick.set('connected', 'playing');
    failed.set('failed', 'join-not_found');
    expect(quick.listenerCount('state')).toBe(0);
    vi.advanceTimersByTime(HLS_WARM_AFTER_MS - 1);
    expect(warmed).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(warmed).toEqual(['http://slow']);
  });
});
