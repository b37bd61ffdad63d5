import { z } from 'zod';
import { RegionName, StreamId } from './ids.ts';

export const NodeRole = z.enum(['ingest', 'relay']);
export type NodeRole = z.infer<typeof NodeRole>;

/** Most mediasoup workers a node runs (MM_WORKERS' bound): the per-worker load list is no longer. */
export const MAX_WORKERS = 64;

/**
 * One mediasoup worker's load, as the node measures it (WorkerPool.workerLoads()).
 * A worker is one core: a stream's viewers are spread over all of a node's
 * workers, so a node has room while any worker has.
 */
export const WorkerLoad = z.object({
  /** The worker's index in the pool (its WebRtcServer listens on MM_RTC_PORT + index). */
  index: z
    .number()
    .int()
    .min(0)
    .max(MAX_WORKERS - 1),
  /** The worker's process id (ops; 0 from a node that did not say). */
  pid: z.number().int().min(0).default(0),
  /** Streams whose source router lives on this worker (their program enters here; its crash moves all their viewers). */
  sources: z.number().int().min(0).default(0),
  /** Viewers (signaling peers and WHEP players) whose media this worker sends. */
  viewers: z.number().int().min(0),
  /** Viewers this worker takes (MM_CAPACITY_VIEWERS_PER_WORKER). */
  capacity: z.number().int().min(0),
  /**
   * Worker CPU over the last sample, as a fraction of one core (0..1; a
   * sample may read a little above 1, so no upper bound here).
   */
  cpu: z.number().min(0),
});
export type WorkerLoad = z.infer<typeof WorkerLoad>;

/**
 * A worker using this much of its core is saturated: placement sends it no
 * viewer whatever its viewer count, and the MatchmeshWorkerCpuHigh alert
 * fires (infra/prometheus/rules/matchmesh.yml; the infra test checks both agree).
 */
export const WORKER_CPU_SATURATED = 0.85;

/**
 * What a node still holds while it drains (issue 18): the viewers, players,
 * downstream relays and publishers that have not moved yet. `empty` is true once
 * a draining node holds none of them — its process may stop (the k8s preStop
 * hook and `matchmesh drain --wait` wait for it). A node reports it in its
 * heartbeat (`NodeRecord.drain`); `GET /api/v1/nodes/:id/drain` answers it.
 */
export const DrainRemaining = z.object({
  /** Signaling (mediasoup-client) viewers still connected here. */
  webrtcViewers: z.number().int().min(0),
  /** WHEP sessions still open here. */
  whepViewers: z.number().int().min(0),
  /** HLS players that fetched from here in the last few seconds. */
  hlsPlayers: z.number().int().min(0),
  /** Relays of other nodes still pulling a region copy from here over a pipe. */
  downstreamRelays: z.number().int().min(0),
  /** WHIP publishers (origin agents) still publishing here. */
  publishers: z.number().int().min(0),
});
export type DrainRemaining = z.infer<typeof DrainRemaining>;

/** What a node says about itself in the registry (Redis), refreshed on every heartbeat. */
export const NodeRecord = z.object({
  id: z.string().min(1).max(64),
  region: RegionName,
  roles: z.array(NodeRole).min(1),
  /** Base URL of the node's HTTP/WebSocket server, e.g. http://127.0.0.1:8080 */
  url: z.string().url(),
  /** Public IP the node announces in ICE candidates and pipe transports. */
  mediaAddress: z.string(),
  capacity: z.object({
    /** Viewers placement sends here (MM_CAPACITY_VIEWERS): the node's ceiling whatever its workers say. */
    viewers: z.number().int().min(0),
    /** MM_CAPACITY_VIEWERS_PER_WORKER; absent in the record of a node older than per-worker load. */
    viewersPerWorker: z.number().int().min(0).optional(),
  }),
  load: z.object({
    viewers: z.number().int().min(0),
    /**
     * Of `viewers`, those told to move elsewhere (a rebalancing move or a drain)
     * that have not left yet. A move is make-before-break, so for a moment the
     * viewer is a session on both relays: the scale advice counts it at its
     * target only (a summed count that saw it twice asked for a relay too many).
     */
    leaving: z.number().int().min(0).default(0),
    streams: z.number().int().min(0),
    bitrateOut: z.number().min(0),
    workerCpu: z.number().min(0),
    /** Bytes sent since the node started (viewers + pipes), and what they cost at the node's egress price. */
    egressBytes: z.number().min(0).default(0),
    egressCostUsd: z.number().min(0).default(0),
    /** Viewers per stream on this node (the admin API sums them across the cluster). */
    streamViewers: z.record(z.string(), z.number().int().min(0)).default({}),
    /** HLS players per stream on this node: distinct players that fetched from it in the last ~10 s. */
    streamHlsPlayers: z.record(z.string(), z.number().int().min(0)).optional(),
    /**
     * Per-worker load, one entry per live worker. Empty in an older node's
     * record: placement then falls back to the node's totals.
     */
    workers: z.array(WorkerLoad).max(MAX_WORKERS).default([]),
  }),
  draining: z.boolean(),
  /** While draining: what the node still holds (absent from a node that is not draining or is older). */
  drain: DrainRemaining.optional(),
  startedAt: z.number().int(),
  heartbeatAt: z.number().int(),
});
export type NodeRecord = z.infer<typeof NodeRecord>;
/** A record as a node writes it: the defaulted fields (`load.workers`, ...) may be left out. */
export type NodeRecordInput = z.input<typeof NodeRecord>;

