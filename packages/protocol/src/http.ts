import { z } from 'zod';
import { HlsMediaQuery, HlsScoresQuery } from './hls.ts';
import { ObjectId, StreamId } from './ids.ts';
import { LanguageTag } from './language.ts';
import { PipeSummary } from './mesh.ts';

/*
 * The parts of a node's HTTP contract that are not a message of their own:
 * route params, query strings and the small answers of health, WHIP/WHEP and
 * the ops API. Every Fastify route of apps/node declares its params, query,
 * body and responses from here (or from the message schemas beside it), so a
 * request that fails them is a 400 problem naming the field, on every route.
 */

/** `:stream` of every per-stream route. */
export const StreamParams = z.object({ stream: StreamId });
export type StreamParams = z.infer<typeof StreamParams>;

/** A WHIP/WHEP session resource: `/whip/:stream/sessions/:session`. */
export const SessionParams = StreamParams.extend({ session: ObjectId });
export type SessionParams = z.infer<typeof SessionParams>;

/** A node of the registry: `/api/v1/nodes/:id/...` (the NodeRecord id). */
export const NodeParams = z.object({ id: z.string().min(1).max(64) });

/**
 * The bearer token as a query parameter, for callers that cannot set a header
 * (players, the ops page's links). A header, when present, wins.
 */
export const TokenQuery = z.object({ token: z.string().optional() });

/** `lang=none`: a WHEP player wants the venue sound only. */
export const VENUE_ONLY = 'none';

/**
 * WHEP's query: the token, and the commentary language (BCP 47, or `none`) its second audio m-line receives;
 * absent, the stream's default language.
 */
export const WhepQuery = TokenQuery.extend({
  lang: z.union([z.literal(VENUE_ONLY), LanguageTag]).optional(),
});

/** An answer without a body (204, a WHIP/WHEP DELETE's 200). */
export const NoBody = z.void();

/** The SDP offer/answer of WHIP and WHEP (RFC 9725): text, bounded by the route's body limit. */
export const SdpBody = z.string();
export const SDP_CONTENT_TYPE = 'application/sdp';
/** Trickle ICE / ICE restart fragment (RFC 8840) of a WHIP/WHEP PATCH. */
export const SDP_FRAG_CONTENT_TYPE = 'application/trickle-ice-sdpfrag';

// ------------------------------------------------------------------ health

/** `GET /healthz`: the process answers. */
export const HealthResponse = z.object({ status: z.literal('ok') });
/** `GET /readyz` when the node takes new work. */
export const ReadyResponse = z.object({ status: z.literal('ready') });
/** `GET /readyz` (503) when it does not, and why. */
export const NotReadyResponse = z.object({ status: z.literal('not ready'), reasons: z.array(z.string()) });

// ------------------------------------------------------------------ ops API

/** `GET /api/v1/streams/:stream/program`: the stable program of a stream on one node. */
export const ProgramResponse = z.object({
  stream: StreamId,
  nodeId: z.string(),
  live: z.boolean(),
  originReconnects: z.number().int().min(0),
  scores: z.object({
    received: z.number().int().min(0),
    forwarded: z.number().int().min(0),
    duplicates: z.number().int().min(0),
    invalid: z.number().int().min(0),
    /** Refused: from an older origin epoch, or a seq another epoch holds. */
    refused: z.number().int().min(0),
    lastSeq: z.number().int().min(0),
    /** The origin epoch of the last accepted update (0: none, or a publisher without epochs). */
    epoch: z.number().int().min(0),
  }),
  /** The feed on air (undefined while none is). */
  activeSource: z.string().optional(),
  activeRole: z.enum(['primary', 'backup']).optional(),
  activeLabel: z.string().optional(),
  sources: z.array(
    z.object({
      id: z.string(),
      role: z.enum(['primary', 'backup']),
      label: z.string(),
      /** Null until the source delivered its first packet. */
      lastPacketMsAgo: z.number().nullable(),
    }),
  ),
  switches: z.number().int().min(0),
  lastSwitch: z
    .object({
      at: z.number(),
      from: z.string().optional(),
      to: z.string(),
      reason: z.string(),
      /** Gap in the video fed to viewers around the switch; undefined until the video splice happened. */
      freezeMs: z.number().optional(),
    })
    .optional(),
  tracks: z.array(
    z.object({
      kind: z.string(),
      active: z.string().optional(),
      pending: z.string().optional(),
      forwarded: z.number().int().min(0),
      dropped: z.number().int().min(0),
      /** Packets that waited in Node for the worker's fan-out (the feed pacer: a key frame's burst). */
      paced: z.number().int().min(0),
      /** Key-frame requests sent to the feed, after coalescing (on an ingest node: what reaches the origin). */
      keyFrameRequests: z.number().int().min(0),
    }),
  ),
});
export type ProgramResponse = z.infer<typeof ProgramResponse>;

/** `POST /api/v1/streams/:stream/publishers/drop`: how many WHIP sessions were dropped here. */
export const PublishersDropResponse = z.object({ stream: StreamId, dropped: z.number().int().min(0) });

/** `GET /api/v1/pipes`: this node's pipes. */
export const PipesResponse = z.object({ nodeId: z.string(), pipes: z.array(PipeSummary) });
/** `GET /api/v1/pipes`: this node's pipes, or with `scope=cluster` every node's (ClusterPipes). */
export const PipesQuery = TokenQuery.extend({ scope: z.enum(['node', 'cluster']).default('node') });

// ------------------------------------------------------------------ HLS

/** `/hls/:stream/t/:token/:file`: the token travels in the path (see hls.ts). */
export const HlsFileParams = StreamParams.extend({ token: z.string().min(1), file: z.string() });

/** `/hls/:stream/t/:token/:rendition/:file`: a file of one rendition (`r<i>`, i = simulcast layer, 0 lowest). */
export const HlsRenditionFileParams = HlsFileParams.extend({ rendition: z.string() });

/**
 * Query of any file beneath the token folder: the LL-HLS delivery directives
 * (media playlist) and the score log's `since`/`wait`. Unknown keys are ignored.
 */
export const HlsFileQuery = z
  .object({ ...HlsMediaQuery.shape, ...HlsScoresQuery.shape })
  .refine((q) => q._HLS_part === undefined || q._HLS_msn !== undefined, {
    message: '_HLS_part requires _HLS_msn',
    path: ['_HLS_part'],
  });
export type HlsFileQuery = z.infer<typeof HlsFileQuery>;
