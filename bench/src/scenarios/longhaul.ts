// Issue 15's figures — the one copy of a match that crosses to a far region,
// over a shaped long haul (test/src/pipe-link.ts on both directions of the
// pipe between the ingest and the Asian relay: 100 ms each way, 200 ms round
// trip), with 0 / 0.5 / 2 / 5 % loss, random and in bursts (Gilbert–Elliott,
// 4 packets per burst on average), on the media going to Asia. A Chromium
// viewer on the Asian relay plays the production picture (720p, 1.5 Mbit/s);
// for each pattern it reports freezes, the residual loss (what NACK/RTX across
// the haul did not recover: packets the browser counts lost), the key-frame
// requests that reached the origin, and the bytes sent on the haul against
// the same run's loss-free copy (the retransmission overhead). Three far
// relays side by side, each its own region over its own haul: today's pipe
// (MM_VIEWER_PLAYOUT_DELAY_MS=0, the browser's own playout delay), the tuned
// pipe (auto: two of the haul's measured round trips), and the dual path (a
// critical region, MM_DUAL_PATH_REGIONS: its holder takes the copy from the
// ingest and a second one from an eu relay, each over its own haul with the
// pattern applied independently, merged packet by packet; auto delay too).
// A fourth: the tuned pipe with the retransmission age bound (worker patch
// 003, MM_PIPE_RTX_MAX_AGE_MS=--longhaul-rtx-max-age on its upstream: a
// relay in eu holding that region, the far relay pulling from it over the
// haul); every other pipe runs with 0 (mediasoup's retransmissions). Per row:
// the retransmissions its upstream sent over the haul (GET /api/v1/pipes) and,
// at the far end of the haul, the video retransmissions that arrived later
// than its viewer's playout delay after their frame (test/src/rtx-lateness.ts).
// --longhaul-patterns / --longhaul-rtt-ms choose the patterns and the haul.

import type { PipeSummary } from '@matchmesh/protocol';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../../test/src/browser.ts';
import { keyFrameRequestsUpstream } from '../../../test/src/metrics.ts';
import { type PipeLink, startPipeLink } from '../../../test/src/pipe-link.ts';
import { RtxLateness } from '../../../test/src/rtx-lateness.ts';
import { packetCounts } from '../../../test/src/viewer.ts';
import { Mesh, type TestNode, token } from '../mesh.ts';
import type { Scenario, ScenarioResult } from '../registry.ts';
import { ratio, sleep } from '../stats.ts';
import { haulShape, type LossPattern, lossPatterns } from './longhaul-patterns.ts';

const STREAM = 'bench-longhaul';
const TODAY = "today's pipe (no delay)";
/** A gap between presented frames longer than this is a freeze (the picture is 30 fps: ~6 frames missed). */
const FREEZE_MS = 200;

interface Row {
  relay: string;
  pattern: string;
  seconds: number;
  frames: number;
  freezes: number;
  longestFreezeMs: number;
  droppedPct: number;
  residualPct: number;
  /** Dual path only: packets neither path delivered, % of what the merge sent (at the relay, before the viewer's own link). */
  mergeResidualPct: number | null;
  keyFramesToOrigin: number;
  haulKbps: number;
  /** Packets its upstream(s) retransmitted over the haul, and NACKed, in the pattern. */
  retransmitted: number;
  nacked: number;
  /** Video retransmissions seen at the far end, and those later than the viewer's playout delay (null: none held). */
  rtxSeen: number;
  rtxLate: number | null;
}

type Far = 'asia' | 'asiaDelay' | 'asiaDual' | 'asiaRtx';
type Link = PipeLink<Far | 'ingest' | 'eu' | 'rtxHold'>;

interface Viewer {
  far: Far;
  label: string;
  page: Page;
  /** The dual path's merge at the relay so far (GET /api/v1/pipes): packets sent, and those neither path delivered. */
  merge?: () => Promise<{ sent: number; residual: number }>;
  /** The far relay's node id and the node(s) sending it the copy over the haul. */
  nodeId: string;
  upstreams: TestNode[];
  /** The playout delay its viewer holds (ms, as the browser took it). */
  delayMs: number;
}

