import { afterEach, describe, expect, it } from 'vitest';
import { OriginAgent } from '../src/agent.ts';
import { buildGstPipeline } from '../src/gst-pipeline.ts';
import { KeyFrameGate } from '../src/keyframe-gate.ts';
import { parseLadder } from '../src/ladder.ts';
import { until } from './wait.ts';
import { type AnswererSession, TestWhipAnswerer, type VideoStreamTap } from './whip-answerer.ts';

/*
 * "Key frame now" (issue 20): the ingest's PLI reaches the GStreamer encoder
 * and comes back as a key frame long before the periodic one, in every layer
 * on the same frame; requests arriving together make one key frame.
 */

const TOKEN = 'publisher-token-0123456789';
/** A long GOP: a key frame that arrives well inside it was forced. */
const GOP_MS = 4000;
const FRAME_TICKS = 3000;

describe('KeyFrameGate', () => {
  it('forwards a request at once, merges those within the window into the key frame in flight, forwards again after it', () => {
    let now = 0;
    let taken = 0;
    const gate = new KeyFrameGate(
      100,
      () => {
        taken++;
        return true;
      },
      () => now,
    );
    gate.request(); // t=0: forwarded
    now = 1;
    gate.request(); // a PLI for another layer a millisecond later: merged
    gate.request();
    now = 99;
    gate.request(); // still answered by the key frame in flight
    now = 100;
    gate.request(); // forwarded
    expect(taken).toBe(2);
    expect(gate.counts).toEqual({ received: 5, forwarded: 2, merged: 3 });
  });

  it('does not start a window when the encoder cannot take the request (ffmpeg)', () => {
    let now = 0;
    const gate = new KeyFrameGate(
      100,
      () => false,
      () => now,
    );
    gate.request();
    now = 1;
    gate.request();
    expect(gate.counts).toEqual({ received: 2, forwarded: 0, merged: 0 });
  });
});

