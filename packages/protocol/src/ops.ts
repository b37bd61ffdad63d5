import { z } from 'zod';
import { StreamId } from './ids.ts';

/*
 * The ops console's own messages (issue 17): the cluster's events feed,
 * viewers' problem reports, the night's cost per region, and the token
 * signing keys. The admin API, the live `/ops` page, `matchmesh` and the
 * nodes that write them all read these definitions.
 */

// ------------------------------------------------------------------ events feed

/** What happened in the cluster, as ops read it in the events feed. */
export const OpsEventKind = z.enum([
  'node-joined',
  'node-left',
  'drain',
  'undrain',
  /** A draining node holds nothing any more (no viewer, player, downstream relay or publisher): it may stop. */
  'drain-empty',
  'source-switch',
  'fallback',
  'report',
  'key-rotated',
  'key-retired',
]);
export type OpsEventKind = z.infer<typeof OpsEventKind>;

/** One entry of the events feed (kept in Redis, newest last, a bounded history). */
export const OpsEvent = z.object({
  /** Assigned by the log (a Redis stream id): ordered, unique. */
  id: z.string(),
  /** Milliseconds since the epoch. */
  at: z.number(),
  kind: OpsEventKind,
  /** The node that saw it. */
  nodeId: z.string().optional(),
  region: z.string().optional(),
  stream: StreamId.optional(),
  /** One line for people: "drained by ops", "primary → backup: primary silent 1500 ms", … */
  detail: z.string().max(500),
});
export type OpsEvent = z.infer<typeof OpsEvent>;
/** What a writer gives the log (it assigns id and, if absent, at). */
export const NewOpsEvent = OpsEvent.omit({ id: true, at: true }).extend({ at: z.number().optional() });
export type NewOpsEvent = z.infer<typeof NewOpsEvent>;

/** `GET /api/v1/events?limit=`: the recent history, oldest first. */
export const EventsQuery = z.object({
  token: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export const EventsResponse = z.object({ events: z.array(OpsEvent) });
export type EventsResponse = z.infer<typeof EventsResponse>;

// ------------------------------------------------------------------ problem reports

/** `GET /api/v1/reports`: newest first, without the figures. */
export const ReportSummary = z.object({
  id: z.string(),
  at: z.number(),
  /** The viewer session the report came from (the id in the node's log lines). */
  sessionId: z.string(),
  stream: StreamId,
  nodeId: z.string(),
  region: z.string(),
  /** `webrtc`, `webrtc-tcp`, `hls`… at the time of the report. */
  path: z.string(),
  /** The viewer's own words, as typed. */
  text: z.string(),
});
export type ReportSummary = z.infer<typeof ReportSummary>;
export const ReportsResponse = z.object({ reports: z.array(ReportSummary) });
export type ReportsResponse = z.infer<typeof ReportsResponse>;

// ------------------------------------------------------------------ cost

/** Bytes of one region, by what carried them. Loopback traffic is never counted. */
export const RegionBytes = z.object({
  /** To viewers over WebRTC (UDP and TCP) and WHEP. */
  webrtc: z.number().min(0),
  /** To viewers over HLS. */
  hls: z.number().min(0),
  /** Region copies leaving this region's nodes for other regions (pipes). */
  pipes: z.number().min(0),
});
export type RegionBytes = z.infer<typeof RegionBytes>;

export const RegionCost = z.object({
  region: z.string(),
  bytes: RegionBytes,
  /** Configured price of a GB leaving this region. */
  usdPerGb: z.number().min(0),
  /** Running cost of the bytes above at that price. */
  usd: z.number().min(0),
  /** The same bytes to viewers (webrtc + hls) at the comparison CDN's price. */
  cdnUsd: z.number().min(0),
});
export type RegionCost = z.infer<typeof RegionCost>;

/** `GET /api/v1/cost`: the running cost of the night (since counters were last reset), per region. */
export const CostResponse = z.object({
  currency: z.literal('USD'),
  /** The comparison CDN's price per GB (MM_CDN_USD_PER_GB). */
  cdnUsdPerGb: z.number().min(0),
  /** When the counters started (ms since the epoch). */
  since: z.number(),
  regions: z.array(RegionCost),
  total: z.object({ bytes: RegionBytes, usd: z.number().min(0), cdnUsd: z.number().min(0) }),
});
export type CostResponse = z.infer<typeof CostResponse>;

// ------------------------------------------------------------------ signing keys

/** A token signing key as ops see it (never its secret, except once in the rotate answer). */
export const SigningKeyInfo = z.object({
  kid: z.string(),
  createdAt: z.number(),
  /** `signing`: new tokens are signed with it (exactly one); `verify`: still accepted; `retired`: refused. */
  state: z.enum(['signing', 'verify', 'retired']),
});
export type SigningKeyInfo = z.infer<typeof SigningKeyInfo>;
export const KeysResponse = z.object({ keys: z.array(SigningKeyInfo) });
export type KeysResponse = z.infer<typeof KeysResponse>;
