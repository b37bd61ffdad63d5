import { ReportFigures } from '@matchmesh/protocol';
import { describe, expect, it, vi } from 'vitest';
import type { PlayerStats } from '../src/PlayerTypes.ts';
import {
  platformOf,
  type RecordedPlayer,
  ReportError,
  ReportRecorder,
  sendProblemReport,
} from '../src/ReportRecorder.ts';

/** A player as the recorder reads it: stats and state changes driven by the test (a unit-test fake). */
function fakePlayer() {
  const listeners: ((c: { path: string; reason: string }) => void)[] = [];
  const player = {
    path: 'webrtc',
    reason: 'playing',
    videoLayers: null,
    placement: { rtts: { eu: 12.4, asia: null } },
    stats: async () => null,
    on: (_event: string, fn: (c: { path: string; reason: string }) => void) => {
      listeners.push(fn);
      return () => listeners.splice(listeners.indexOf(fn), 1);
    },
    change: (path: string, reason: string) => {
      for (const fn of listeners) fn({ path, reason });
    },
  };
  return player;
}

function stats(frames: number, extra: Partial<PlayerStats> = {}): PlayerStats {
  return {
    state: 'connected',
    iceState: 'connected',
    iceProtocol: 'udp',
    bytesReceived: frames * 1000,
    inboundAudioPackets: frames,
    inboundVideoPackets: frames * 2,
    packetsLost: 0,
    framesDecoded: frames,
    framesPerSecond: 30,
    rttMs: 8,
    jitterMs: 2.5,
    scoresReceived: 0,
    lastSeq: 0,
    gaps: 0,
    missedAtJoin: 0,
    duplicates: 0,
    invalidScores: 0,
    path: 'webrtc',
    reason: 'playing',
    nodeUrl: 'http://127.0.0.1:1',
    nodeId: 'eu-1',
    region: 'eu',
    placement: null,
    moves: 0,
    failovers: 0,
    ...extra,
  };
}

const CHROME_LINUX =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36';

function recorder(windowMs = 60_000) {
  let now = 1_000_000;
  const player = fakePlayer();
  const rec = new ReportRecorder(player as unknown as RecordedPlayer, {
    windowMs,
    now: () => now,
    userAgent: CHROME_LINUX,
  });
  return { rec, player, tick: (ms = 1000) => (now += ms), now: () => now };
}

