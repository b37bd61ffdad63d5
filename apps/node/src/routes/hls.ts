import { readFile } from 'node:fs/promises';
import {
  type AudioRendition,
  audioFolder,
  type HlsService,
  type HlsStream,
  initWithoutTrack,
  mediaWithoutTrack,
  Rendition,
  renderMediaPlaylist,
  renderMultivariant,
} from '@matchmesh/hls';
import {
  grants,
  HLS_CACHE_CONTROL,
  HLS_DRAINING_HEADER,
  HLS_FILE_PATTERNS,
  HLS_MIME,
  HlsFileParams,
  HlsFileQuery,
  HlsRenditionFileParams,
  HlsScores,
  NoBody,
  StreamParams,
  TokenError,
  type TokenKeys,
  TokenQuery,
  verifyToken,
} from '@matchmesh/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';

export interface HlsRoutesOptions {
  hls: HlsService;
  tokenSecret: TokenKeys;
  /** How long a first request waits for the packager's first output. */
  startWaitMs: number;
  /**
   * While this node drains: the base URL of another relay of the region
   * (undefined otherwise). New players are sent there (307 on the
   * multivariant playlist); players already here read it in the
   * `Matchmesh-Relay-Draining` header of every answer and move.
   */
  drainingTo?: () => Promise<string | undefined>;
}

/** Which rendition a path names: a simulcast layer, the root (top), or an audio rendition ('' = venue only). */
type RenditionRef = number | undefined | { audio: string };

/** Header of every HLS answer of a draining relay: where its players should move to (the client reads it). */
export const DRAINING_HEADER = HLS_DRAINING_HEADER;

/** Anything in a raw /hls path that could step out of a folder, however it is encoded. */
const TRAVERSAL = /(\.\.|%2e|%2f|%5c|\\|%00|\0)/i;

function setCommon(reply: FastifyReply, type: string, cache: string): void {
  reply.header('Access-Control-Allow-Origin', '*');
  reply.header('Cache-Control', cache);
  reply.type(type);
}

/** What the token folder serves: playlists as text, media as bytes (neither is JSON-encoded), the score log as JSON. */
const fileResponses = {
  200: {
    content: {
      [HLS_MIME.playlist]: { schema: z.string() },
      [HLS_MIME.init]: { schema: z.instanceof(Buffer) },
      [HLS_MIME.segment]: { schema: z.instanceof(Buffer) },
      [HLS_MIME.json]: { schema: HlsScores },
    },
  },
  ...problemResponses,
};

async function checkToken(secret: TokenKeys, token: string | undefined, stream: string): Promise<string> {
  let claims: Awaited<ReturnType<typeof verifyToken>>;
  try {
    claims = await verifyToken(secret, token);
  } catch (err) {
    throw new HttpProblem(401, 'Unauthorized', err instanceof TokenError ? err.message : 'token is invalid');
  }
  if (!grants(claims, ['viewer', 'commentator'], stream)) {
    throw new HttpProblem(403, 'Forbidden', `token does not grant viewer on stream "${stream}"`);
  }
  return token!;
}

/**
 * `/hls/...`: the multivariant playlist (token as query), and beneath the
 * token-carrying folder the media playlist (blocking reload), init segments,
 * parts (the preload hint is held until it exists), segments and the score
 * log. File names are matched against fixed patterns and parsed to integers;
 * nothing from the request is ever joined onto a path.
 */
