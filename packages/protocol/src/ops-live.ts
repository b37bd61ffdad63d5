import { z } from 'zod';
import { NodeRecord, StreamSummary } from './cluster.ts';
import { StreamId } from './ids.ts';
import { ClusterPipes, PipeSummary } from './mesh.ts';
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
  /** Every node's pipes (`GET /api/v1/pipes?scope=cluster`); null/absent when that read failed or is missing. */
  clusterPipes: ClusterPipes.nullable().optional(),
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

// ------------------------------------------------------------------ health at a glance

/** Green, amber, red: how a node reads at a glance on `/ops` and in `matchmesh top`. */
export type NodeHealth = 'ok' | 'warn' | 'bad';

/** Thresholds of the colours: a fraction of viewer capacity, of a worker's core, and a heartbeat's age. */
export const NODE_HEALTH = {
  loadWarn: 0.7,
  loadBad: 0.9,
  cpuWarn: 0.7,
  cpuBad: 0.9,
  /** A record this old (two missed 2 s heartbeats and more) is a node in trouble. */
  staleWarnMs: 5_000,
  staleBadMs: 8_000,
} as const;

/** A node's colour and why (the worst of its load, its hottest worker's CPU, its heartbeat age). */
export function nodeHealth(node: NodeRecord, now: number): { health: NodeHealth; why: string } {
  const t = NODE_HEALTH;
  const load = node.capacity.viewers > 0 ? node.load.viewers / node.capacity.viewers : 0;
  const cpu = Math.max(node.load.workerCpu, ...node.load.workers.map((w) => w.cpu));
  const age = Math.max(0, now - node.heartbeatAt);
  const level = (v: number, warn: number, bad: number): NodeHealth => (v >= bad ? 'bad' : v >= warn ? 'warn' : 'ok');
  const checks: [NodeHealth, string][] = [
    [level(age, t.staleWarnMs, t.staleBadMs), `heartbeat ${Math.round(age / 1000)} s ago`],
    [level(load, t.loadWarn, t.loadBad), `${Math.round(load * 100)} % of capacity`],
    [level(cpu, t.cpuWarn, t.cpuBad), `CPU ${Math.round(cpu * 100)} %`],
  ];
  const rank = { ok: 0, warn: 1, bad: 2 } as const;
  const worst = checks.reduce((a, b) => (rank[b[0]] > rank[a[0]] ? b : a));
  return { health: worst[0], why: worst[0] === 'ok' ? 'healthy' : worst[1] };
}
