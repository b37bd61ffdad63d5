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

import type { Browser } from 'playwright-core';
import { launchChromium } from '../../../test/src/browser.ts';
import { startPipeLink } from '../../../test/src/pipe-link.ts';
import { RtxLateness } from '../../../test/src/rtx-lateness.ts';
import { Mesh, type TestNode, token } from '../mesh.ts';
import type { Scenario, ScenarioResult } from '../registry.ts';
import { sleep } from '../stats.ts';
import { type Link, measure, mergeTotals, type Row, STREAM, TODAY, type Viewer } from './longhaul-measure.ts';
import { haulShape, lossPatterns } from './longhaul-patterns.ts';
import { longhaulTable } from './longhaul-table.ts';

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
      return {
        tables: [longhaulTable(rows, PATTERNS, ctx.flags, seconds)],
        data: { rows },
      };
    } finally {
      await browser?.close();
      await link?.close();
      await mesh.close();
    }
  },
};