// ------------------------------------------------------------ admin HTTP API

/** `GET /api/v1/nodes` */
export const NodesResponse = z.object({ nodes: z.array(NodeRecord) });
export type NodesResponse = z.infer<typeof NodesResponse>;

/** One stream as the admin API lists it: where it enters, which relay holds each region's copy. */
export const StreamSummary = z.object({
  stream: StreamId,
  /** Null while no ingest holds the stream (e.g. during a failover). */
  ingest: z.object({ nodeId: z.string(), role: z.enum(['primary', 'backup']) }).nullable(),
  regions: z.array(z.object({ region: RegionName, nodeId: z.string() })),
  /** Viewers across the cluster. */
  viewers: z.number().int().min(0),
  /** Of whom playing HLS (distinct players seen in the last ~10 s); absent from a node that does not count them. */
  hlsViewers: z.number().int().min(0).optional(),
});
export type StreamSummary = z.infer<typeof StreamSummary>;

/** `GET /api/v1/streams` */
export const StreamsResponse = z.object({ streams: z.array(StreamSummary) });
export type StreamsResponse = z.infer<typeof StreamsResponse>;

/**
 * Body of `POST /api/v1/nodes/:id/drain`; `{ draining: false }` undoes a drain.
 * Draining the last serving relay of a region is refused (409) unless `force`.
 */
export const DrainRequest = z.object({ draining: z.boolean().default(true), force: z.boolean().default(false) });
export type DrainRequest = z.infer<typeof DrainRequest>;
/** What the drain route accepts: no body at all means `{ draining: true }`. */
export const DrainBody = DrainRequest.nullish().transform((body) => body ?? { draining: true, force: false });

/** Answer to `POST /api/v1/nodes/:id/drain`. */
export const DrainResponse = z.object({ id: z.string(), draining: z.boolean() });
export type DrainResponse = z.infer<typeof DrainResponse>;

/** Answer to `GET /api/v1/nodes/:id/drain`. */
export const DrainStatus = z.object({
  id: z.string(),
  draining: z.boolean(),
  empty: z.boolean(),
  remaining: DrainRemaining,
});
export type DrainStatus = z.infer<typeof DrainStatus>;

/**
 * One region in `GET /api/v1/scale-advice`: how many relays its current
 * audience needs — viewers × (1 + headroom) ÷ what one relay takes (its
 * MM_CAPACITY_VIEWERS, set from the fan-out bench's measured saturation) —
 * against how many serve now. `change` > 0: add relays; < 0: drain some.
 */
export const RegionScaleAdvice = z.object({
  region: RegionName,
  /** Relays serving viewers now (not draining). */
  relays: z.number().int().min(0),
  draining: z.number().int().min(0),
  viewers: z.number().int().min(0),
  /** Viewers one relay of the region takes (the smallest serving relay's capacity); null: no relay to tell. */
  viewersPerRelay: z.number().int().min(0).nullable(),
  needed: z.number().int().min(0),
  change: z.number().int(),
  note: z.string(),
});
export type RegionScaleAdvice = z.infer<typeof RegionScaleAdvice>;

export const ScaleAdviceQuery = z.object({
  /** Spare capacity to keep, as a share of the audience (0.25 = plan for 25 % more viewers). */
  headroom: z.coerce.number().min(0).max(4).default(0.25),
  /** Only this region (answered even when it has no relay: the advice says so). */
  region: RegionName.optional(),
  token: z.string().optional(),
});
export const ScaleAdviceResponse = z.object({ headroom: z.number(), regions: z.array(RegionScaleAdvice) });
export type ScaleAdviceResponse = z.infer<typeof ScaleAdviceResponse>;
