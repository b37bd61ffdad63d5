import { z } from 'zod';
import { NodeRecord, StreamSummary } from './cluster.ts';
import { StreamId } from './ids.ts';
import { PipeSummary } from './mesh.ts';
import { CostResponse, ReportSummary } from './ops.ts';

/*
 * The live side of the ops console (issue 17 item 4): what `GET /api/v1/live`
 * pushes to `/ops` and `matchmesh top`, and the viewer's fallback beacon.
 */

/**
 * One picture of the cluster, pushed every ~2 s: the same figures as the
 * admin routes it is made from. `cost` and `reports` are null while the node
 * has no such route (or it failed): the page shows the panel as unavailable.
 */
export const OpsSnapshot = z.object({
  at: z.number(),
  /** The node that serves the stream (its pipes are the ones listed). */
  nodeId: z.string(),
  nodes: z.array(NodeRecord),
  streams: z.array(StreamSummary),
  pipes: z.array(PipeSummary),
  cost: CostResponse.nullable(),
  reports: z.array(ReportSummary).nullable(),
});
export type OpsSnapshot = z.infer<typeof OpsSnapshot>;

/** Server-sent event names of `GET /api/v1/live`: `snapshot` (OpsSnapshot) and `ops-event` (OpsEvent). */
export const LIVE_SNAPSHOT_EVENT = 'snapshot';
export const LIVE_OPS_EVENT = 'ops-event';
/** Sent before the stream ends on its own (the token expired, the node is closing): data is the reason. */
export const LIVE_END_EVENT = 'end';

/** `POST /beacon/fallback` (viewer token): the player left WebRTC for HLS, and why. */
export const FallbackBeacon = z.object({
  stream: StreamId,
  /** The ladder's reason, e.g. "fallback: ICE failed over UDP and TCP". */
  reason: z.string().min(1).max(300),
  /** The path it left (`webrtc`, `webrtc-tcp`…). */
  from: z.string().max(32).optional(),
  /** The node the player was playing from, when it is not this one. */
  node: z.string().max(128).optional(),
});
export type FallbackBeacon = z.infer<typeof FallbackBeacon>;
export const FallbackBeaconResponse = z.object({ recorded: z.boolean() });
