import type { Mesh } from '@matchmesh/mesh';
import type { PipeSummary, RegionBytes } from '@matchmesh/protocol';
import type { MediaService } from '@matchmesh/sfu';
import client from 'prom-client';
import { registerScaleMetrics, type ScaleFigures } from './scaleMetrics.ts';
import type { SignalingServer } from './signaling/SignalingServer.ts';

/** What the cost metrics read (NodeCost and the prices). */
export interface CostFigures {
  readonly bytes: RegionBytes;
  readonly usdPerGb: number;
  readonly cdnUsdPerGb: number;
}

/**
 * Prometheus metrics of one node. Gauges are collected on scrape from the
 * live objects (no bookkeeping to drift); counters are bumped where events
 * happen.
 */
export class NodeMetrics {
  readonly registry = new client.Registry();
  /** Rebalancing moves told by this node (wiring/Rebalancer.ts bumps it). */
  readonly rebalanceMoves: client.Counter;

  constructor(
    media: MediaService,
    signaling: SignalingServer,
    mesh: () => Mesh | undefined,
    labels: { node: string; region: string },
    cost?: CostFigures,
    scale?: ScaleFigures,
  ) {
    this.registry.setDefaultLabels(labels);
    client.collectDefaultMetrics({ register: this.registry, prefix: 'mm_process_' });

    new client.Gauge({
      name: 'mm_streams',
      help: 'Streams with a router on this node',
      registers: [this.registry],
      collect() {
        this.set(media.streams.size);
      },
    });
    new client.Gauge({
      name: 'mm_viewers',
      help: 'Signaling peers (viewers and commentators) per stream',
      labelNames: ['stream'],
      registers: [this.registry],
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const peer of signaling.peers) {
          const s = peer.stream?.stream;
          if (s) counts.set(s, (counts.get(s) ?? 0) + 1);
        }
        for (const [stream, n] of counts) this.set({ stream }, n);
      },
    });
    new client.Gauge({
      name: 'mm_whip_sessions',
      help: 'Active WHIP publishing sessions',
      registers: [this.registry],
      collect() {
        this.set(media.whip.size);
      },
    });
    new client.Gauge({
      name: 'mm_whep_sessions',
      help: 'Active WHEP playback sessions',
      registers: [this.registry],
      collect() {
        this.set(media.whep.size);
      },
    });
    new client.Gauge({
      name: 'mm_score_updates',
      help: 'Score updates seen by the stream router, by outcome',
      labelNames: ['stream', 'outcome'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [id, s] of media.streams) {
          this.set({ stream: id, outcome: 'forwarded' }, s.scoreStats.forwarded);
          this.set({ stream: id, outcome: 'duplicate' }, s.scoreStats.duplicates);
          this.set({ stream: id, outcome: 'invalid' }, s.scoreStats.invalid);
          this.set({ stream: id, outcome: 'refused' }, s.scoreStats.refused);
        }
      },
    });
    new client.Gauge({
      name: 'mm_pipes',
      help: 'Inter-node pipes of this node: out (to downstream relays, by their region) and in (from upstream)',
      labelNames: ['stream', 'direction', 'peer_region'],
      registers: [this.registry],
      collect() {
        this.reset();
        const counts = new Map<string, { stream: string; direction: string; peer_region: string; n: number }>();
        for (const p of mesh()?.summaries() ?? []) {
          const key = `${p.stream}|${p.direction}|${p.peerRegion}`;
          const entry = counts.get(key) ?? {
            stream: p.stream,
            direction: p.direction,
            peer_region: p.peerRegion,
            n: 0,
          };
          entry.n++;
          counts.set(key, entry);
        }
        for (const { n, ...labels } of counts.values()) this.set(labels, n);
      },
    });
    // What each pipe's path did (the long haul to a far region): one stats read per pipe per scrape,
    // shared by the two gauges below (a scrape collects them back to back).
    const linkLabels = ['stream', 'direction', 'peer'] as const;
    let lastReport: { at: number; report: Promise<PipeSummary[]> } | undefined;
    const linkReport = (): Promise<PipeSummary[]> => {
      if (!lastReport || performance.now() - lastReport.at > 1000) {
        lastReport = { at: performance.now(), report: mesh()?.linkReport() ?? Promise.resolve([]) };
      }
      return lastReport.report;
    };
    new client.Gauge({
      name: 'mm_pipe_rtt_seconds',
      help: "Round trip of a pipe's path from its RTCP reports (sending end)",
      labelNames: linkLabels,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const p of await linkReport()) {
          if (p.link?.rttMs !== undefined) {
            this.set({ stream: p.stream, direction: p.direction, peer: p.peerNodeId }, p.link.rttMs / 1000);
          }
        }
      },
    });
    new client.Gauge({
      name: 'mm_pipe_packets',
      help: "A pipe's program packets so far: sent/received, nacked (lost on the path, before retransmission), retransmitted (in: repaired) and lost (mediasoup packetsLost: may count repaired ones)",
      labelNames: [...linkLabels, 'kind'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const p of await linkReport()) {
          if (!p.link) continue;
          const labels = { stream: p.stream, direction: p.direction, peer: p.peerNodeId };
          for (const kind of ['packets', 'nacked', 'retransmitted', 'lost'] as const) {
            this.set({ ...labels, kind }, p.link[kind]);
          }
        }
      },
    });
    new client.Gauge({
      name: 'mm_pipe_merge_packets',
      help: "A critical region's dual path at its holder, per incoming pipe (path): program packets it delivered first (won), after the other path (duplicate, dropped), before its numbering was learned (unmatched); residual = packets neither path delivered",
      labelNames: ['stream', 'peer', 'outcome'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const p of await linkReport()) {
          if (!p.dualPath) continue;
          const labels = { stream: p.stream, peer: p.peerNodeId };
          for (const outcome of ['won', 'duplicates', 'unmatched', 'residual'] as const) {
            this.set({ ...labels, outcome }, p.dualPath[outcome]);
          }
        }
      },
    });
    new client.Gauge({
      name: 'mm_media_objects',
      help: 'Live mediasoup objects on this node by type (routers, transports, producers, consumers, data producers/consumers)',
      labelNames: ['type'],
      registers: [this.registry],
      collect() {
        for (const [type, n] of Object.entries(media.pool.census.snapshot())) this.set({ type }, n);
      },
    });
    this.#programMetrics(media);
    new client.Gauge({
      name: 'mm_egress_bytes',
      help: 'Bytes sent by the workers since start, by kind (viewers = WebRTC, pipes = to other nodes, other = plain RTP)',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        for (const [kind, n] of Object.entries(media.pool.egress.totalBytes)) this.set({ kind }, n);
      },
    });
    new client.Gauge({
      name: 'mm_egress_bitrate_bps',
      help: 'Bits per second the workers sent over the last sample period',
      registers: [this.registry],
      collect() {
        this.set(media.pool.egress.bitrateOut);
      },
    });
    this.#workerMetrics(media);
    this.#costMetrics(cost);
    this.rebalanceMoves = registerScaleMetrics(this.registry, scale).rebalanceMoves;
  }

  /**
   * The night's cost as this node sees it: its priced bytes since it started
   * by carrier (rate() over them is the spend; the cluster's running total is
   * GET /api/v1/cost), and the prices, so alert rules read them instead of
   * carrying numbers.
   */
  #costMetrics(cost: CostFigures | undefined): void {
    new client.Gauge({
      name: 'mm_cost_bytes',
      help: 'Priced bytes this node sent since start, by carrier (webrtc, hls = to viewers; pipes = region copies to other regions); internal traffic is not counted',
      labelNames: ['carrier'],
      registers: [this.registry],
      collect() {
        if (!cost) return;
        for (const [carrier, n] of Object.entries(cost.bytes)) this.set({ carrier }, n);
      },
    });
    new client.Gauge({
      name: 'mm_region_usd_per_gb',
      help: 'Price of a GB leaving this node’s region (MM_REGION_USD_PER_GB, else MM_EGRESS_USD_PER_GB)',
      registers: [this.registry],
      collect() {
        if (cost) this.set(cost.usdPerGb);
      },
    });
    new client.Gauge({
      name: 'mm_cdn_usd_per_gb',
      help: 'Price of a GB at the comparison CDN (MM_CDN_USD_PER_GB)',
      registers: [this.registry],
      collect() {
        if (cost) this.set(cost.cdnUsdPerGb);
      },
    });
  }

  /**
   * Per mediasoup worker (label `worker`: its index in the pool). A worker is
   * one core, so one saturated worker hurts its viewers however idle the
   * others are: the alert reads each worker's CPU, not the node's sum.
   */
  #workerMetrics(media: MediaService): void {
    const r = [this.registry];
    new client.Gauge({
      name: 'mm_worker_cpu_seconds',
      help: 'CPU seconds (user + system) used by each mediasoup worker process since it started (a counter; resets when a worker respawns)',
      labelNames: ['worker'],
      registers: r,
      async collect() {
        // A worker that died while scraped is left out: its series goes with it.
        const seconds = await media.pool.workerCpuSeconds();
        this.reset();
        for (const [w, s] of seconds) this.set({ worker: String(w.index) }, s);
      },
    });
    new client.Gauge({
      name: 'mm_worker_viewers',
      help: 'Viewers (signaling peers and WHEP players) each mediasoup worker sends to',
      labelNames: ['worker'],
      registers: r,
      collect() {
        this.reset();
        for (const w of media.pool.workerLoads()) this.set({ worker: String(w.index) }, w.viewers);
      },
    });
    new client.Gauge({
      name: 'mm_worker_capacity_viewers',
      help: 'Viewers each mediasoup worker takes (MM_CAPACITY_VIEWERS_PER_WORKER)',
      labelNames: ['worker'],
      registers: r,
      collect() {
        this.reset();
        for (const w of media.pool.workerLoads()) this.set({ worker: String(w.index) }, w.capacity);
      },
    });
  }

  /** Stable streams: which feed is on air, origin reconnects, switches and the freeze each caused. */
  #programMetrics(media: MediaService): void {
    const r = [this.registry];
    new client.Gauge({
      name: 'mm_program_active_source',
      help: 'The feed on air per stream (1): role primary/backup, source whip:<role> or pipe:<upstream node>',
      labelNames: ['stream', 'role', 'source'],
      registers: r,
      collect() {
        this.reset();
        for (const [id, s] of media.streams) {
          const st = s.program.status();
          if (st.activeRole) this.set({ stream: id, role: st.activeRole, source: st.activeLabel ?? '' }, 1);
        }
      },
    });
    new client.Gauge({
      name: 'mm_origin_reconnects',
      help: 'WHIP sessions of a stream after its first one on this node (origin reconnects)',
      labelNames: ['stream'],
      registers: r,
      collect() {
        this.reset();
        for (const [id, n] of media.reconnects) this.set({ stream: id }, n);
      },
    });
    new client.Gauge({
      name: 'mm_program_switches',
      help: 'Switches of the feed on air since the stream started on this node',
      labelNames: ['stream'],
      registers: r,
      collect() {
        this.reset();
        for (const [id, s] of media.streams) this.set({ stream: id }, s.program.status().switches);
      },
    });
    new client.Gauge({
      name: 'mm_program_last_switch_timestamp_seconds',
      help: 'When the feed on air last switched, with the reason',
      labelNames: ['stream', 'reason'],
      registers: r,
      collect() {
        this.reset();
        for (const [id, s] of media.streams) {
          const last = s.program.status().lastSwitch;
          if (last) this.set({ stream: id, reason: last.reason }, last.at / 1000);
        }
      },
    });
    new client.Gauge({
      name: 'mm_program_last_switch_freeze_ms',
      help: 'Gap in the video fed to viewers at the last switch (measured here, on the incoming video)',
      labelNames: ['stream'],
      registers: r,
      collect() {
        this.reset();
        for (const [id, s] of media.streams) {
          const f = s.program.status().lastSwitch?.freezeMs;
          if (f !== undefined) this.set({ stream: id }, f);
        }
      },
    });
    new client.Gauge({
      name: 'mm_keyframe_requests_upstream',
      help: 'Key-frame requests the stable program sent to its feed since the stream started here, after coalescing (500 ms per layer): on an ingest node what reaches the origin, on a relay what crosses its pipe',
      labelNames: ['stream'],
      registers: r,
      collect() {
        this.reset();
        for (const [id, s] of media.streams) {
          const video = s.program.status().tracks.find((t) => t.kind === 'video');
          if (video) this.set({ stream: id }, video.keyFrameRequests);
        }
      },
    });
    new client.Gauge({
      name: 'mm_splicer_packets',
      help: 'Packets through the stable-stream splicer per stream and kind: forwarded, dropped (standby feeds), or paced (of the forwarded, held for the worker by the feed pacer)',
      labelNames: ['stream', 'kind', 'outcome'],
      registers: r,
      collect() {
        this.reset();
        for (const [id, s] of media.streams) {
          for (const t of s.program.status().tracks) {
            this.set({ stream: id, kind: t.kind, outcome: 'forwarded' }, t.forwarded);
            this.set({ stream: id, kind: t.kind, outcome: 'dropped' }, t.dropped);
            this.set({ stream: id, kind: t.kind, outcome: 'paced' }, t.paced);
          }
        }
      },
    });
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
