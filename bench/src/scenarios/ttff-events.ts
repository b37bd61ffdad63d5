// Issue 20 item 3 — the picture after an event, not only at a page load: a drain move, a crash of the
// relay's mediasoup worker (SIGKILL), an origin reconnect (the ingest drops the origin's WHIP session)
// and a layer switch (the quality menu), each measured on two /watch pages side by side in the same
// moment: one of a stream whose origin forces a key frame when the mesh asks (GStreamer x264, the
// default), one of a stream whose origin cannot (MM_ORIGIN_ENCODER=ffmpeg, a key frame per 1 s GOP).
// Both streams are simulcast (two layers) from one ingest, through two relays of one region; the pages
// start on relay A. Every presented frame's page time and size is recorded (requestVideoFrameCallback),
// so the figures are what a viewer saw: the longest freeze after the event, and for a switch, the time
// until the first frame of the new picture. Reports; never asserts.
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../../test/src/browser.ts';
// For its `window.__mm` global declaration (the viewer page's test hook).
import '../../../test/src/viewer.ts';
import { childPids, Mesh, type TestNode, token } from '../mesh.ts';
import type { Scenario, ScenarioResult } from '../registry.ts';
import { percentile, sleep } from '../stats.ts';

const LADDER = '640x360@30:600,320x180@30:300';
const MODES = { onDemand: 'ev-keyframes', gopOnly: 'ev-gop' } as const;
type Mode = keyof typeof MODES;
/** Frames presented after an event before it counts as over (1 s of 30 fps). */
const RECOVERED_FRAMES = 30;

/** Records every presented frame of every <video> of the page (re-scanned as the player swaps them). */
const FRAME_LOG = `(() => {
  window.__evFrames = [];
  const watched = new WeakSet();
  const watch = () => {
    for (const video of document.querySelectorAll('video')) {
      if (watched.has(video)) continue;
      watched.add(video);
      const onFrame = (now, meta) => {
        window.__evFrames.push([now, meta.height]);
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    }
  };
  watch();
  new MutationObserver(watch).observe(document.body, { childList: true, subtree: true });
})()`;

type Frames = [number, number][];
const framesOf = (page: Page) => page.evaluate(() => (window as unknown as { __evFrames: Frames }).__evFrames);
const pageNow = (page: Page) => page.evaluate(() => performance.now());
const nodeIdOf = (page: Page) => page.evaluate(() => window.__mm?.nodeId ?? null);

/** Waits until `page` presented `n` frames after page time `since` (`height`: of that height). */
async function presentedAfter(page: Page, since: number, n = RECOVERED_FRAMES, height?: number): Promise<void> {
  await page.waitForFunction(
    ([from, count, h]) =>
      (window as unknown as { __evFrames: Frames }).__evFrames.filter(([t, fh]) => t > from && (h < 0 || fh === h))
        .length >= count,
    [since, n, height ?? -1] as const,
    { timeout: 30_000, polling: 100 },
  );
}

/** The longest freeze overlapping [since, ∞): from the last frame before `since` (or `since`) on. */
function longestGap(frames: Frames, since: number): number {
  let previous = frames.filter(([t]) => t <= since).at(-1)?.[0] ?? since;
  let gap = 0;
  for (const [t] of frames) {
    if (t <= since) continue;
    gap = Math.max(gap, t - previous);
    previous = t;
  }
  return gap;
}

/** mediasoup worker processes of a node. */
function workerPids(node: TestNode): number[] {
  return childPids(node.child.pid!).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('mediasoup-work');
    } catch {
      return false;
    }
  });
}