export async function registerHls(app: FastifyInstance, o: HlsRoutesOptions): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // A draining relay: new players go to another relay of the region; playing ones are told where.
  app.addHook('onRequest', async (request, reply) => {
    if (!o.drainingTo || request.method !== 'GET') return;
    const target = await o.drainingTo();
    if (!target) return;
    reply.header(DRAINING_HEADER, target);
    reply.header('Access-Control-Expose-Headers', DRAINING_HEADER);
    const url = request.raw.url ?? '';
    if (/^\/hls\/[^/]+\/index\.m3u8(\?|$)/.test(url)) {
      reply.header('Access-Control-Allow-Origin', '*');
      return reply
        .code(307)
        .header('Location', `${target.replace(/\/+$/, '')}${url}`)
        .send();
    }
  });
  app.addHook('onRequest', async (request) => {
    const rawPath = (request.raw.url ?? '').split('?')[0]!;
    if (rawPath.startsWith('/hls') && TRAVERSAL.test(rawPath)) {
      throw new HttpProblem(400, 'Bad Request', 'path traversal is not allowed');
    }
  });

  const packager = async (stream: string, waitForOutput: boolean): Promise<HlsStream> => {
    // Safe to drop: HlsService logs why packaging could not start; the viewer sees "not live here".
    const hls = await o.hls.get(stream).catch(() => undefined);
    if (!hls) throw new HttpProblem(404, 'Not Found', `stream "${stream}" is not live here`);
    if (waitForOutput && !(await hls.waitFor(() => hls.hasOutput(), o.startWaitMs))) {
      throw new HttpProblem(503, 'Service Unavailable', 'the HLS packager is starting', {
        'Retry-After': '2',
      });
    }
    return hls;
  };

  /**
   * Every rendition listed (BANDWIDTH/AVERAGE-BANDWIDTH measured, RESOLUTION/CODECS from the init segment),
   * and the audio group while commentary is on air.
   */
  const multivariant = (hls: HlsStream, prefix: string): string => {
    const audio = hls.audioRenditions(prefix);
    return renderMultivariant(hls.variants(prefix, audio.length > 0), audio);
  };

  /**
   * A rendition by number (`r<i>/`), an audio rendition (`{audio: lang}`, '' = venue only), or the top one
   * (the token folder's root, today's single rendition).
   */
  const renditionOf = (hls: HlsStream, ref: RenditionRef): Rendition | AudioRendition => {
    if (typeof ref === 'object') {
      const a = hls.audio.get(ref.audio || undefined);
      if (!a) throw new HttpProblem(404, 'Not Found', `no audio rendition ${audioFolder(ref.audio || undefined)}`);
      return a;
    }
    const r = ref === undefined ? hls.top : hls.rendition(ref);
    if (!r) throw new HttpProblem(404, 'Not Found', `no rendition r${ref}`);
    return r;
  };

  const anyPath = z.object({ '*': z.string() });
  r.options(
    '/hls/*',
    { schema: { params: anyPath, response: { 204: NoBody, ...problemResponses } } },
    async (_request, reply) => {
      reply.header('Access-Control-Allow-Origin', '*');
      reply.header('Access-Control-Allow-Methods', 'GET, OPTIONS');
      reply.header('Access-Control-Allow-Headers', 'Range');
      return reply.code(204).send();
    },
  );

  r.get(
    '/hls/:stream/index.m3u8',
    {
      schema: {
        params: StreamParams,
        querystring: TokenQuery,
        response: { 200: { content: { [HLS_MIME.playlist]: { schema: z.string() } } }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { stream } = request.params;
      const token = await checkToken(o.tokenSecret, request.query.token, stream);
      const hls = await packager(stream, true);
      setCommon(reply, HLS_MIME.playlist, HLS_CACHE_CONTROL.playlist);
      return multivariant(hls, `t/${token}/`);
    },
  );

  r.get(
    '/hls/:stream/t/:token/:file',
    { schema: { params: HlsFileParams, querystring: HlsFileQuery, response: fileResponses } },
    async (request, reply) => {
      const { stream, token, file } = request.params;
      await checkToken(o.tokenSecret, token, stream);
      if (HLS_FILE_PATTERNS.multivariant.test(file)) {
        const hls = await packager(stream, true);
        setCommon(reply, HLS_MIME.playlist, HLS_CACHE_CONTROL.playlist);
        return multivariant(hls, '');
      }
      if (HLS_FILE_PATTERNS.scores.test(file))
        return scores(await packager(stream, false), stream, request.query, reply);
      return renditionFile(stream, undefined, file, request.query, reply);
    },
  );

  r.get(
    '/hls/:stream/t/:token/:rendition/:file',
    { schema: { params: HlsRenditionFileParams, querystring: HlsFileQuery, response: fileResponses } },
    async (request, reply) => {
      const { stream, token, rendition, file } = request.params;
      await checkToken(o.tokenSecret, token, stream);
      const m = HLS_FILE_PATTERNS.rendition.exec(rendition);
      if (m) return renditionFile(stream, Number(m[1]), file, request.query, reply);
      const v = HLS_FILE_PATTERNS.videoOnly.exec(rendition);
      if (v) return renditionFile(stream, Number(v[1]), file, request.query, reply, true);
      const a = HLS_FILE_PATTERNS.audio.exec(rendition);
      if (!a) throw new HttpProblem(404, 'Not Found', 'no such HLS resource');
      return renditionFile(stream, { audio: a[1] ?? '' }, file, request.query, reply);
    },
  );

  /** The media playlist, init segments, segments and parts of one rendition. */
  async function renditionFile(
    stream: string,
    index: RenditionRef,
    file: string,
    query: HlsFileQuery,
    reply: FastifyReply,
    /** Serve the rendition without its muxed audio track (v<L>/: beside an audio group). */
    videoOnly = false,
  ): Promise<string | FastifyReply> {
    const strip = (r: Rendition | AudioRendition, data: Buffer, init: boolean): Buffer => {
      const audioId = videoOnly && r instanceof Rendition ? r.audioTrack?.id : undefined;
      if (audioId === undefined) return data;
      return init ? initWithoutTrack(data, audioId) : mediaWithoutTrack(data, audioId);
    };
    if (HLS_FILE_PATTERNS.media.test(file)) {
      const hls = await packager(stream, true);
      let r = renditionOf(hls, index);
      if (r.dropped && r instanceof Rendition)
        throw new HttpProblem(404, 'Not Found', `rendition r${r.index} is not available (its layer stopped)`);
      if (!(await hls.waitFor(() => renditionOf(hls, index).store.segments.length > 0, o.startWaitMs))) {
        throw new HttpProblem(503, 'Service Unavailable', 'the HLS packager is starting', { 'Retry-After': '2' });
      }
      r = renditionOf(hls, index);
      return mediaPlaylist(hls, r, query, reply);
    }
    let m = HLS_FILE_PATTERNS.init.exec(file);
    if (m) {
      const r = renditionOf(await packager(stream, false), index);
      const data = r.store.inits.get(Number(m[1]));
      if (!data) throw new HttpProblem(404, 'Not Found', 'no such init segment');
      setCommon(reply, HLS_MIME.init, HLS_CACHE_CONTROL.media);
      return reply.send(strip(r, data, true));
    }
    m = HLS_FILE_PATTERNS.segment.exec(file);
    if (m) {
      const hls = await packager(stream, false);
      const r = renditionOf(hls, index);
      return segment(r, Number(m[1]), reply, (data) => strip(r, data, false));
    }
    m = HLS_FILE_PATTERNS.part.exec(file);
    if (m) {
      const hls = await packager(stream, false);
      const r = renditionOf(hls, index);
      return part(hls, r, Number(m[1]), Number(m[2]), reply, (data) => strip(r, data, false));
    }
    throw new HttpProblem(404, 'Not Found', 'no such HLS resource');
  }

  // Every other /hls path: unknown resource (traversal was refused above).
  r.get('/hls/*', { schema: { params: anyPath, response: problemResponses } }, async () => {
    throw new HttpProblem(404, 'Not Found', 'no such HLS resource');
  });

  // The query was checked by the route's schema (HlsFileQuery: also "_HLS_part requires _HLS_msn").
  async function mediaPlaylist(
    hls: HlsStream,
    r: Rendition | AudioRendition,
    query: HlsFileQuery,
    reply: FastifyReply,
  ): Promise<string> {
    const { _HLS_msn: msn, _HLS_part: partIndex, _HLS_skip: skip } = query;
    const store = r.store;
    if (msn !== undefined) {
      const last = store.lastMsn;
      const open = store.openSegment;
      // RFC 8216bis 6.2.5.2: too far ahead is a client error, not a wait.
      if (msn > last + 2)
        throw new HttpProblem(400, 'Bad Request', `_HLS_msn ${msn} is beyond the live edge (${last})`);
      if (partIndex !== undefined && open && msn === open.msn && partIndex > open.parts.length - 1 + 3) {
        throw new HttpProblem(400, 'Bad Request', `_HLS_part ${partIndex} is beyond the advance part limit`);
      }
      const ready = (): boolean => {
        if (store.lastMsn > msn) return true;
        const seg = store.find(msn);
        if (!seg) return (store.segments[0]?.msn ?? 0) > msn;
        return seg.complete || (partIndex !== undefined && seg.parts.length > partIndex);
      };
      if (!(await hls.waitFor(ready, 3 * hls.targetDuration * 1000))) {
        throw new HttpProblem(503, 'Service Unavailable', 'the playlist did not reach the requested part in time', {
          'Retry-After': '1',
        });
      }
    }
    setCommon(reply, HLS_MIME.playlist, HLS_CACHE_CONTROL.playlist);
    return renderMediaPlaylist({
      segments: store.segments,
      discontinuitySequence: store.discontinuitySequence,
      targetDuration: hls.targetDuration,
      partTarget: hls.partTarget,
      hint: hls.preloadHint(r),
      skip: skip !== undefined,
    });
  }

  async function segment(
    r: Rendition | AudioRendition,
    msn: number,
    reply: FastifyReply,
    view: (data: Buffer) => Buffer,
  ): Promise<FastifyReply> {
    const seg = r.store.find(msn);
    if (!seg?.complete) throw new HttpProblem(404, 'Not Found', `segment ${msn} is not in the window`);
    let data = seg.data;
    if (!data) {
      try {
        data = await readFile(r.store.filePath(`seg-${seg.msn}.m4s`));
      } catch {
        throw new HttpProblem(404, 'Not Found', `segment ${msn} is not in the window`);
      }
    }
    setCommon(reply, HLS_MIME.segment, HLS_CACHE_CONTROL.media);
    return reply.send(view(data));
  }

  async function part(
    hls: HlsStream,
    r: Rendition | AudioRendition,
    msn: number,
    index: number,
    reply: FastifyReply,
    view: (data: Buffer) => Buffer,
  ): Promise<FastifyReply> {
    const store = r.store;
    const existing = (): Buffer | undefined => store.find(msn)?.parts[index]?.data;
    // Decided: the part exists, or it never will (its segment is complete, or gone).
    const decided = (): boolean => {
      if (existing()) return true;
      const seg = store.find(msn);
      if (seg) return seg.complete;
      return msn <= store.lastMsn || msn > store.lastMsn + 1;
    };
    const hint = hls.preloadHint(r);
    const awaitable =
      (hint && hint.msn === msn && hint.part === index) || (!decided() && msn === store.lastMsn + 1 && index === 0);
    if (awaitable) await hls.waitFor(decided, 3 * hls.targetDuration * 1000);
    const data = existing();
    if (!data) throw new HttpProblem(404, 'Not Found', `part ${msn}.${index} is not available`);
    setCommon(reply, HLS_MIME.segment, HLS_CACHE_CONTROL.media);
    return reply.send(view(data));
  }

  async function scores(hls: HlsStream, stream: string, query: HlsFileQuery, reply: FastifyReply): Promise<HlsScores> {
    const { since, wait } = query;
    if (since !== undefined && wait) {
      // Blocking request: answer as soon as a newer update exists (or the client goes away).
      const gone = new AbortController();
      const onClose = () => gone.abort();
      reply.raw.once('close', onClose);
      await hls.scores.waitForNewer(since, wait, gone.signal);
      reply.raw.off('close', onClose);
    }
    setCommon(reply, HLS_MIME.json, HLS_CACHE_CONTROL.json);
    return {
      stream,
      timeline: [...hls.scores.anchors],
      updates: hls.scores.since(since),
      latestSeq: hls.scores.latestSeq,
    };
  }
}
