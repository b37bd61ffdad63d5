import {
  type IceServer,
  LAST_SCORE_HEADER,
  NoBody,
  type Role,
  SDP_CONTENT_TYPE,
  SDP_FRAG_CONTENT_TYPE,
  SdpBody,
  SessionParams,
  StreamId,
  StreamParams,
  type TokenClaims,
  type TokenKeys,
  TokenQuery,
  WhepQuery,
} from '@matchmesh/protocol';
import { MAX_SDP_BYTES, MediaError } from '@matchmesh/sfu';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authorize } from '../http/auth.ts';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';
import { iceServersLinkHeader } from '../ice-servers.ts';

/**
 * Shared plumbing of the WHIP (RFC 9725) and WHEP endpoints: they differ only
 * in role, direction and which media call answers the offer.
 */

export interface HttpSession {
  id: string;
  etag: string;
  answer: string;
  closed: boolean;
  close(reason?: string): void;
  restartIce?(): Promise<{ usernameFragment: string; password: string }>;
}

export interface WebRtcHttpOptions {
  /** URL prefix, 'whip' or 'whep'. */
  prefix: 'whip' | 'whep';
  role: Role | Role[];
  tokenSecret: TokenKeys;
  /** ICE servers for a new session (TURN credentials are minted per session). */
  iceServers(user: string): IceServer[];
  /** A reason to refuse new sessions right now (503), e.g. Redis down. */
  admissionBlocked?(stream: string): string | undefined;
  /** Answer the offer, or throw MediaError. */
  /** `query`: the POST's query string (WHEP: `lang`). */
  open(stream: string, offer: string, claims: TokenClaims, query: { lang?: string }): Promise<HttpSession>;
  /** The session `sessionId` of `stream` (a session URL only works under its own stream). */
  find(stream: string, sessionId: string): HttpSession | undefined;
  /**
   * Whether this node takes the endpoint's POST for `stream` (null), and if not (a relay-only or draining
   * node and WHIP) the URL of a node of the cluster that does (307 there, RFC 9725 §4.5), or undefined
   * (503: none is up).
   */
  elsewhere?(stream: string): Promise<string | undefined | null>;
  /** Extra headers of a 201 (WHIP: where the stream's scores stand, for a publisher that starts afresh). */
  answerHeaders?(stream: string): Record<string, string>;
}

/** Methods each URL answers; any other is 405 with this `Allow` (RFC 9725 §4: endpoint and session URLs). */
const ENDPOINT_METHODS = 'POST, OPTIONS';
const SESSION_METHODS = 'PATCH, DELETE, OPTIONS';

const EXPOSED = `Location, ETag, Link, Accept-Post, Accept-Patch, Retry-After, ${LAST_SCORE_HEADER}`;

function cors(reply: FastifyReply): void {
  reply.header('Access-Control-Allow-Origin', '*');
  reply.header('Access-Control-Expose-Headers', EXPOSED);
}

export function mediaErrorToProblem(err: MediaError): HttpProblem {
  // Both pass: a publisher may be reconnecting; a viewer may leave (or the client tries another relay).
  const retry = err.code === 'stream_not_live' ? '5' : err.code === 'node_full' ? '2' : undefined;
  const headers: Record<string, string> = retry ? { 'Retry-After': retry } : {};
  const titles: Record<number, string> = {
    400: 'Bad Request',
    404: 'Not Found',
    409: 'Conflict',
    410: 'Gone',
    422: 'Unprocessable Content',
    503: 'Service Unavailable',
  };
  return new HttpProblem(err.status, titles[err.status] ?? 'Error', err.message, headers);
}

/** A body of this content type is a string (see the parser below); any other type is refused with 415 after the token. */
const textBody = (type: string) => ({ content: { [type]: { schema: SdpBody } } });

