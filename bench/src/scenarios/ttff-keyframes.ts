// Issue 20 — key frames on demand, measured inside the ttff scenario: the
// same node serves two streams of the same test pattern, one from an origin
// whose GStreamer encoder forces a key frame on the ingest's request (the
// default) and one whose ffmpeg encoder cannot (MM_ORIGIN_ENCODER=ffmpeg);
// fresh /watch loads alternate between them. WHEP first frames beside them.
// Then the bitrate a forced key frame costs: the encoder alone (in this
// process, real ffmpeg + GStreamer), asked for a key frame every interval —
// the most the mesh lets through for a stream, whatever the size of a join
// storm (1,000 joins over 10 s: one request per 300 ms) — against the same
// encoder left to its GOP.
import { MediaSource, quietLogger, TESTPATTERN } from '@matchmesh/origin';
import type { Browser } from 'playwright-core';
import { whepPlayInPage } from '../../../test/src/webrtc-page.ts';
import { type Mesh, type TestNode, token } from '../mesh.ts';
import type { ScenarioResult } from '../registry.ts';
import { percentile, sleep } from '../stats.ts';

const NO_KF_STREAM = 'bench-ttff-ffmpeg';

interface Loads {
  fromNavigation: number[];
  fromPlayer: number[];
  whep: number[];
}

async function watchOnce(browser: Browser, url: string): Promise<{ nav: number; player: number | undefined }> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(url);
    const handle = await page.waitForFunction(
      () => ((window.__mm?.framesDecoded() ?? 0) >= 1 ? performance.now() : false),
      undefined,
      { timeout: 20_000, polling: 'raf' },
    );
    const nav = (await handle.jsonValue()) as number;
    const created = await page.evaluate(() => {
      const first = window.__mm!.stateLog[0];
      return first ? first.at - performance.timeOrigin : undefined;
    });
    return { nav, player: created === undefined ? undefined : nav - created };
  } finally {
    await context.close();
  }
}

async function whepOnce(browser: Browser, node: TestNode, stream: string): Promise<number | undefined> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const r = await whepPlayInPage(page, `${node.url}/whep/${stream}`, await token('viewer', stream), 1);
    return r.firstFrameMs;
  } finally {
    await context.close();
  }
}

/** Video bytes the encoder sends in `seconds`, with a key-frame request every `everyMs` (0 = none). */
export async function encoderBytes(
  seconds: number,
  everyMs: number,
): Promise<{ kbps: number; forced: number; periodic: number }> {
  let bytes = 0;
  let counting = false;
  const media = new MediaSource(
    {
      source: TESTPATTERN,
      videoBitrateKbps: 1500,
      size: { width: 1280, height: 720 },
      gopFrames: 30,
      burnStrips: true,
      encoder: 'gstreamer',
      pythonPath: '/usr/bin/python3',
      loop: true,
      listen: false,
      ffmpegPath: 'ffmpeg',
      restartDelayMs: 1000,
      logger: quietLogger(),
    },
    (kind, packet) => {
      if (counting && kind === 'video') bytes += packet.length;
    },
  );
  await media.start();
  await sleep(2000); // past the encoder's start and its rate control settling
  const before = { forced: media.keyFrames.forced[0] ?? 0, periodic: media.keyFrames.periodic[0] ?? 0 };
  counting = true;
  const timer = everyMs > 0 ? setInterval(() => media.requestKeyFrame(), everyMs) : undefined;
  await sleep(seconds * 1000);
  counting = false;
  clearInterval(timer);
  const after = { forced: media.keyFrames.forced[0] ?? 0, periodic: media.keyFrames.periodic[0] ?? 0 };
  await media.stop();
  return {
    kbps: (bytes * 8) / seconds / 1000,
    forced: after.forced - before.forced,
    periodic: after.periodic - before.periodic,
  };
}

const row = (name: string, xs: number[]) => [
  name,
  xs.length,
  percentile(xs, 50),
  percentile(xs, 95),
  percentile(xs, 100),
];

export async function keyFrameComparison(
  env: { mesh: Mesh; node: TestNode; browser: Browser },
  onDemandStream: string,
  joins: number,
  ladder: string,
  intervalMs = 300,
): Promise<ScenarioResult['tables']> {
  await env.mesh.origin(env.node, NO_KF_STREAM, { MM_LADDER: ladder, MM_ORIGIN_ENCODER: 'ffmpeg' });
  await env.mesh.waitLive(env.node, NO_KF_STREAM);
  const loads: Record<'on' | 'off', Loads> = {
    on: { fromNavigation: [], fromPlayer: [], whep: [] },
    off: { fromNavigation: [], fromPlayer: [], whep: [] },
  };
  const streams = { on: onDemandStream, off: NO_KF_STREAM } as const;
  for (let i = 0; i < joins; i++) {
    for (const mode of ['on', 'off'] as const) {
      const stream = streams[mode];
      const w = await watchOnce(
        env.browser,
        `${env.node.url}/watch?stream=${stream}&token=${await token('viewer', stream)}`,
      );
      loads[mode].fromNavigation.push(w.nav);
      if (w.player !== undefined) loads[mode].fromPlayer.push(w.player);
      const whep = await whepOnce(env.browser, env.node, stream);
      if (whep !== undefined) loads[mode].whep.push(whep);
      // Apart by more than the coalescing interval: each join's request is its own.
      await sleep(1000);
    }
  }
  const seconds = 8;
  const plain = await encoderBytes(seconds, 0);
  const storm = await encoderBytes(seconds, intervalMs);
  const overhead = ((storm.kbps - plain.kbps) / plain.kbps) * 100;
  return [
    {
      title: `time to first frame with and without key frames on demand (${joins} loads each, alternating; 1 s GOP)`,
      columns: ['figure', 'samples', 'p50 ms', 'p95 ms', 'max ms'],
      rows: [
        row('on demand (GStreamer x264): navigation → first frame', loads.on.fromNavigation),
        row('on demand: player start → first frame', loads.on.fromPlayer),
        row('on demand: WHEP POST → first frame', loads.on.whep),
        row('baseline, GOP only (ffmpeg): navigation → first frame', loads.off.fromNavigation),
        row('baseline: player start → first frame', loads.off.fromPlayer),
        row('baseline: WHEP POST → first frame', loads.off.whep),
      ],
      notes: [
        `p50 saved by key frames on demand: ${((percentile(loads.off.fromNavigation, 50) ?? 0) - (percentile(loads.on.fromNavigation, 50) ?? 0)).toFixed(0)} ms from navigation, ${((percentile(loads.off.fromPlayer, 50) ?? 0) - (percentile(loads.on.fromPlayer, 50) ?? 0)).toFixed(0)} ms from player start`,
      ],
    },
    {
      title: `bitrate cost of forced key frames (720p30 1500 kbit/s test pattern, 1 s GOP, ${seconds} s each)`,
      columns: ['figure', 'video kbit/s', 'forced key frames', 'periodic key frames'],
      rows: [
        [
          `a key-frame request every ${intervalMs} ms (the mesh's most for a stream: any join storm)`,
          storm.kbps,
          storm.forced,
          storm.periodic,
        ],
        ['baseline: no request (GOP only)', plain.kbps, plain.forced, plain.periodic],
      ],
      notes: [
        `overhead ${overhead.toFixed(1)} % (goal ≤ 10 % during a 1,000-join storm); x264's VBV (0.5 s) keeps the rate, so forced key frames cost picture quality more than bytes`,
      ],
    },
  ];
}