describe('the GStreamer pipeline', () => {
  it('reads raw frames on fd 3, tees them to one named x264enc per layer (scaled, capped) and one RTP port each', () => {
    const ladder = parseLadder('640x360@30:600,320x180@15:300');
    const text = buildGstPipeline({
      width: 640,
      height: 360,
      fps: 30,
      gopFrames: 30,
      preset: 'ultrafast',
      layers: ladder.map((l, i) => ({ ...l, port: 5010 + i })),
    });
    expect(text).toMatch(
      /^fdsrc fd=3 blocksize=345600 ! queue [^!]+ ! rawvideoparse name=raw format=i420 width=640 height=360/,
    );
    expect(text).toContain('tee name=split');
    // Each layer encodes in its own thread.
    expect(text.match(/split\. ! queue /g)).toHaveLength(2);
    // The low layer: scaled, thinned to 15 fps, and its GOP counted in its own frames (the same instants).
    expect(text).toContain('videoscale method=bilinear ! video/x-raw,width=320,height=180');
    expect(text).toContain('videorate drop-only=true max-rate=15 ! x264enc name=enc0');
    expect(text).toMatch(/name=enc0 [^!]*key-int-max=15 /);
    expect(text).toMatch(/name=enc1 [^!]*key-int-max=30 /);
    expect(text).toContain(`ssrc=${ladder[1]!.ssrc} mtu=1200 config-interval=0`);
    expect(text).toContain('udpsink host=127.0.0.1 port=5011');
    // GStreamer's spelling of level 3.0.
    expect(text).toContain('level=(string)3 ');
  });
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function publish(ladder: string | undefined, size = { width: 640, height: 360 }) {
  const answerer = new TestWhipAnswerer(TOKEN);
  answerer.dtlsSetup = 'passive';
  const url = await answerer.start();
  cleanups.push(() => answerer.stop());
  const agent = new OriginAgent({
    ingestUrl: url,
    stream: 'kf',
    token: TOKEN,
    encoder: 'gstreamer',
    keyframeIntervalMs: GOP_MS,
    videoSize: size,
    videoBitrateKbps: 600,
    ladder: ladder ? parseLadder(ladder) : undefined,
    scoreIntervalMs: 0,
    useIpv6: false,
  });
  cleanups.push(() => agent.stop());
  await agent.start();
  expect(agent.encoder).toBe('gstreamer');
  return { answerer, agent };
}

const session = (a: TestWhipAnswerer): AnswererSession | undefined => a.sessions.at(-1);
const taps = (s: AnswererSession): VideoStreamTap[] => [...s.videoStreams.values()];

/** The PLI a mediasoup ingest sends: for the given video SSRCs, from the receiver of the video m-section. */
async function sendPli(s: AnswererSession, ssrcs: number[]): Promise<void> {
  const video = s.pc.getTransceivers().find((t) => t.kind === 'video')!;
  await Promise.all(ssrcs.map((ssrc) => video.receiver.sendRtcpPLI(ssrc)));
}

/** Wait until every tap is `frames` frames past its last key frame, then PLI and time the next key frame. */
async function forcedKeyFrame(answerer: TestWhipAnswerer, agent: OriginAgent, layers: number, frames: number) {
  // The stand-in's first session sometimes fails (see simulcast.test.ts) and the agent reconnects: follow the one that carries video.
  await until(answerer, 'rtp', () => (session(answerer)?.videoStreams.size ?? 0) === layers, `${layers} video streams`);
  const s = session(answerer)!;
  await until(
    answerer,
    'rtp',
    () =>
      s.videoStreams.size === layers &&
      taps(s).every(
        (t) => t.keyframeTimestamps.length > 0 && t.last!.ts - t.keyframeTimestamps.at(-1)! >= frames * FRAME_TICKS,
      ),
    `every layer ${frames} frames past a key frame`,
  );
  const before = taps(s).map((t) => t.keyframeTimestamps.length);
  const lastKey = taps(s).map((t) => t.keyframeTimestamps.at(-1)!);
  const stats = agent.stats.keyFrames;
  const askedAt = performance.now();
  await sendPli(s, [...s.videoStreams.keys()]);
  await until(
    answerer,
    'rtp',
    () => taps(s).every((t, i) => t.keyframeTimestamps.length > before[i]!),
    'a key frame after the PLI in every layer',
  );
  const ms = performance.now() - askedAt;
  const next = taps(s).map((t, i) => t.keyframeTimestamps[before[i]!]!);
  return { ms, next, lastKey, stats };
}

describe('key frame on request (GStreamer encoder, real ffmpeg + GStreamer)', () => {
  it('answers a PLI with a key frame within a few frames, long before the 4 s GOP would', async () => {
    const { answerer, agent } = await publish(undefined);
    await until(answerer, 'session', () => session(answerer) !== undefined, 'a session');
    const { ms, next, lastKey } = await forcedKeyFrame(answerer, agent, 1, 30);
    console.log(
      `key frame ${ms.toFixed(0)} ms after the PLI, ${(next[0]! - lastKey[0]!) / FRAME_TICKS} frames after the previous one`,
    );
    // The periodic key frame is 120 frames after the previous one; this one came on request.
    expect(next[0]! - lastKey[0]!).toBeLessThan((GOP_MS / 1000) * 30 * FRAME_TICKS * 0.75);
    expect(ms).toBeLessThan(1000);
    const stats = agent.stats;
    expect(stats.keyFrames.forwarded).toBeGreaterThanOrEqual(1);
    expect(stats.keyFrames.forced[0]).toBeGreaterThanOrEqual(1);
  });

  it('with a ladder: one PLI per layer at once makes one key frame, on the same frame in every layer', async () => {
    const { answerer, agent } = await publish('640x360@30:600,320x180@30:300,160x90@30:150');
    await until(answerer, 'session', () => session(answerer) !== undefined, 'a session');
    const { ms, next, stats: before } = await forcedKeyFrame(answerer, agent, 3, 30);
    console.log(`ladder: key frame in all 3 layers ${ms.toFixed(0)} ms after the PLIs`);
    expect(new Set(next).size).toBe(1);
    const after = agent.stats.keyFrames;
    expect(after.received - before.received).toBe(3);
    expect(after.forwarded - before.forwarded).toBe(1);
    // Counted at the encoder: exactly one forced key frame per layer for the three requests.
    await until(
      answerer,
      'rtp',
      () => agent.stats.keyFrames.forced.every((n, i) => n > before.forced[i]!),
      'forced counts',
    );
    expect(agent.stats.keyFrames.forced.map((n, i) => n - before.forced[i]!)).toEqual([1, 1, 1]);
  });

  it('at 720p (two slices per frame) sends one SPS/PPS per key frame, before its first IDR slice', async () => {
    // The payloader's own SPS/PPS before each IDR *slice* made the HLS packager split every key frame
    // into two half pictures (bench g2g's hls.js page read 3–9 clocks in 10 s): x264's are the only ones.
    const { answerer } = await publish(undefined, { width: 1280, height: 720 });
    await until(answerer, 'session', () => session(answerer) !== undefined, 'a session');
    await until(
      answerer,
      'rtp',
      () => {
        const t = session(answerer) && taps(session(answerer)!)[0];
        // A key frame that is complete: a later frame has started.
        return t !== undefined && [...t.keyframeNals.keys()].some((ts) => ts !== t.current?.ts);
      },
      'a whole 720p key frame',
    );
    const tap = taps(session(answerer)!)[0]!;
    const [ts, nals] = [...tap.keyframeNals].find(([ts]) => ts !== tap.current?.ts)!;
    console.log(`720p key frame at ${ts}: NAL types ${nals.join(',')}`);
    expect(nals.filter((t) => t === 5).length).toBeGreaterThanOrEqual(2);
    expect(nals.filter((t) => t === 7)).toEqual([7]);
    expect(nals.filter((t) => t === 8)).toEqual([8]);
    expect(nals.indexOf(7)).toBeLessThan(nals.indexOf(5));
    expect(nals.lastIndexOf(7)).toBeLessThan(nals.indexOf(5));
  });
});
