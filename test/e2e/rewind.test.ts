import { HlsScores, hlsScoresPath } from '@matchmesh/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATTERN_FPS } from '../../apps/origin/src/pattern-layout.ts';
import { installFrameProbe, type ProbedFrame, probedFrames } from '../src/frame-probe.ts';
import { type LiveMatch, startLiveMatch } from '../src/match.ts';
import { token } from '../src/node.ts';
import { expectAboveFloor } from '../src/noise-floor.ts';

/**
 * The viewer page's replay controls: −10 s plays the relay's HLS window ten
 * seconds back, with the score that belongs to each frame shown; LIVE goes
 * back to WebRTC. Frame numbers burned into the picture say what the viewer
 * saw.
 */
describe('rewind and back to live in the viewer page', () => {
  const stream = 'rewind';
  let match: LiveMatch;

  const framesSince = async (t: number, path: string): Promise<ProbedFrame[]> =>
    (await probedFrames(match.viewer)).filter(([at, , , p]) => at > t && p === path);
  const waitForFrames = (t: number, path: string, n: number): Promise<unknown> =>
    match.viewer.waitForFunction(
      ([since, p, count]) =>
        ((window as unknown as { __mmFrames: [number, number, number, string][] }).__mmFrames ?? []).filter(
          ([at, , , path]) => at > (since as number) && path === p,
        ).length >= (count as number),
      [t, path, n] as const,
      { timeout: 20_000 },
    );

  beforeAll(async () => {
    // Packaged from the start (as `npm start` does for its match), so there is a window to go back in.
    match = await startLiveMatch(stream, {
      nodeEnv: { MM_HLS_ALWAYS: stream },
      originEnv: { MM_SCORE_INTERVAL_MS: '500' },
    });
    await installFrameProbe(match.viewer);
  });

  afterAll(async () => {
    await match?.stop();
  });

  it('−10 s plays the HLS window ten seconds back with each frame’s own score; LIVE returns to WebRTC', async () => {
    const { viewer, node } = match;
    // 14 s of stream on screen first: the window then holds the 10 s to go back.
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 14 * 30, undefined, {
      timeout: 40_000,
    });
    // Where live is: the newest WebRTC frame and when it was on screen.
    const [liveAt, liveFrame] = (await probedFrames(viewer)).filter(([, , , p]) => p === 'webrtc').at(-1)!;
    const behindLiveFrames = ([at, frame]: ProbedFrame) => liveFrame + ((at - liveAt) * PATTERN_FPS) / 1000 - frame;
    // Noise floor, measured first: how far the loaded machine alone moves a live WebRTC frame off that
    // line (a late frame callback, a jitter buffer grown under load) over the 3 s before the click.
    // The back-to-live bound below applies to what the replay round trip adds above it.
    const floorMs = Math.round(
      Math.max(
        0,
        ...(await probedFrames(viewer))
          .filter(([at, , , p]) => p === 'webrtc' && at >= liveAt - 3000 && at <= liveAt)
          .map((f) => Math.abs(behindLiveFrames(f)))
          // A misread strip gives a wild frame number: not a position.
          .filter((frames) => frames <= PATTERN_FPS)
          .map((frames) => (frames * 1000) / PATTERN_FPS),
      ),
    );
    console.log(`rewind: noise floor, live frames up to ${floorMs} ms off the live line before the click`);

    const clicked = Date.now();
    await viewer.getByTestId('rewind-10').click();
    await viewer.waitForFunction(
      () => window.__mm!.path === 'hls' && window.__mm!.reason.startsWith('rewind:'),
      undefined,
      {
        timeout: 15_000,
      },
    );
    const behind = await viewer.evaluate(() => window.__mm!.behindLive);
    expect(behind).toBeGreaterThanOrEqual(9);
    expect(behind).toBeLessThanOrEqual(11);
    expect(await viewer.getByTestId('replay').getAttribute('data-behind')).toBe(String(Math.round(behind)));
    const seeked = Date.now();
    await waitForFrames(seeked, 'hls', 60);
    const replay = await framesSince(seeked, 'hls');
    // What is on screen is about 10 s (plus HLS's own distance from live) older than live.
    const seconds = replay.map((f) => behindLiveFrames(f) / PATTERN_FPS).sort((a, b) => a - b);
    const median = seconds[Math.floor(seconds.length / 2)]!;
    console.log(
      `rewind: clicked −10 s, HLS ${behind.toFixed(1)} s behind its live edge after ${seeked - clicked} ms; the picture is ${median.toFixed(2)} s behind live`,
    );
    expect(median).toBeGreaterThanOrEqual(behind - 0.5);
    expect(median).toBeLessThanOrEqual(behind + 3);

    // Each replayed frame shows its own score: the latest update whose frame it has reached.
    const log = HlsScores.parse(
      await (await fetch(`${node.url}${hlsScoresPath(stream, await token('viewer', stream))}`)).json(),
    );
    const frameOf = (mediaTime: number) => Math.round((mediaTime * PATTERN_FPS) / 1000);
    const truth = (frame: number) =>
      log.updates.reduce((best, u) => (frameOf(u.mediaTime) <= frame && u.seq > best ? u.seq : best), -1);
    const placed = replay.filter(([, frame, seq, , mediaTime]) => seq >= 0 && frameOf(mediaTime) === frame);
    const right = placed.filter(([, frame, seq]) => seq === truth(frame)).length;
    const changes = new Set(placed.map(([, , seq]) => seq)).size - 1;
    console.log(
      `rewind: ${right}/${placed.length} placed frames show their own score, ${changes} score changes replayed`,
    );
    // What the unplaced frames were, for a failure's message: no score shown, no mediaTime, or a mediaTime
    // off the frame by n frames (n: count).
    const offBy = new Map<number, number>();
    for (const [, frame, , , mediaTime] of replay) {
      const n = mediaTime < 0 ? Number.NaN : frameOf(mediaTime) - frame;
      offBy.set(n, (offBy.get(n) ?? 0) + 1);
    }
    // When the HLS session's score log (its timeline anchors) answered, against the seek: until then no frame is placed.
    const scoreLogAnswers = await viewer.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((e) => e.name.includes('scores.json'))
        .map((e) => Math.round(performance.timeOrigin + (e as PerformanceResourceTiming).responseEnd)),
    );
    const firstAnswer = scoreLogAnswers.find((at) => at > clicked);
    const answered = `the HLS score log first answered ${firstAnswer === undefined ? '(not recorded)' : `${firstAnswer - seeked} ms`} after the seek`;
    console.log(`rewind: ${answered}`);
    const unplaced = `${answered}; ${replay.filter(([, , seq]) => seq < 0).length}/${replay.length} without a score; mediaTime − frame (frames: count) ${JSON.stringify([...offBy])}`;
    const diagnostics = await viewer.evaluate(() => ({
      clock: window.__mm!.hlsClock,
      states: window.__mm!.stateLog.slice(-8).map((s) => `${s.path} ${s.reason}`),
    }));
    console.log(`rewind: the HLS clock and the last player states ${JSON.stringify(diagnostics)}`);
    expect(placed.length, `${unplaced}; ${JSON.stringify(diagnostics)}`).toBeGreaterThanOrEqual(40);
    expect(changes).toBeGreaterThanOrEqual(2);
    expect(right).toBe(placed.length);

    // One click back to live.
    const live = Date.now();
    await viewer.getByTestId('go-live').click();
    await viewer.waitForFunction(() => window.__mm!.path === 'webrtc' && window.__mm!.behindLive === 0, undefined, {
      timeout: 15_000,
    });
    const back = Date.now();
    await waitForFrames(back, 'webrtc', 30);
    const after = await framesSince(back, 'webrtc');
    const [nowAt, nowFrame] = after.at(-1)!;
    // Live again: the newest frame is where live would be now (within half a second).
    const lag = (liveFrame + ((nowAt - liveAt) * PATTERN_FPS) / 1000 - nowFrame) / PATTERN_FPS;
    console.log(`rewind: back on WebRTC ${back - live} ms after LIVE, ${lag.toFixed(2)} s behind live`);
    expectAboveFloor('rewind: back to live, distance from live', Math.abs(lag) * 1000, floorMs, 500);
  });
});
