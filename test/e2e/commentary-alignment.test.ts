import { HLS_JS_CONFIG } from '@matchmesh/client';
import { BoothResponse } from '@matchmesh/protocol';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATTERN_FPS } from '../../apps/origin/src/pattern-layout.ts';
import {
  behindOrigin,
  installClickEar,
  installClickMicrophone,
  installFrameReader,
  median,
  type SeenFrame,
  seenFrames,
} from '../src/click-sync.ts';
import { openHlsPage, waitForHlsFrames } from '../src/hls-page.ts';
import { type LiveMatch, startLiveMatch } from '../src/match.ts';
import { commentatorToken, token } from '../src/node.ts';
import { TestSignaling } from '../src/signaling.ts';
import { whepLanguagePlayerInPage } from '../src/webrtc-page.ts';

/** The issue's bound: a reaction heard within this of the frame it reacts to (the median of CLICKS clicks). */
const ALIGNED_MS = 80;
/** Clicks timed in a steady state (the program's target unchanged while each travelled). */
const CLICKS = 8;

const viewerStats = (viewer: Page) => viewer.evaluate(() => window.__mm!.stats());

/**
 * The newest media time a (LL-)HLS media playlist lists, as a program date time (ms): the last
 * EXT-X-PROGRAM-DATE-TIME plus the segments and parts listed after it.
 */
function playlistEdgeMs(playlist: string): number {
  let cursor = Number.NaN;
  let parts = 0;
  for (const line of playlist.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      cursor = Date.parse(line.slice(25));
      parts = 0;
    } else if (line.startsWith('#EXTINF:')) {
      cursor += Number.parseFloat(line.slice(8)) * 1000;
      parts = 0;
    } else if (line.startsWith('#EXT-X-PART:')) {
      parts += Number.parseFloat(/DURATION=([\d.]+)/.exec(line)![1]!) * 1000;
    }
  }
  return cursor + parts;
}

/**
 * A click timed on a viewer: heard − presented (ms) for its frame — a frame the screen skipped counts as the
 * next one presented, a frame interval per number earlier; 'frozen' when nothing was presented within 10
 * frames after it; 'unheard' when no onset is within 500 ms (clicks are a second apart: the nearest is its own).
 */
function timeClick(seen: SeenFrame[], heard: number[], click: { frame: number }): number | 'frozen' | 'unheard' {
  const shown = seen.find(([, f]) => f >= click.frame && f - click.frame < 10);
  if (!shown) return 'frozen';
  const [at, frame] = shown;
  const presented = at - ((frame - click.frame) * 1000) / PATTERN_FPS;
  const nearest = heard.reduce((a, b) => (Math.abs(b - presented) < Math.abs(a - presented) ? b : a), Infinity);
  return Math.abs(nearest - presented) < 500 ? Math.round(nearest - presented) : 'unheard';
}

/** Until `read` (polled every 250 ms) held within ±15 ms for 2 s: a delay or playout target that settled. */
async function untilSteady(read: () => Promise<number>): Promise<void> {
  const values: number[] = [];
  await expect
    .poll(
      async () => {
        values.push(await read());
        const last = values.slice(-8);
        return last.length === 8 ? Math.max(...last) - Math.min(...last) : Number.POSITIVE_INFINITY;
      },
      { timeout: 30_000, interval: 250 },
    )
    .toBeLessThanOrEqual(30);
}

/** Until the page's picture is `want` ms or more behind the origin's clock (median of its last 15 frames). */
async function untilBehind(page: Page, want: number): Promise<void> {
  await page.waitForFunction(
    (wanted) => {
      const seen = window.__mmSeen ?? [];
      const lags = seen.slice(-15).map(([at, , clock]) => (((Math.round(at) - clock) % 2 ** 32) + 2 ** 32) % 2 ** 32);
      lags.sort((a, b) => a - b);
      return lags.length === 15 && lags[7]! >= wanted;
    },
    want,
    { timeout: 20_000, polling: 200 },
  );
}

