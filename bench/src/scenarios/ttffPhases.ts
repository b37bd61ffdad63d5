// Time to first frame, the set-up's phases: where the time goes between
// opening /watch and the first presented frame, read from the player's own
// state log (window.__mm.stateLog), and WHEP's first frame beside it.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { percentile } from '../stats.ts';
import type { Table } from '../table.ts';

/** A phase's name and the state-log label that ends it. */
const PHASES: [string, (label: string) => boolean][] = [
  ['placement done, joining', (l) => l.endsWith('/signaling')],
  ['joined (transport + consumers made)', (l) => l.endsWith('/transport')],
  ['consumers ready, ICE+DTLS under way', (l) => l.endsWith('/ice')],
  ['transport connected', (l) => l.startsWith('connected/')],
];

/** ms since navigation of each phase's end in one load; `player start` is the log's first entry. */
export async function phasesOf(page: Page): Promise<{ start: number; marks: [string, number][] }> {
  const log = await page.evaluate(() =>
    window.__mm!.stateLog.map((e) => [e.at - performance.timeOrigin, `${e.state}/${e.reason}`] as const),
  );
  const start = log[0]?.[0] ?? 0;
  const marks: [string, number][] = [];
  for (const [name, match] of PHASES) {
    const at = log.find(([, label]) => match(label))?.[0];
    if (at !== undefined) marks.push([name, at]);
  }
  // The session's own User Timing marks (packages/client timing.ts), the first session's of each step.
  const steps = await page.evaluate(() =>
    performance
      .getEntriesByType('mark')
      .filter((m) => m.name.startsWith('mm:'))
      .map((m) => [m.name.slice(3), m.startTime] as const),
  );
  const seen = new Set<string>();
  for (const [name, at] of steps) {
    if (seen.has(name)) continue;
    seen.add(name);
    marks.push([`step ${name}`, at]);
  }
  return { start, marks };
}

/**
 * WHEP's time to first frame: a bare RTCPeerConnection on a page of the
 * node's origin; from the POST of the offer to the first presented frame
 * (requestVideoFrameCallback, not stats polling: no 100 ms granularity).
 */