/** What `upstreams` sent `nodeId` over their pipes so far: retransmissions and NACKed packets. */
async function haulRepairs(v: Viewer): Promise<{ retransmitted: number; nacked: number }> {
  const auth = { Authorization: `Bearer ${await token('admin', '*')}` };
  let retransmitted = 0;
  let nacked = 0;
  for (const up of v.upstreams) {
    const { pipes } = (await (await fetch(`${up.url}/api/v1/pipes`, { headers: auth })).json()) as {
      pipes: PipeSummary[];
    };
    for (const p of pipes) {
      if (p.direction !== 'out' || p.peerNodeId !== v.nodeId || p.stream !== STREAM) continue;
      retransmitted += p.link?.retransmitted ?? 0;
      nacked += p.link?.nacked ?? 0;
    }
  }
  return { retransmitted, nacked };
}

/** What the merge of a dual-path relay did so far: packets it sent (won on any path) and its residual. */
async function mergeTotals(node: TestNode): Promise<{ sent: number; residual: number }> {
  const res = await fetch(`${node.url}/api/v1/pipes`, {
    headers: { Authorization: `Bearer ${await token('admin', '*')}` },
  });
  const { pipes } = (await res.json()) as { pipes: PipeSummary[] };
  const paths = pipes.filter((p) => p.dualPath);
  return {
    sent: paths.reduce((a, p) => a + (p.dualPath?.won ?? 0), 0),
    residual: paths[0]?.dualPath?.residual ?? 0,
  };
}

async function frameTimes(page: Page): Promise<number[]> {
  return page.evaluate(() => (window as unknown as { __frameTimes?: number[] }).__frameTimes?.slice() ?? []);
}

async function mergeResidualPct(
  v: Viewer,
  before: { sent: number; residual: number } | undefined,
): Promise<number | null> {
  if (!v.merge || !before) return null;
  const now = await v.merge();
  const sent = now.sent - before.sent;
  const residual = Math.max(0, now.residual - before.residual);
  return (100 * residual) / Math.max(1, sent + residual);
}

/** One pattern on all hauls at once; one row per far relay. */
async function measure(
  viewers: Viewer[],
  link: Link,
  lateness: RtxLateness,
  ingest: TestNode,
  pattern: LossPattern,
  seconds: number,
): Promise<Row[]> {
  for (const v of viewers) link.shape(v.far, pattern.shape);
  const before = await Promise.all(
    viewers.map(async (v) => ({
      haul: link.stats(v.far),
      loss: await packetCounts(v.page),
      from: await v.page.evaluate(() => performance.now()),
      merge: await v.merge?.(),
      repairs: await haulRepairs(v),
      rtx: lateness.counts((key) => key.endsWith(`>${v.far}`), v.delayMs),
    })),
  );
  const asks0 = await keyFrameRequestsUpstream(ingest.url, STREAM);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const asks = (await keyFrameRequestsUpstream(ingest.url, STREAM)) - asks0;
  return Promise.all(
    viewers.map(async (v, i) => {
      const b = before[i]!;
      const haul = link.stats(v.far);
      const loss = await packetCounts(v.page);
      const times = (await frameTimes(v.page)).filter((t) => t > b.from);
      let previous = b.from;
      let freezes = 0;
      let longest = 0;
      for (const t of times) {
        const gap = t - previous;
        if (gap > FREEZE_MS) freezes++;
        longest = Math.max(longest, gap);
        previous = t;
      }
      const sent = haul.passed + haul.lost - b.haul.passed - b.haul.lost;
      const residual = loss.lost - b.loss.lost;
      const received = loss.received - b.loss.received;
      const sentBytes = haul.bytesPassed + haul.bytesLost - b.haul.bytesPassed - b.haul.bytesLost;
      const repairs = await haulRepairs(v);
      const rtx = lateness.counts((key) => key.endsWith(`>${v.far}`), v.delayMs);
      return {
        relay: v.label,
        pattern: pattern.label,
        seconds: elapsed,
        frames: times.length,
        freezes,
        longestFreezeMs: longest,
        droppedPct: (100 * (haul.lost - b.haul.lost)) / Math.max(1, sent),
        residualPct: (100 * residual) / Math.max(1, received + residual),
        mergeResidualPct: await mergeResidualPct(v, b.merge),
        // Both relays' requests reach the one origin: the ingest's count is shared.
        keyFramesToOrigin: asks,
        haulKbps: (sentBytes * 8) / 1000 / elapsed,
        retransmitted: repairs.retransmitted - b.repairs.retransmitted,
        nacked: repairs.nacked - b.repairs.nacked,
        rtxSeen: rtx.retransmissions - b.rtx.retransmissions,
        // Today's viewer holds the browser's own delay (0 asked): no fixed deadline to count against.
        rtxLate: v.delayMs > 0 ? rtx.late - b.rtx.late : null,
      };
    }),
  );
}