/** Median delay behind the origin's burned-in clock of the page's last `n` presented frames. */
const latency = async (page: Page, n = 30): Promise<number> =>
  median((await seenFrames(page)).slice(-n).map(behindOrigin));

/**
 * Commentary aligned with the picture (issue 16 item 2): a commentator's
 * microphone is a WebAudio source the test drives; it clicks when the booth's
 * own video presents burned-in frame F. The node measures the commentator's
 * view delay (reported by the booth page) and their voice's way through the
 * mixer, and a WebRTC viewer hearing that language holds the picture back by
 * as much: the viewer hears each click within ±80 ms of presenting frame F.
 */
describe('commentary aligned with the picture', () => {
  const stream = 'align';
  let match: LiveMatch;
  let booth: Page;
  /**
   * A WHEP player of en (`?lang=en`: its picture from the node's en delay line), playing while the WebRTC
   * viewer's clicks are timed, so its load is in the same-run D and the same clicks time both.
   */
  let whep: Page;
  /** The WebRTC half's clicks that it timed in a steady state. */

  beforeAll(async () => {
    match = await startLiveMatch(stream);
  });

  afterAll(async () => {
    await match?.stop();
  });

  it('puts a reaction on the frame it reacts to for a WebRTC viewer', async () => {
    const { viewer, node, browser } = match;
    await installFrameReader(viewer);
    await viewer.waitForFunction(() => (window.__mmSeen?.length ?? 0) >= 60, undefined, { timeout: 10_000 });
    const before = await latency(viewer, 60);

    booth = await browser.newPage();
    await installClickMicrophone(booth);
    await booth.goto(
      `${node.url}/commentate?stream=${stream}&token=${await commentatorToken(stream, 'en')}&autostart=1`,
    );
    await booth.waitForFunction(() => window.__mmBooth?.state === 'live', undefined, { timeout: 20_000 });
    await booth.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 20_000 });
    await installFrameReader(booth);

    // The viewer hears en (the default language) and holds the picture back by its measured delay.
    // Polled from here: Playwright's waitForFunction takes an async predicate's promise as its truthy answer.
    await expect
      .poll(() => viewerStats(viewer), { timeout: 20_000, interval: 250 })
      .toSatisfy((s) => (s.commentaryDelayMs ?? 0) > 0 && (s.programPlayoutMs ?? 0) >= (s.commentaryDelayMs ?? 0));
    // The booth's first seconds on air: its view delay, the mixer's and the viewer's buffers settle, and the
    // program's target follows them each second. Clicks are timed once the target held (±15 ms) for 2 s.
    await untilSteady(async () => (await viewerStats(viewer)).programPlayoutMs ?? 0);
    // Chromium builds a raised playout delay up gradually: wait until the picture is that much later.
    const { commentaryDelayMs } = await viewerStats(viewer);
    await untilBehind(viewer, before + commentaryDelayMs! - 40);
    await installClickEar(viewer, 'en');

    const deltas: number[] = [];
    /** From the booth's click to the viewer hearing it: the voice's whole way. */
    const voicePaths: number[] = [];
    let frozen = 0;
    let unheard = 0;
    let unsettled = 0;
    // CLICKS timed in a steady state, out of at most twice as many clicks.
    for (let k = 0; deltas.length < CLICKS && k < 2 * CLICKS; k++) {
      const targetBefore = (await viewerStats(viewer)).programPlayoutMs ?? 0;
      const last = (await seenFrames(booth)).at(-1)![1];
      const clicked = await booth.evaluate((f) => window.__mmClickAtFrame!(f), last + 15);
      // The click heard after it was made (never an earlier one), and the viewer past frame F.
      const heardAt = await viewer
        .waitForFunction(
          ({ after, frame }) => {
            const heard = (window.__mmHeard ?? []).find((t) => t > after);
            return heard !== undefined && (window.__mmSeen ?? []).some(([, f]) => f >= frame + 3) ? heard : null;
          },
          { after: clicked.at, frame: clicked.frame },
          { timeout: 5_000, polling: 100 },
        )
        .then((h) => h.jsonValue())
        .catch(() => null);
      // Not heard within 5 s: lost on the way (the count below bounds how many may be).
      if (heardAt === null) {
        unheard++;
        continue;
      }
      const heard = heardAt;
      // A frame the viewer's screen skipped: the next one presented, a frame interval per number earlier. A
      // click over a freeze (nothing presented within 10 frames after F) times the freeze, not the alignment.
      const shown = (await seenFrames(viewer)).find(([, f]) => f >= clicked.frame && f - clicked.frame < 10);
      if (!shown) {
        frozen++;
        continue;
      }
      // A load spike moved the delays while the click travelled: the target chased them, the click times the chase.
      const targetAfter = (await viewerStats(viewer)).programPlayoutMs ?? 0;
      if (Math.abs(targetAfter - targetBefore) > 30) {
        unsettled++;
        continue;
      }
      const [at, frame] = shown;
      deltas.push(Math.round(heard - (at - ((frame - clicked.frame) * 1000) / PATTERN_FPS)));
      voicePaths.push(Math.round(heard - clicked.at));
    }
    const stats = await viewerStats(viewer);
    // The node's own figures: the mixer's lag it measured (part of D) and the commentator's hold.
    const boothState = BoothResponse.parse(
      await (
        await fetch(`${match.node.url}/api/v1/streams/${stream}/booth`, {
          headers: { authorization: `Bearer ${await token('admin', '*')}` },
        })
      ).json(),
    );
    console.log(
      `commentary alignment (WebRTC): delay compensated ${stats.commentaryDelayMs} ms (the mixer's lag measured ` +
        `${boothState.languages.map((l) => `${l.lang} ${l.mixerLagMs ?? '-'}`).join(', ')} ms; holds ` +
        `${boothState.commentators.map((c) => c.holdMs ?? '-').join(', ')} ms; program playout target ` +
        `${stats.programPlayoutMs} ms, the commentary's own buffer ${stats.commentaryBufferMs?.toFixed(0)} ms); ` +
        `click heard − frame presented: ${deltas.join(', ')} ms (median ${median(deltas)}; ${frozen} over a freeze of the viewer, ${unheard} not heard, ${unsettled} while the target moved); click at the booth → heard: ${voicePaths.join(', ')} ms; ` +
        `behind the origin's clock: the viewer ${before} ms venue only, ${await latency(viewer)} ms aligned; ` +
        `the commentator ${await latency(booth)} ms`,
    );
    // The median of the clicks: a load spike on the 2-core machine moves the booth's, the mixer's and the
    // viewer's delays within a second, and the targets follow a second later (each click is printed above).
    expect(unheard).toBeLessThanOrEqual(2);
    expect(deltas.length).toBeGreaterThanOrEqual(CLICKS - 3);
    expect(Math.abs(median(deltas))).toBeLessThanOrEqual(ALIGNED_MS);
  });

  it('puts a reaction on the frame it reacts to for a WHEP player of the language (?lang=en)', async () => {
    // Started after the WebRTC half has timed its clicks: a fourth page decoding video beside the booth slowed
    // the booth's own audio path (click → heard 290–450 ms against ~200) while the WebRTC half was timed.
    const { node, browser } = match;
    whep = await browser.newPage();
    try {
      await whep.goto(`${node.url}/healthz`);
      await whepLanguagePlayerInPage(whep, `${node.url}/whep/${stream}?lang=en`, await token('viewer', stream), 'en');
      await whep.waitForFunction(() => (document.querySelector('video')?.readyState ?? 0) >= 2, undefined, {
        timeout: 15_000,
      });
      await installFrameReader(whep);
      await installClickEar(whep, 'en');
      // The delay line's hold grows to D at 200 ms/s from the player's start, and the node's D itself must hold
      // (±15 ms for 2 s, as the other halves wait): then clicks a second apart, timed on both players.
      const delayNow = async () => (await viewerStats(match.viewer)).commentaryDelayMs ?? 0;
      await untilSteady(delayNow);
      // The hold reached: the player's picture is D + its base latency behind the origin (≥ D + 45 once the
      // hold, D + PLAYER_COMMENTARY_BUFFER_MS, is within ~15 ms of its target at a ~60 ms base).
      await untilBehind(whep, (await delayNow()) + 45);
      const whepClicks: { frame: number; at: number }[] = [];
      for (let k = 0; k < CLICKS; k++) {
        const last = (await seenFrames(booth)).at(-1)![1];
        whepClicks.push(await booth.evaluate((f) => window.__mmClickAtFrame!(f), last + PATTERN_FPS));
      }
      // The WHEP player presented the last click's frame (it plays D later than a venue-only picture).
      await whep.waitForFunction(
        (frame) => (window.__mmSeen ?? []).some(([, f]) => f >= frame + 10),
        whepClicks.at(-1)!.frame,
        { timeout: 10_000, polling: 200 },
      );
      const [whepSeen, whepHeard, rtcSeen, rtcHeard] = [
        await seenFrames(whep),
        await whep.evaluate(() => window.__mmHeard!.slice()),
        await seenFrames(match.viewer),
        await match.viewer.evaluate(() => window.__mmHeard!.slice()),
      ];
      const whepDeltas: number[] = [];
      const rtcDeltas: number[] = [];
      /** The WHEP player against the WebRTC viewer on the same click (the same-run reference). */
      const versus: number[] = [];
      const missed: string[] = [];
      for (const click of whepClicks) {
        const w = timeClick(whepSeen, whepHeard, click);
        const r = timeClick(rtcSeen, rtcHeard, click);
        if (typeof w !== 'number') missed.push(w);
        else whepDeltas.push(w);
        if (typeof r === 'number') rtcDeltas.push(r);
        if (typeof w === 'number' && typeof r === 'number') versus.push(w - r);
      }
      // The player's own buffers (mean jitter-buffer delay per track): the node compensates D, the player's lip
      // sync (the video with the commentary, the venue sound apart) the rest.
      const buffers = await whep.evaluate(async () => {
        const { pc } = (window as unknown as { __whep: { pc: RTCPeerConnection } }).__whep;
        const mids = new Map<string, string>([
          ['0', 'video'],
          ['1', 'venue'],
          ['2', 'commentary'],
        ]);
        const out: string[] = [];
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.jitterBufferEmittedCount > 0) {
            const ms = (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount;
            out.push(`${mids.get(s.mid) ?? s.mid} ${ms.toFixed(0)} ms`);
          }
        });
        return out.join(', ');
      });
      const { commentaryDelayMs } = await viewerStats(match.viewer);
      console.log(
        `commentary alignment (WHEP ?lang=en, the node's delay line): click heard − frame presented: ` +
          `${whepDeltas.join(', ')} ms (median ${median(whepDeltas)}; missed: ${missed.join(', ') || 'none'}); ` +
          `the WebRTC viewer on the same clicks: ${rtcDeltas.join(', ')} ms (median ${median(rtcDeltas)}); ` +
          `WHEP − WebRTC per click: ${versus.join(', ')} ms (median ${median(versus)}); the WHEP player ` +
          `${(await latency(whep)).toFixed(0)} ms behind the origin's clock (D ${commentaryDelayMs} ms); ` +
          `its jitter buffers: ${buffers}`,
      );
      expect(missed.length).toBeLessThanOrEqual(2);
      expect(versus.length).toBeGreaterThanOrEqual(CLICKS - 3);
      // Unaligned (no delay line), the WHEP player would hear each click ≈ D (≥ 180 ms) after the WebRTC viewer.
      expect(Math.abs(median(versus))).toBeLessThanOrEqual(ALIGNED_MS);
    } finally {
      await whep?.close();
    }
  });

  it('puts a reaction on the frame it reacts to for an hls.js viewer of the language', async () => {
    const { node, browser } = match;
    const viewerToken = await token('viewer', stream);
    const folder = `${node.url}/hls/${stream}/t/${viewerToken}/`;
    const index = `${node.url}/hls/${stream}/index.m3u8?token=${viewerToken}`;
    // The audio group lists en once its rendition (venue + en, summed with the venue D earlier) has output.
    await expect
      .poll(async () => (await fetch(index)).text(), { timeout: 30_000, interval: 500 })
      .toMatch(/TYPE=AUDIO.*LANGUAGE="en"/);
    const player = await openHlsPage(browser, index, { hlsConfig: { ...HLS_JS_CONFIG } });
    try {
      const hls = player.page;
      await waitForHlsFrames(hls, 30);
      await hls.evaluate(() => document.getElementById('v')!.setAttribute('data-testid', 'video'));
      await installFrameReader(hls);
      // How far behind the origin hls.js plays on the venue-only rendition (the default), then on en.
      await hls.waitForFunction(() => (window.__mmSeen?.length ?? 0) >= 60, undefined, { timeout: 10_000 });
      const venueBehind = await latency(hls, 60);
      await hls.evaluate(`hls.audioTrack = hls.audioTracks.findIndex((t) => t.lang === 'en')`);
      await installClickEar(hls, { element: '#v' });
      // A click heard says the en rendition plays (hls.js switched at a fragment boundary): one a second until
      // one is (a single click may fall into packets the relay drops while D grows).
      const since = Date.now();
      await expect
        .poll(
          async () => {
            await booth.evaluate((f) => window.__mmClickAtFrame!(f), (await seenFrames(booth)).at(-1)![1] + 5);
            return hls.evaluate((after) => (window.__mmHeard ?? []).some((t) => t > after), since);
          },
          { timeout: 20_000, interval: 1000, message: 'no click heard on the HLS en rendition' },
        )
        .toBe(true);
      // The node's D for en (as its WebRTC viewer is told) at each click: a click while it moved times the move.
      // Clicks start once it held (±15 ms) for 2 s, as the WebRTC half waits for its target.
      const delayNow = async () => (await viewerStats(match.viewer)).commentaryDelayMs ?? 0;
      await untilSteady(delayNow);
      // Clicks a second apart (HLS is seconds behind: timed together once all are presented and heard); a few
      // more than CLICKS, for those a load spike spoils.
      const clicks: { frame: number; at: number; delay: number }[] = [];
      for (let k = 0; k < CLICKS + 4; k++) {
        const last = (await seenFrames(booth)).at(-1)![1];
        const delay = await delayNow();
        clicks.push({ ...(await booth.evaluate((f) => window.__mmClickAtFrame!(f), last + PATTERN_FPS)), delay });
      }
      const delays = [...clicks.map((c) => c.delay), await delayNow()];
      await hls.waitForFunction(
        (frame) => (window.__mmSeen ?? []).some(([, f]) => f >= frame),
        clicks.at(-1)!.frame + PATTERN_FPS / 2,
        { timeout: 15_000, polling: 200 },
      );
      // The same clicks on the WebRTC viewer of en (it heard and showed them seconds earlier): the same-run
      // reference. Both paths take the node's D; its error under load (the booth's view delay trails the
      // load) is common to both, what differs is the path this test is about.
      const [hlsSeen, hlsHeard, rtcSeen, rtcHeard] = [
        await seenFrames(hls),
        await hls.evaluate(() => window.__mmHeard!.slice()),
        await seenFrames(match.viewer),
        await match.viewer.evaluate(() => window.__mmHeard!.slice()),
      ];
      const deltas: number[] = [];
      const rtcDeltas: number[] = [];
      const versus: number[] = [];
      let frozen = 0;
      let unsettled = 0;
      for (const [k, click] of clicks.entries()) {
        if (Math.abs(delays[k + 1]! - click.delay) > 30) {
          unsettled++;
          continue;
        }
        const h = timeClick(hlsSeen, hlsHeard, click);
        if (h === 'frozen') frozen++;
        if (typeof h !== 'number') continue;
        deltas.push(h);
        const r = timeClick(rtcSeen, rtcHeard, click);
        if (typeof r !== 'number') continue;
        rtcDeltas.push(r);
        versus.push(h - r);
      }
      // What it costs: the en rendition's newest media lags the video's (its commentary comes D later).
      const edges: { en: number; venue: number }[] = [];
      for (let i = 0; i < 5; i++) {
        const [video, en, venue] = await Promise.all(
          ['v0/media.m3u8', 'audio-en/media.m3u8', 'audio/media.m3u8'].map(async (m) =>
            playlistEdgeMs(await (await fetch(folder + m)).text()),
          ),
        );
        edges.push({ en: video! - en!, venue: video! - venue! });
        await new Promise((r) => setTimeout(r, 300));
      }
      const stats = await hls.evaluate(() => window.__hls!.latency());
      console.log(
        `commentary alignment (HLS, hls.js on the en rendition): click heard − frame presented: ` +
          `${deltas.join(', ')} ms (median ${median(deltas)}; ${frozen} over a freeze, ${unsettled} while D moved, ` +
          `${clicks.length - frozen - unsettled - deltas.length} not heard within 500 ms; D at the clicks ${delays.join(', ')} ms); ` +
          `the WebRTC viewer on the same clicks: ${rtcDeltas.join(', ')} ms (median ${median(rtcDeltas)}); HLS − WebRTC ` +
          `per click: ${versus.join(', ')} ms (median ${median(versus)}); ` +
          `hls.js ${(await latency(hls)).toFixed(0)} ms behind the origin's clock on en (its latency ` +
          `${stats?.toFixed(2)} s), ${venueBehind.toFixed(0)} ms on the venue only before; ` +
          `the video playlist's edge ahead of the en rendition's by ${median(edges.map((e) => e.en)).toFixed(0)} ms, ` +
          `of the venue-only rendition's by ${median(edges.map((e) => e.venue)).toFixed(0)} ms`,
      );
      expect(clicks.length - frozen - unsettled - deltas.length).toBeLessThanOrEqual(2);
      expect(versus.length).toBeGreaterThanOrEqual(CLICKS - 3);
      // The HLS path against the same-run WebRTC reference on the same clicks (the common part — how well D
      // tracks the booth under load — is bounded by the WebRTC test above): unaligned, HLS would hear each
      // click ≈ D (≥ 186 ms) after WebRTC.
      expect(Math.abs(median(versus))).toBeLessThanOrEqual(ALIGNED_MS);
    } finally {
      await player.close();
    }
  });

  it('adds no delay for the venue sound only', async () => {
    const { viewer } = match;
    await viewer.getByTestId('language').selectOption('venue');
    await expect
      .poll(
        async () => ({ language: await viewer.evaluate(() => window.__mm?.language), ...(await viewerStats(viewer)) }),
        { timeout: 10_000, interval: 250 },
      )
      .toMatchObject({ language: null, commentaryDelayMs: null, programPlayoutMs: null });
  });

  it('takes a view delay from a commentator on air only, within range', async () => {
    const s = await TestSignaling.connect(match.node.url);
    const code = (r: Awaited<ReturnType<TestSignaling['request']>>) => (r.ok ? 'ok' : r.error.code);
    expect(code(await s.request('join', { stream, token: await token('viewer', stream) }))).toBe('ok');
    expect(code(await s.request('viewDelay', { viewDelayMs: 100, rttMs: 10 }))).toBe('forbidden');
    s.close();
    const c = await TestSignaling.connect(match.node.url);
    const asCommentator = { stream, token: await commentatorToken(stream, 'en'), role: 'commentator' };
    expect(code(await c.request('join', asCommentator))).toBe('ok');
    // Nothing produced: no voice to align.
    expect(code(await c.request('viewDelay', { viewDelayMs: 100, rttMs: 10 }))).toBe('not_found');
    expect(code(await c.request('viewDelay', { viewDelayMs: -5, rttMs: 10 }))).toBe('bad_request');
    expect(code(await c.request('viewDelay', { viewDelayMs: 100 }))).toBe('bad_request');
    c.close();
  });
});