export async function whepFirstFrame(browser: Browser, nodeUrl: string, whepUrl: string, token: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${nodeUrl}/healthz`);
    return await page.evaluate(
      async ({ whepUrl, token }) => {
        const pc = new RTCPeerConnection();
        pc.addTransceiver('video', { direction: 'recvonly' });
        pc.addTransceiver('audio', { direction: 'recvonly' });
        const video = document.createElement('video');
        video.muted = true;
        video.autoplay = true;
        document.body.append(video);
        const shown = new Promise<number>((resolve) => {
          video.requestVideoFrameCallback(() => resolve(performance.now()));
        });
        pc.addEventListener('track', (e) => {
          if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]);
        });
        await pc.setLocalDescription(await pc.createOffer());
        const posted = performance.now();
        const res = await fetch(whepUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
          body: pc.localDescription!.sdp,
        });
        if (res.status !== 201) throw new Error(`WHEP ${res.status}: ${await res.text()}`);
        const answered = performance.now();
        await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
        const first = await Promise.race([shown, new Promise<number>((r) => setTimeout(() => r(-1), 20_000))]);
        pc.close();
        return { answerMs: answered - posted, firstFrameMs: first < 0 ? null : first - posted };
      },
      { whepUrl, token },
    );
  } finally {
    await context.close();
  }
}

/** The entry script a build's index.html loads (`/assets/index-<hash>.js`). */
function entryOf(dist: string): string {
  const html = readFileSync(path.join(dist, 'index.html'), 'utf8');
  const entry = /src="(\/assets\/index-[^"]+\.js)"/.exec(html)?.[1];
  if (!entry) throw new Error(`no entry script in ${dist}/index.html`);
  return entry;
}

/**
 * Runs another build of apps/web (the bench's `--ttff-baseline-dist`, e.g. the bundle before a change) in
 * one browser context: the node's /watch document stays (a document fulfilled by the browser's automation
 * has no address, and Chromium's local-network checks then block its WebSocket to loopback), its entry
 * script and every chunk the other build has are served from `dist`. Same node, stream and minutes; only
 * the page's code differs, so loads can alternate between the two.
 */
export async function serveBundle(context: BrowserContext, dist: string, currentDist: string): Promise<void> {
  const [current, other] = [entryOf(currentDist), entryOf(dist)];
  await context.route(
    (url) => url.pathname.startsWith('/assets/'),
    (route) => {
      const { pathname } = new URL(route.request().url());
      const file = path.join(dist, pathname === current ? other : pathname);
      return existsSync(file) ? route.fulfill({ path: file }) : route.continue();
    },
  );
}

/** A load's steps, each as [label, from, to]: names of phasesOf()'s marks ('first frame': the presented frame). */
const STEPS: [string, string, string][] = [
  ['player start → session start (placement)', 'player start', 'step session-start'],
  ['  Device load (start → loaded)', 'step device-load-start', 'step device-loaded'],
  ['  session start → socket open', 'step session-start', 'step socket-open'],
  ['  session start → join sent (socket and Device)', 'step session-start', 'step join-sent-with-capabilities'],
  ['  join sent → answered (node: transport + consumers)', 'step join-sent-with-capabilities', 'step join-answered'],
  ['  join answered → consumers adopted (incl. resume)', 'step join-answered', 'step consumers-adopted'],
  ['  join answered → transport connected', 'step join-answered', 'step transport-connected'],
  ['placement done → joined (state log)', 'placement done, joining', 'joined (transport + consumers made)'],
  ['joined → transport connected (state log)', 'joined (transport + consumers made)', 'transport connected'],
  ['player start → transport connected', 'player start', 'transport connected'],
  ['transport connected → first frame', 'transport connected', 'first frame'],
  ['player start → first frame', 'player start', 'first frame'],
];

/** The time each step of one load took, ms (steps whose marks the load lacks are left out). */
export function stepDurations(at: Map<string, number>, firstFrame: number): [string, number][] {
  const marks = new Map(at).set('first frame', firstFrame);
  const out: [string, number][] = [];
  for (const [label, from, to] of STEPS) {
    const a = marks.get(from);
    const b = marks.get(to);
    if (a !== undefined && b !== undefined) out.push([label, b - a]);
  }
  return out;
}

type Loads = {
  first: number[];
  fromStart: number[];
  phases: Record<string, number[]>;
  durations: Record<string, number[]>;
};

/**
 * The node's bundle beside the baseline's: each step's duration per load (p50, p95 over the loads), then
 * each phase's end in ms since navigation.
 */
export function baselineTable(joins: number, current: Loads, baseline: Loads): Table {
  const p = (xs: number[] | undefined, q: number) => (xs && xs.length > 0 ? percentile(xs, q) : null);
  const row = (label: string, b: number[] | undefined, c: number[] | undefined) => [
    label,
    p(b, 50),
    p(c, 50),
    p(b, 95),
    p(c, 95),
  ];
  const steps = STEPS.map(([label]) => label).filter((l) => baseline.durations[l] || current.durations[l]);
  const names = [...new Set([...Object.keys(baseline.phases), ...Object.keys(current.phases)])];
  const byTime = names.sort(
    (a, b) =>
      (p(current.phases[a], 50) ?? p(baseline.phases[a], 50) ?? 0) -
      (p(current.phases[b], 50) ?? p(baseline.phases[b], 50) ?? 0),
  );
  return {
    title: `/watch set-up, this bundle vs --ttff-baseline-dist (${joins} loads each, alternating): each step's duration, then each phase's end since navigation, ms`,
    columns: ['step / phase end', 'baseline p50', 'current p50', 'baseline p95', 'current p95'],
    rows: [
      ...steps.map((label) => row(label, baseline.durations[label], current.durations[label])),
      ...byTime.map((name) => row(`at ${name}`, baseline.phases[name], current.phases[name])),
      row('at first presented frame', baseline.first, current.first),
    ],
    notes: [
      "step … rows: the session's User Timing marks (packages/client timing.ts); a baseline without them has none",
    ],
  };
}