export const longhaul: Scenario = {
  name: 'longhaul',
  description: 'a far region over a 200 ms round-trip haul with random and bursty loss: freezes, residual loss',
  async run(ctx): Promise<ScenarioResult> {
    const seconds = ctx.flags.stepSeconds * 2;
    const HAUL = haulShape(ctx.flags.longhaulRttMs);
    const PATTERNS = lossPatterns(ctx.flags.longhaulPatterns, HAUL);
    const lateness = new RtxLateness();
    const mesh = await Mesh.start();
    let browser: Browser | undefined;
    let link: Link | undefined;
    try {
      const ingest = await mesh.node({
        MM_NODE_ID: 'bench-lh-ingest',
        MM_ROLES: 'ingest',
        MM_REGION: 'eu',
        MM_MESH_ADDRESS: '127.0.0.4',
        MM_PIPE_RTX_MAX_AGE_MS: '0',
      });
      // Two far regions, each one relay and one copy over its own haul; the first leaves the playout
      // delay to the browser, the second is as shipped (auto: ~400 ms, two of the haul's round trips).
      const asia = await mesh.node({
        MM_NODE_ID: 'bench-lh-asia',
        MM_ROLES: 'relay',
        MM_REGION: 'asia',
        MM_MESH_ADDRESS: '127.0.0.3',
        MM_VIEWER_PLAYOUT_DELAY_MS: '0',
      });
      const asiaDelay = await mesh.node({
        MM_NODE_ID: 'bench-lh-asia-auto',
        MM_ROLES: 'relay',
        MM_REGION: 'asia-east',
        MM_MESH_ADDRESS: '127.0.0.5',
        MM_VIEWER_PLAYOUT_DELAY_MS: 'auto',
      });
      // The dual path: a critical region whose second copy comes from a relay in eu (the ingest's region).
      const euRelay = await mesh.node({
        MM_NODE_ID: 'bench-lh-eu',
        MM_ROLES: 'relay',
        MM_REGION: 'eu',
        MM_MESH_ADDRESS: '127.0.0.8',
        MM_PIPE_RTX_MAX_AGE_MS: '0',
      });
      const asiaDual = await mesh.node({
        MM_NODE_ID: 'bench-lh-asia-dual',
        MM_ROLES: 'relay',
        MM_REGION: 'asia-south',
        MM_MESH_ADDRESS: '127.0.0.9',
        MM_VIEWER_PLAYOUT_DELAY_MS: 'auto',
        MM_DUAL_PATH_REGIONS: 'asia-south',
      });
      // The bounded pipe: region asia-west's holder sits in eu (no haul from the ingest) with the bound,
      // its far relay pulls from it over the haul.
      const rtxHold = await mesh.node({
        MM_NODE_ID: 'bench-lh-rtx-hold',
        MM_ROLES: 'relay',
        MM_REGION: 'asia-west',
        MM_MESH_ADDRESS: '127.0.0.10',
        MM_PIPE_RTX_MAX_AGE_MS: ctx.flags.longhaulRtxMaxAge,
      });
      const asiaRtx = await mesh.node({
        MM_NODE_ID: 'bench-lh-asia-rtx',
        MM_ROLES: 'relay',
        MM_REGION: 'asia-west',
        MM_MESH_ADDRESS: '127.0.0.11',
        MM_VIEWER_PLAYOUT_DELAY_MS: 'auto',
      });
      const pipes = (n: TestNode) => ({ min: n.rtcPort + 1, max: n.rtcPort + 49 });
      link = await startPipeLink(
        {
          asia: { announced: '127.0.0.3', ports: pipes(asia) },
          asiaDelay: { announced: '127.0.0.5', ports: pipes(asiaDelay) },
          asiaDual: { announced: '127.0.0.9', ports: pipes(asiaDual) },
          eu: { announced: '127.0.0.8', ports: pipes(euRelay) },
          ingest: { announced: '127.0.0.4', ports: pipes(ingest) },
          rtxHold: { announced: '127.0.0.10', ports: pipes(rtxHold) },
          asiaRtx: { announced: '127.0.0.11', ports: pipes(asiaRtx) },
        },
        '127.0.0.1',
        (to, from, packet) => lateness.observe(`${from}>${to}`, packet),
      );
      for (const to of ['asia', 'asiaDelay', 'asiaDual', 'asiaRtx', 'ingest'] as const) link.shape(to, HAUL);
      // Inside eu (the ingest ↔ the eu relay, the ingest ↔ asia-west's holder) no haul; reports from Asia cross one.
      link.shape('ingest', {}, 'eu');
      link.shape('ingest', {}, 'rtxHold');
      link.shape('eu', HAUL, 'asiaDual');
      link.shape('rtxHold', HAUL, 'asiaRtx');
      await mesh.origin(ingest, STREAM);
      await mesh.waitLive(asia, STREAM);
      await mesh.waitLive(asiaDelay, STREAM);
      await mesh.waitLive(asiaDual, STREAM);
      // The holder first: it takes asia-west's lease, so the far relay pulls from it.
      await mesh.waitLive(rtxHold, STREAM);
      await mesh.waitLive(asiaRtx, STREAM);
      browser = await launchChromium();
      const viewers: Viewer[] = [];
      const rtxLabel = `tuned + rtx age bound (${ctx.flags.longhaulRtxMaxAge})`;
      for (const [far, node, label, upstreams] of [
        ['asia', asia, TODAY, [ingest]],
        ['asiaDelay', asiaDelay, 'tuned (auto delay)', [ingest]],
        ['asiaDual', asiaDual, 'dual path (auto delay)', [ingest, euRelay]],
        ['asiaRtx', asiaRtx, rtxLabel, [rtxHold]],
      ] as const) {
        const page = await browser.newPage();
        await page.goto(`${node.url}/watch?stream=${STREAM}&token=${await token('viewer', STREAM)}&node=${node.url}`);
        await page
          .waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 60, undefined, { timeout: 60_000 })
          .catch((e: Error) => {
            throw new Error(`${label}'s viewer decoded no picture in 60 s: ${e.message}`);
          });
        // A string, not a function: tsx would wrap the inner function's name in a helper the page lacks.
        await page.evaluate(`(() => {
          window.__frameTimes = [];
          const video = document.querySelector('video');
          const onFrame = (now) => { window.__frameTimes.push(now); video.requestVideoFrameCallback(onFrame); };
          video.requestVideoFrameCallback(onFrame);
        })()`);
        viewers.push({
          far,
          label,
          page,
          nodeId: node.nodeId,
          upstreams: [...upstreams],
          delayMs: 0,
          ...(far === 'asiaDual' ? { merge: () => mergeTotals(node) } : {}),
        });
      }
      const delays = () =>
        Promise.all(viewers.map((v) => v.page.evaluate(async () => (await window.__mm!.stats()).playoutDelayMs ?? 0)));
      // The auto relays' viewers learn their delay once the pipe has a round trip (a notification, if they joined first).
      for (let waited = 0; (await delays()).slice(1).some((d) => d === 0) && waited < 15_000; waited += 250) {
        await sleep(250);
      }
      const held = await delays();
      for (const [i, v] of viewers.entries()) v.delayMs = held[i] ?? 0;
      ctx.log(`longhaul: the viewers' playout delay as the browser took it: ${JSON.stringify(held)}`);
      // Settle first: the join's own start-up (first key frame, the estimate) is not the baseline's, and the
      // browser builds a new delay up at 100 ms a second.
      await sleep(6000);
      const rows: Row[] = [];
      for (const pattern of PATTERNS) {
        ctx.log(`longhaul: ${pattern.label} for ${seconds} s`);
        rows.push(...(await measure(viewers, link, lateness, ingest, pattern, seconds)));
        // Back to the clean haul between patterns, so one pattern's damage does not spill into the next.
        for (const v of viewers) link.shape(v.far, HAUL);
        await sleep(3000);
      }
      // One copy over the haul without loss: what every row's bytes are compared with.
      const oneCopy = rows.find((r) => r.relay === TODAY && r.pattern === PATTERNS[0]!.label)!;
      const noDelay = (pattern: string): Row => rows.find((r) => r.relay === TODAY && r.pattern === pattern)!;
      return {
        tables: [
          {
            title: `long haul Europe → Asia, ${ctx.flags.longhaulRttMs} ms round trip, pipe NACK/RTX: today's pipe / tuned / dual path / tuned + rtx age bound at once, ${seconds} s per pattern`,
            columns: [
              'far relay',
              'loss on the haul',
              'frames',
              `freezes > ${FREEZE_MS} ms`,
              'longest freeze ms',
              "freezes x today's",
              'dropped on the haul %',
              'residual at the viewer %',
              'residual after the merge %',
              'key frames to origin /s',
              'sent on the haul kbit/s',
              'bytes x one copy',
              'NACKed over the haul',
              'retransmitted over the haul',
              'video rtx seen at the far end',
              'of which later than the playout delay',
            ],
            rows: rows.map((r) => [
              r.relay,
              r.pattern,
              r.frames,
              r.freezes,
              Math.round(r.longestFreezeMs),
              r.relay === TODAY ? null : ratio(r.freezes, noDelay(r.pattern).freezes),
              r.droppedPct,
              r.residualPct,
              r.mergeResidualPct,
              r.keyFramesToOrigin / r.seconds,
              r.haulKbps,
              ratio(r.haulKbps, oneCopy.haulKbps),
              r.nacked,
              r.retransmitted,
              r.rtxSeen,
              r.rtxLate,
            ]),
            notes: [
              'loss on the media towards Asia only; NACKs, PLIs and reports travel back over the same 100 ms unharmed',
              'dual path: the pattern on both of its hauls (ingest → Asia, eu relay → Asia), each path losing on its own',
              'residual: packets (audio + video) the viewer counts lost — what retransmission (and the merge) did not recover, plus what the relay → browser hop lost on this loaded machine (see the 0 % rows)',
              "residual after the merge: the dual relay's own count of packets neither path delivered (GET /api/v1/pipes dualPath.residual), % of what it sent",
              "key frames to origin: the ingest's count, shared by the three far relays",
              "bytes x one copy: what crossed the haul(s) against today's pipe at 0 % (the dual path sends two copies)",
              `rtx age bound: that row's upstream runs MM_PIPE_RTX_MAX_AGE_MS=${ctx.flags.longhaulRtxMaxAge} (worker patch 003: a NACKed packet older than the bound is not sent again); every other pipe 0`,
              "NACKed / retransmitted: the upstream pipes' counters (GET /api/v1/pipes link.nacked, link.retransmitted: packets, audio + video)",
              "video rtx seen / later than the playout delay: RTX packets arriving at the far end of the haul, and those more than the viewer's playout delay after their frame's first packet (too late to play); none counted for today's pipe (the browser's own delay)",
            ],
          },
        ],
        data: { rows },
      };
    } finally {
      await browser?.close();
      await link?.close();
      await mesh.close();
    }
  },
};
