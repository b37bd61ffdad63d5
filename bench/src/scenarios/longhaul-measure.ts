import type { PipeSummary } from '@matchmesh/protocol';
import type { Page } from 'playwright-core';
import { keyFrameRequestsUpstream } from '../../../test/src/metrics.ts';
import type { PipeLink } from '../../../test/src/pipe-link.ts';
import type { RtxLateness } from '../../../test/src/rtx-lateness.ts';
import { packetCounts } from '../../../test/src/viewer.ts';
import { type TestNode, token } from '../mesh.ts';
import { sleep } from '../stats.ts';
import type { LossPattern } from './longhaul-patterns.ts';

// The longhaul scenario's measurement (longhaul.ts sets the mesh up): one loss
// pattern on every haul at once, and per far relay what its viewer saw and
// what crossed the haul — freezes, residual loss, key-frame requests, bytes,
// NACKs and retransmissions, late retransmissions.

export const STREAM = 'bench-longhaul';
export const TODAY = "today's pipe (no delay)";
/** A gap between presented frames longer than this is a freeze (the picture is 30 fps: ~6 frames missed). */
export const FREEZE_MS = 200;

export interface Row {
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

export type Far = 'asia' | 'asiaDelay' | 'asiaDual' | 'asiaRtx';
export type Link = PipeLink<Far | 'ingest' | 'eu' | 'rtxHold'>;

export interface Viewer {
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
export async function mergeTotals(node: TestNode): Promise<{ sent: number; residual: number }> {
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
export async function measure(
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