export async function registerWebRtcHttp(app: FastifyInstance, o: WebRtcHttpOptions): Promise<void> {
  const base = `/${o.prefix}/:stream`;
  const sessionPath = `${base}/sessions/:session`;
  const r = app.withTypeProvider<ZodTypeProvider>();

  // Bodies are SDP text; anything else is 415 (see the error handler).
  app.addContentTypeParser(
    [SDP_CONTENT_TYPE, SDP_FRAG_CONTENT_TYPE],
    { parseAs: 'string', bodyLimit: MAX_SDP_BYTES },
    (_req, body, done) => done(null, body),
  );
  // On every answer, errors included (a schema failure never reaches a handler): a browser
  // client reads the problem instead of a CORS failure.
  app.addHook('onRequest', async (_request, reply) => cors(reply));

  // Pre-flight takes any path: a bad stream id gets its 400 on the request itself, readable cross-origin.
  const preflightParams = z.object({ stream: z.string(), session: z.string().optional() });

  r.options(
    base,
    { schema: { params: preflightParams, response: { 204: NoBody, ...problemResponses } } },
    async (request, reply) => {
      reply.header('Access-Control-Allow-Methods', 'POST, OPTIONS');
      reply.header('Access-Control-Allow-Headers', 'Authorization, Content-Type, If-Match');
      reply.header('Accept-Post', 'application/sdp');
      // ICE servers are handed out only to an authorized caller (RFC 9725 §4.4).
      if (request.headers.authorization) {
        try {
          const stream = StreamId.parse(request.params.stream);
          await authorize(o.tokenSecret, request, o.role, stream);
          const link = iceServersLinkHeader(o.iceServers(`${o.prefix}-${stream}`));
          if (link) reply.header('Link', link);
        } catch {
          // Pre-flight stays anonymous: no Link header.
        }
      }
      return reply.code(204).send();
    },
  );

  r.post(
    base,
    {
      schema: {
        params: StreamParams,
        querystring: WhepQuery,
        body: textBody(SDP_CONTENT_TYPE),
        response: { 201: { content: { [SDP_CONTENT_TYPE]: { schema: SdpBody } } }, 307: NoBody, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { stream } = request.params;
      const claims = await authorize(o.tokenSecret, request, o.role, stream);
      if (request.headers['content-type']?.split(';')[0]?.trim() !== SDP_CONTENT_TYPE) {
        throw new HttpProblem(415, 'Unsupported Media Type', 'the offer must be sent as application/sdp');
      }
      const blocked = o.admissionBlocked?.(stream);
      if (blocked) throw new HttpProblem(503, 'Service Unavailable', blocked, { 'Retry-After': '2' });
      if (o.elsewhere) {
        const other = await o.elsewhere(stream);
        if (other !== null) {
          // 307 keeps the method and the body: the client posts the same offer there, with the same token.
          if (other) return reply.code(307).header('Location', `${other}/${o.prefix}/${stream}`).send();
          throw new HttpProblem(
            503,
            'Service Unavailable',
            `this node does not take ${o.prefix.toUpperCase()}, and no node of the cluster that does is up`,
            {
              'Retry-After': '5',
            },
          );
        }
      }
      const offer = typeof request.body === 'string' ? request.body : '';
      let session: HttpSession;
      try {
        session = await o.open(stream, offer, claims, o.prefix === 'whep' ? request.query : {});
      } catch (err) {
        if (err instanceof MediaError) throw mediaErrorToProblem(err);
        throw err;
      }
      const link = iceServersLinkHeader(o.iceServers(`${o.prefix}-${stream}-${session.id}`));
      if (link) reply.header('Link', link);
      reply.header('Location', `/${o.prefix}/${stream}/sessions/${session.id}`);
      reply.header('ETag', session.etag);
      reply.header('Accept-Patch', SDP_FRAG_CONTENT_TYPE);
      for (const [name, value] of Object.entries(o.answerHeaders?.(stream) ?? {})) reply.header(name, value);
      return reply.code(201).type(SDP_CONTENT_TYPE).send(session.answer);
    },
  );

  const findSession = async (request: FastifyRequest, params: SessionParams): Promise<HttpSession> => {
    await authorize(o.tokenSecret, request, o.role, params.stream);
    const session = o.find(params.stream, params.session);
    if (!session || session.closed) throw new HttpProblem(404, 'Not Found', 'no such session');
    return session;
  };

  r.options(
    sessionPath,
    { schema: { params: preflightParams, response: { 204: NoBody, ...problemResponses } } },
    async (_request, reply) => {
      reply.header('Access-Control-Allow-Methods', 'PATCH, DELETE, OPTIONS');
      reply.header('Access-Control-Allow-Headers', 'Authorization, Content-Type, If-Match');
      reply.header('Accept-Patch', SDP_FRAG_CONTENT_TYPE);
      return reply.code(204).send();
    },
  );

  // Trickle ICE and ICE restart (RFC 9725 §4.3). mediasoup is ICE-lite and
  // learns the client's candidates from its connectivity checks, so trickled
  // candidates are accepted and need no action; a new ufrag/pwd means ICE
  // restart, answered with our new credentials.
  r.patch(
    sessionPath,
    {
      schema: {
        params: SessionParams,
        querystring: TokenQuery,
        body: textBody(SDP_FRAG_CONTENT_TYPE),
        response: {
          200: { content: { [SDP_FRAG_CONTENT_TYPE]: { schema: SdpBody } } },
          204: NoBody,
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const session = await findSession(request, request.params);
      if (request.headers['content-type']?.split(';')[0]?.trim() !== SDP_FRAG_CONTENT_TYPE) {
        throw new HttpProblem(415, 'Unsupported Media Type', 'PATCH body must be application/trickle-ice-sdpfrag');
      }
      const ifMatch = request.headers['if-match'];
      if (!ifMatch) throw new HttpProblem(428, 'Precondition Required', 'If-Match is required');
      const frag = typeof request.body === 'string' ? request.body : '';
      const restart = /a=ice-ufrag:/.test(frag) && ifMatch === '*';
      if (!restart && ifMatch !== session.etag) {
        throw new HttpProblem(412, 'Precondition Failed', 'ETag does not match the ICE session');
      }
      if (!restart) return reply.code(204).send();
      if (!session.restartIce) throw new HttpProblem(501, 'Not Implemented', 'ICE restart is not supported here');
      const ice = await session.restartIce();
      reply.header('ETag', session.etag);
      return reply
        .code(200)
        .type(SDP_FRAG_CONTENT_TYPE)
        .send(`a=ice-ufrag:${ice.usernameFragment}\r\na=ice-pwd:${ice.password}\r\n`);
    },
  );

  // Any other method on the endpoint or a session: 405 with what is allowed (not 404: the resource exists).
  const notAllowed = (allow: string) => async () => {
    throw new HttpProblem(405, 'Method Not Allowed', `allowed here: ${allow}`, { Allow: allow });
  };
  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: base,
    schema: { hide: true },
    handler: notAllowed(ENDPOINT_METHODS),
  });
  app.route({
    method: ['GET', 'PUT', 'POST'],
    url: sessionPath,
    schema: { hide: true },
    handler: notAllowed(SESSION_METHODS),
  });

  r.delete(
    sessionPath,
    { schema: { params: SessionParams, querystring: TokenQuery, response: { 200: NoBody, ...problemResponses } } },
    async (request, reply) => {
      const session = await findSession(request, request.params);
      session.close('DELETE by client');
      return reply.code(200).send();
    },
  );
}
