import { z } from 'zod';
import { RegionName, StreamId } from './ids.ts';

export const NodeRole = z.enum(['ingest', 'relay']);
export type NodeRole = z.infer<typeof NodeRole>;

/** What a node says about itself in the registry (Redis), refreshed on every heartbeat. */
export const NodeRecord = z.object({
  id: z.string().min(1).max(64),
  region: RegionName,
  roles: z.array(NodeRole).min(1),
  /** Base URL of the node's HTTP/WebSocket server, e.g. http://127.0.0.1:8080 */
  url: z.string().url(),
  /** Public IP the node announces in ICE candidates and pipe transports. */
  mediaAddress: z.string(),
  capacity: z.object({ viewers: z.number().int().min(0) }),
  load: z.object({
    viewers: z.number().int().min(0),
    streams: z.number().int().min(0),
    bitrateOut: z.number().min(0),
    workerCpu: z.number().min(0),
    /** Bytes sent since the node started (viewers + pipes), and what they cost at the node's egress price. */
    egressBytes: z.number().min(0).default(0),
    egressCostUsd: z.number().min(0).default(0),
    /** Viewers per stream on this node (the admin API sums them across the cluster). */
    streamViewers: z.record(z.string(), z.number().int().min(0)).default({}),
  }),
  draining: z.boolean(),
  startedAt: z.number().int(),
  heartbeatAt: z.number().int(),
});
export type NodeRecord = z.infer<typeof NodeRecord>;

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
});
export type StreamSummary = z.infer<typeof StreamSummary>;

/** `GET /api/v1/streams` */
export const StreamsResponse = z.object({ streams: z.array(StreamSummary) });
export type StreamsResponse = z.infer<typeof StreamsResponse>;

/** Body of `POST /api/v1/nodes/:id/drain`; `{ draining: false }` undoes a drain. */
export const DrainRequest = z.object({ draining: z.boolean().default(true) });
export type DrainRequest = z.infer<typeof DrainRequest>;
/** What the drain route accepts: no body at all means `{ draining: true }`. */
export const DrainBody = DrainRequest.nullish().transform((body) => body ?? { draining: true });

/** Answer to `POST /api/v1/nodes/:id/drain`. */
export const DrainResponse = z.object({ id: z.string(), draining: z.boolean() });
export type DrainResponse = z.infer<typeof DrainResponse>;
