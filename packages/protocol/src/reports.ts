import { z } from 'zod';
import { StreamId } from './ids.ts';
import { ReportSummary } from './ops.ts';

/*
 * Problem reports (issue 17 item 2): what a viewer's player sends with the
 * viewer's words, and what ops read back. The summary (list entry) is
 * ReportSummary in ops.ts; this file adds the figures and the detail.
 * Nothing here identifies a person: no IP, no user agent string, only what
 * the viewer types and the player's own measurements.
 */

/** Where a viewer (or commentator) token posts a report: outside /api/v1, which is the admin API. */
export const REPORT_SUBMIT_PATH = '/reports';

/**
 * A viewer session's id: given by the player at join (or by the node), in
 * every log line of that session on the node, and in the report.
 */
export const SessionId = z
  .string()
  .min(8)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'session id: letters, digits, "-" and "_" only');
export type SessionId = z.infer<typeof SessionId>;

/** How far back a report's figures go (ms): the recorder keeps this much. */
export const REPORT_WINDOW_MS = 60_000;

const ms = z.number().min(0).max(1e7);

/** One second of the player's own figures (the recorder samples at 1 Hz). */
export const ReportSample = z.object({
  /** Milliseconds since the epoch (the viewer's clock). */
  at: z.number(),
  /** `webrtc`, `webrtc-tcp`, `hls` or `none` at that second. */
  path: z.string().max(16),
  nodeId: z.string().max(64).nullable(),
  region: z.string().max(32).nullable(),
  /** Round trip to the node on the media path (the selected ICE pair), ms. */
  rttMs: ms.nullable(),
  /** Packets lost so far (cumulative, the session's counter) and in this second, as a percentage. */
  packetsLost: z.number().int().min(0),
  lossPct: z.number().min(0).max(100).nullable(),
  /** Inbound video jitter (RTP interarrival), ms. */
  jitterMs: ms.nullable(),
  /** Video frames decoded so far in the session (cumulative): a frozen picture stops it. */
  framesDecoded: z.number().int().min(0),
  fps: z.number().min(0).max(1000).nullable(),
  kbps: z.number().min(0).max(1e6).nullable(),
  /** The simulcast layer shown (`720p`, `360p`…), null on one layer or HLS. */
  layer: z.string().max(32).nullable(),
});
export type ReportSample = z.infer<typeof ReportSample>;

/** A stretch without a newly decoded frame while the player was supposed to play. */
export const ReportFreeze = z.object({ at: z.number(), durationMs: ms });
export type ReportFreeze = z.infer<typeof ReportFreeze>;

/** A move down (or back up) the ladder, with the player's reason. */
export const ReportFallback = z.object({
  at: z.number(),
  from: z.string().max(16),
  to: z.string().max(16),
  reason: z.string().max(300),
});
export type ReportFallback = z.infer<typeof ReportFallback>;

/** The last REPORT_WINDOW_MS of the player's figures. */
export const ReportFigures = z.object({
  samples: z.array(ReportSample).max(120),
  freezes: z.array(ReportFreeze).max(100),
  fallbacks: z.array(ReportFallback).max(100),
  /** RTT per region the placement measured (null: unreachable). */
  placementRtts: z.record(z.string().max(32), ms.nullable()),
  /** A short name (`Chrome 131`, `Firefox 133`), not a fingerprint. */
  browser: z.string().max(40),
  /** `Linux`, `Windows`, `macOS`, `Android`, `iOS` or `other`. */
  os: z.string().max(20),
});
export type ReportFigures = z.infer<typeof ReportFigures>;

/** `POST /reports` (viewer or commentator token): the viewer's words and the player's figures. */
export const ReportSubmission = z.object({
  stream: StreamId,
  sessionId: SessionId,
  /** The node and region the player was on when the viewer pressed the button. */
  nodeId: z.string().min(1).max(64),
  region: z.string().min(1).max(32),
  path: z.string().min(1).max(16),
  text: z.string().trim().min(1).max(2000),
  figures: ReportFigures,
});
export type ReportSubmission = z.infer<typeof ReportSubmission>;

export const ReportAccepted = z.object({ id: z.string() });
export type ReportAccepted = z.infer<typeof ReportAccepted>;

/** A whole report as stored: the summary and the figures. */
export const StoredReport = ReportSummary.extend({ figures: ReportFigures });
export type StoredReport = z.infer<typeof StoredReport>;

/** `GET /api/v1/reports/:id`: the report, and where the node's log lines of its session are. */
export const ReportDetail = StoredReport.extend({
  logs: z.object({
    nodeId: z.string(),
    /** `GET <node>/api/v1/logs?session=<id>` (admin token), null when the node is not in the cluster now. */
    url: z.string().nullable(),
  }),
});
export type ReportDetail = z.infer<typeof ReportDetail>;

export const ReportParams = z.object({ id: z.string().regex(/^[a-z0-9-]{6,40}$/, 'report id') });
export const ReportsQuery = z.object({
  token: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** `GET /api/v1/logs?session=`: this node's recent log lines of one session (its in-memory ring). */
export const LogsQuery = z.object({ token: z.string().optional(), session: SessionId });
export const LogsResponse = z.object({
  nodeId: z.string(),
  session: z.string(),
  /** The pino lines as logged (JSON objects), oldest first. */
  lines: z.array(z.record(z.string(), z.unknown())),
});
export type LogsResponse = z.infer<typeof LogsResponse>;
