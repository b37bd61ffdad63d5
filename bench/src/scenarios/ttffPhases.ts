// Time to first frame, the set-up's phases: where the time goes between
// opening /watch and the first presented frame, read from the player's own
// state log (window.__mm.stateLog), and WHEP's first frame beside it.
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
 * Serves /watch and its assets from another build of apps/web (the bench's `--ttff-baseline-dist`, e.g. the
 * bundle before a change) to one browser context: the same node, stream and machine minutes, only the
 * page's code differs, so loads can alternate between the two.
 */
export async function serveBundle(context: BrowserContext, dist: string): Promise<void> {
  await context.route(
    (url) => url.pathname === '/watch' || url.pathname.startsWith('/assets/'),
    (route) => {
      const { pathname } = new URL(route.request().url());
      const file = pathname === '/watch' ? 'index.html' : pathname.slice(1);
      return route.fulfill({ path: path.join(dist, file) });
    },
  );
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

type Loads = { first: number[]; fromStart: number[]; phases: Record<string, number[]> };

/** The node's bundle beside the baseline's, p50 of each phase (ms since navigation) and of the first frame. */
export function baselineTable(joins: number, current: Loads, baseline: Loads): Table {
  const p50 = (xs: number[] | undefined) => (xs && xs.length > 0 ? percentile(xs, 50) : null);
  const names = [...new Set([...Object.keys(baseline.phases), ...Object.keys(current.phases)])];
  const byTime = names.sort(
    (a, b) =>
      (p50(current.phases[a]) ?? p50(baseline.phases[a]) ?? 0) -
      (p50(current.phases[b]) ?? p50(baseline.phases[b]) ?? 0),
  );
  return {
    title: `/watch phases, this bundle vs --ttff-baseline-dist (${joins} loads each, alternating), p50 ms since navigation`,
    columns: ['phase end', 'baseline p50', 'current p50', 'baseline p95', 'current p95'],
    rows: [
      ...byTime.map((name) => [
        name,
        p50(baseline.phases[name]),
        p50(current.phases[name]),
        percentile(baseline.phases[name] ?? [], 95),
        percentile(current.phases[name] ?? [], 95),
      ]),
      [
        'first presented frame',
        p50(baseline.first),
        p50(current.first),
        percentile(baseline.first, 95),
        percentile(current.first, 95),
      ],
      [
        'player start → first frame',
        p50(baseline.fromStart),
        p50(current.fromStart),
        percentile(baseline.fromStart, 95),
        percentile(current.fromStart, 95),
      ],
    ],
    notes: [
      "step … rows: the session's User Timing marks (packages/client timing.ts); a baseline without them has none",
    ],
  };
}