describe('ReportRecorder', () => {
  it('keeps only the last window of 1 Hz samples, with deltas (kbps, loss %) per second', () => {
    const { rec, tick, now } = recorder(10_000);
    for (let s = 0; s < 30; s++) {
      rec.record(stats(s * 30, { packetsLost: s, inboundVideoPackets: s * 99, inboundAudioPackets: 0 }));
      tick();
    }
    const figures = ReportFigures.parse(rec.figures());
    expect(figures.samples.length).toBe(10);
    expect(figures.samples[0]!.at).toBeGreaterThanOrEqual(now() - 10_000);
    const last = figures.samples.at(-1)!;
    expect(last).toMatchObject({ path: 'webrtc', nodeId: 'eu-1', region: 'eu', rttMs: 8, jitterMs: 2.5, fps: 30 });
    expect(last.framesDecoded).toBe(29 * 30);
    // 30 frames × 1000 bytes a second = 240 kbit/s; 1 lost of 100 a second = 1 %.
    expect(last.kbps).toBeCloseTo(240, 5);
    expect(last.lossPct).toBeCloseTo(1, 5);
    expect(figures.placementRtts).toEqual({ eu: 12, asia: null });
    expect(figures.browser).toBe('Chrome 131');
    expect(figures.os).toBe('Linux');
  });

  it('a freeze runs from the last sample that decoded to the first that decodes again; an open one counts to now', () => {
    const { rec, tick } = recorder();
    rec.record(stats(100));
    tick();
    const start = rec.figures().samples.at(-1)!.at;
    rec.record(stats(130));
    tick();
    rec.record(stats(130));
    tick();
    rec.record(stats(130));
    tick();
    rec.record(stats(160));
    tick();
    expect(rec.figures().freezes).toEqual([{ at: start + 1000, durationMs: 3000 }]);
    rec.record(stats(160));
    tick(500);
    const open = rec.figures().freezes.at(-1)!;
    expect(open).toEqual({ at: start + 4000, durationMs: 1500 });
  });

  it("a sample right after the timer's (the report button's, answered from the browser's cached stats) keeps the bitrate and is no freeze", () => {
    const { rec, tick } = recorder();
    rec.record(stats(100));
    tick();
    rec.record(stats(130));
    tick(20);
    rec.record(stats(130));
    const last = rec.figures().samples.at(-1)!;
    // Against the sample 1,020 ms before: 30 frames × 1000 bytes in 1.02 s, not 0 over the last 20 ms.
    expect(last.kbps).toBeCloseTo(240 / 1.02, 5);
    expect(rec.figures().freezes).toEqual([]);
    tick(980);
    rec.record(stats(160));
    expect(rec.figures().samples.at(-1)!.kbps).toBeCloseTo(240 / 0.98, 5);
    expect(rec.figures().freezes).toEqual([]);
  });

  it('a new session (counters back to zero) is not a freeze, nor negative bitrate', () => {
    const { rec, tick } = recorder();
    rec.record(stats(300));
    tick();
    rec.record(stats(10, { nodeId: 'eu-2' }));
    tick();
    const [, second] = rec.figures().samples;
    expect(rec.figures().freezes).toEqual([]);
    expect(second).toMatchObject({ nodeId: 'eu-2', kbps: null, lossPct: null });
  });

  it('names the path webrtc-tcp on ICE-TCP, hls on the fallback, none with nothing playing', () => {
    const { rec, tick } = recorder();
    rec.record(stats(10, { iceProtocol: 'tcp' }));
    tick();
    const placement = { nodeUrl: 'http://127.0.0.1:2', nodeId: 'eu-2', region: 'eu' } as PlayerStats['placement'];
    rec.record(
      stats(20, { path: 'hls', iceProtocol: undefined, nodeId: null, nodeUrl: 'http://127.0.0.1:2', placement }),
    );
    tick();
    rec.record(null);
    expect(rec.figures().samples.map((s) => s.path)).toEqual(['webrtc-tcp', 'hls', 'none']);
    // HLS stats name no node: the placement's, when HLS plays from the placed node.
    expect(rec.figures().samples.map((s) => [s.nodeId, s.region])).toEqual([
      ['eu-1', 'eu'],
      ['eu-2', 'eu'],
      [null, null],
    ]);
  });

  it('records moves along the ladder with their reasons, from the player state events, within the window', () => {
    const { rec, player, tick } = recorder(5_000);
    rec.start();
    try {
      player.change('webrtc', 'playing');
      player.change('hls', 'fallback: no decoded frame for 2000 ms');
      tick(6_000);
      player.change('webrtc', 'upgraded: tcp decoded frames');
      const { fallbacks } = rec.figures();
      expect(fallbacks).toHaveLength(1);
      expect(fallbacks[0]).toMatchObject({ from: 'hls', to: 'webrtc', reason: 'upgraded: tcp decoded frames' });
    } finally {
      rec.stop();
    }
  });

  it('short platform names, never the user agent string', () => {
    expect(platformOf(CHROME_LINUX)).toEqual({ browser: 'Chrome 131', os: 'Linux' });
    expect(platformOf('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0')).toEqual({
      browser: 'Firefox 133',
      os: 'Windows',
    });
    expect(
      platformOf(
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      ),
    ).toEqual({ browser: 'Safari 17', os: 'iOS' });
    expect(platformOf('curl/8.0')).toEqual({ browser: 'other', os: 'other' });
  });
});

describe('sendProblemReport', () => {
  const submission = {
    stream: 'match',
    sessionId: 'abcdefgh',
    nodeId: 'eu-1',
    region: 'eu',
    path: 'webrtc',
    text: 'x',
    figures: { samples: [], freezes: [], fallbacks: [], placementRtts: {}, browser: 'b', os: 'o' },
  };

  it('posts JSON with the bearer token to /reports and returns the id', async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ id: 'r-1' }), { status: 201 }));
    expect(await sendProblemReport('http://node:1/watch', 'tok', submission, fetchImpl)).toBe('r-1');
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [URL, RequestInit];
    expect(String(url)).toBe('http://node:1/reports');
    expect(init.headers).toMatchObject({ authorization: 'Bearer tok' });
    expect(JSON.parse(String(init.body))).toEqual(submission);
  });

  it("rejects with the problem's detail, status and Retry-After", async () => {
    const fetchImpl = async () =>
      new Response(JSON.stringify({ status: 429, title: 'Too Many Requests', detail: 'too many reports' }), {
        status: 429,
        headers: { 'retry-after': '42' },
      });
    const err = await sendProblemReport('http://node:1', 'tok', submission, fetchImpl).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReportError);
    expect((err as ReportError).status).toBe(429);
    expect((err as ReportError).message).toBe('too many reports (retry after 42 s)');
  });
});