async function admin(node: TestNode, path: string, body?: unknown): Promise<Response> {
  const auth = { Authorization: `Bearer ${await token('admin', '*')}` };
  // No content type without a body: the node refuses an empty JSON body.
  return body === undefined
    ? fetch(`${node.url}${path}`, { method: 'POST', headers: auth })
    : fetch(`${node.url}${path}`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
}

/** How many times the stream's origin came back (the ingest's program view). */
async function reconnects(ingest: TestNode, stream: string): Promise<number> {
  const res = await fetch(`${ingest.url}/api/v1/streams/${stream}/program`, {
    headers: { Authorization: `Bearer ${await token('admin', '*')}` },
  });
  return ((await res.json()) as { originReconnects: number }).originReconnects;
}

interface Rig {
  ingest: TestNode;
  relays: TestNode[];
  pages: Record<Mode, Page>;
}

type Figures = Record<string, Record<Mode, number[]>>;

function record(figures: Figures, name: string, mode: Mode, ms: number): void {
  figures[name] ??= { onDemand: [], gopOnly: [] };
  figures[name][mode].push(ms);
}

/** Runs `act` once, then measures both pages: the longest freeze, and `extra` figures of each. */
async function event(
  rig: Rig,
  figures: Figures,
  name: string,
  act: () => Promise<void>,
  extra?: (page: Page, since: number) => Promise<[string, number][]>,
): Promise<void> {
  const modes = Object.keys(MODES) as Mode[];
  const since = Object.fromEntries(await Promise.all(modes.map(async (m) => [m, await pageNow(rig.pages[m])])));
  await act();
  await Promise.all(
    modes.map(async (mode) => {
      const page = rig.pages[mode];
      const more = extra ? await extra(page, since[mode]) : [];
      await presentedAfter(page, since[mode]);
      record(figures, `${name}: longest picture gap`, mode, longestGap(await framesOf(page), since[mode]));
      for (const [figure, ms] of more) record(figures, `${name}: ${figure}`, mode, ms);
    }),
  );
}

/** The relays the pages play from now (both pages usually share one). */
async function servingRelays(rig: Rig): Promise<TestNode[]> {
  const ids = await Promise.all(Object.values(rig.pages).map(nodeIdOf));
  return rig.relays.filter((r) => ids.includes(r.nodeId));
}

async function layerSwitch(rig: Rig, figures: Figures, value: string, height: number, label: string) {
  await event(
    rig,
    figures,
    label,
    async () => {
      await Promise.all(Object.values(rig.pages).map((page) => page.selectOption('[data-testid="quality"]', value)));
    },
    async (page, since) => {
      await presentedAfter(page, since, 1, height);
      const first = (await framesOf(page)).find(([t, h]) => t > since && h === height)?.[0] ?? since;
      return [[`select → first ${height}p frame`, first - since]];
    },
  );
}

async function setUp(browser: Browser, mesh: Mesh): Promise<Rig> {
  const ingest = await mesh.node({ MM_NODE_ID: 'ev-ingest', MM_ROLES: 'ingest', MM_REGION: 'eu' });
  const relays = [
    await mesh.node({ MM_NODE_ID: 'ev-relay-a', MM_ROLES: 'relay', MM_REGION: 'eu', MM_WORKERS: '1' }),
    await mesh.node({ MM_NODE_ID: 'ev-relay-b', MM_ROLES: 'relay', MM_REGION: 'eu', MM_WORKERS: '1' }),
  ];
  await mesh.origin(ingest, MODES.onDemand, { MM_LADDER: LADDER });
  await mesh.origin(ingest, MODES.gopOnly, { MM_LADDER: LADDER, MM_ORIGIN_ENCODER: 'ffmpeg' });
  const pages = {} as Record<Mode, Page>;
  for (const mode of Object.keys(MODES) as Mode[]) {
    const stream = MODES[mode];
    await mesh.waitLive(relays[0]!, stream);
    const page = await (await browser.newContext()).newPage();
    const relay = relays[0]!;
    await page.goto(
      `${relay.url}/watch?stream=${stream}&node=${encodeURIComponent(relay.url)}&token=${await token('viewer', stream)}`,
    );
    await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
    // The quality menu lists the layers once the node reported them.
    await page.waitForSelector('[data-testid="quality"] option[value="0"]', { state: 'attached', timeout: 30_000 });
    await page.evaluate(FRAME_LOG);
    pages[mode] = page;
  }
  return { ingest, relays, pages };
}

export const ttffEvents: Scenario = {
  name: 'ttff-events',
  description:
    'picture gap after a drain move, a worker crash, an origin reconnect and a layer switch: key frames on demand vs GOP only',
  async run(ctx): Promise<ScenarioResult> {
    const mesh = await Mesh.start();
    const browser = await launchChromium();
    const figures: Figures = {};
    try {
      const rig = await setUp(browser, mesh);
      for (let i = 0; i < ctx.flags.ttffEventRepeats; i++) {
        ctx.log(`repeat ${i + 1}/${ctx.flags.ttffEventRepeats}`);
        // Layer switch: down to the 180p layer, then back to Auto (the 360p top for this window).
        await layerSwitch(rig, figures, '0', 180, 'layer switch down (quality menu)');
        await layerSwitch(rig, figures, 'auto', 360, 'layer switch up (quality menu, Auto)');
        // Origin reconnect: the ingest drops both origins' WHIP sessions; the agents reconnect.
        await event(rig, figures, 'origin reconnect', async () => {
          const before = await Promise.all(Object.values(MODES).map((s) => reconnects(rig.ingest, s)));
          for (const stream of Object.values(MODES)) {
            const res = await admin(rig.ingest, `/api/v1/streams/${stream}/publishers/drop`);
            const { dropped } = (await res.json()) as { dropped?: number };
            if (dropped !== 1) throw new Error(`drop ${stream}: ${res.status}, dropped ${dropped}`);
          }
          // Measured once the agents are back (the freeze is from the drop to the first frame after it).
          for (const [i, stream] of Object.values(MODES).entries()) {
            while ((await reconnects(rig.ingest, stream)) <= before[i]!) await sleep(50);
          }
        });
        // Worker crash: SIGKILL of the serving relay's only mediasoup worker.
        await event(
          rig,
          figures,
          'worker crash',
          async () => {
            for (const relay of await servingRelays(rig)) {
              for (const pid of workerPids(relay)) process.kill(pid, 'SIGKILL');
            }
          },
          async (page, since) => {
            // The rejoin's own set-up (the node's stream back on a new worker, the session's join, ICE+DTLS)
            // apart from what follows it (waiting for a key frame, decoding it).
            const connected = await page.waitForFunction(
              (from) => {
                const after = window.__mm?.stateLog.filter((e) => e.at - performance.timeOrigin > from) ?? [];
                const lost = after.findIndex((e) => e.state === 'connecting');
                return lost < 0 ? undefined : after.slice(lost).find((e) => e.state === 'connected')?.at;
              },
              since,
              { timeout: 30_000, polling: 50 },
            );
            const at = ((await connected.jsonValue()) as number) - (await page.evaluate(() => performance.timeOrigin));
            await presentedAfter(page, at, 1);
            const first = (await framesOf(page)).find(([t]) => t > at)?.[0] ?? at;
            return [
              ['kill → connected again (set-up)', at - since],
              ['connected again → first frame', first - at],
            ];
          },
        );
        // Drain move: the serving relay drains; the player opens a session on the other one and
        // switches once it decoded a frame (make before break).
        const [from] = await servingRelays(rig);
        const to = rig.relays.find((r) => r !== from)!;
        await admin(to, `/api/v1/nodes/${to.nodeId}/drain`, { draining: false });
        await event(
          rig,
          figures,
          'drain move',
          async () => {
            const res = await admin(from!, `/api/v1/nodes/${from!.nodeId}/drain`, { draining: true });
            if (res.status !== 200) throw new Error(`drain ${from!.nodeId}: ${res.status} ${await res.text()}`);
          },
          async (page, since) => {
            await page
              .waitForFunction((id) => window.__mm?.nodeId === id, to.nodeId, { timeout: 30_000, polling: 50 })
              .catch(async (err) => {
                const seen = await page.evaluate(() => ({
                  nodeId: window.__mm?.nodeId,
                  log: window.__mm?.stateLog.slice(-6).map((e) => `${e.path}/${e.state}/${e.reason}`),
                }));
                throw new Error(`not moved from ${from!.nodeId} to ${to.nodeId}: ${JSON.stringify(seen)}`, {
                  cause: err,
                });
              });
            return [['drain call → playing on the other relay', (await pageNow(page)) - since]];
          },
        );
        await admin(from!, `/api/v1/nodes/${from!.nodeId}/drain`, { draining: false });
        await sleep(1000);
      }
    } finally {
      await browser.close();
      await mesh.close();
    }
    const p50 = (xs: number[]) => percentile(xs, 50);
    return {
      tables: [
        {
          title: `the picture after an event, key frames on demand vs GOP only (1 s), ${ctx.flags.ttffEventRepeats} repeats, both in the same moment`,
          columns: ['figure (ms)', 'on demand p50', 'GOP only p50', 'on demand max', 'GOP only max', 'samples'],
          rows: Object.entries(figures).map(([name, by]) => [
            name,
            p50(by.onDemand),
            p50(by.gopOnly),
            percentile(by.onDemand, 100),
            percentile(by.gopOnly, 100),
            by.onDemand.length,
          ]),
          notes: [
            'longest picture gap: the longest time between two presented frames from the event on (a viewer sees a freeze that long)',
            'the drain move is make before break: its gap is the switch between sessions; "→ playing on the other relay" is when the player switched',
          ],
        },
      ],
      data: { figures },
    };
  },
};
