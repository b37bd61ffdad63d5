import { PROBLEM_CONTENT_TYPE, type Problem } from '@matchmesh/protocol';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Send an RFC 9457 problem. Every 4xx/5xx the node emits goes through here so
 * clients (and the fuzz tests) can rely on one error shape.
 */
export function sendProblem(
  reply: FastifyReply,
  status: number,
  title: string,
  detail?: string,
  headers: Record<string, string> = {},
): FastifyReply {
  const body: Problem = { type: `https://matchmesh.dev/problems/${slug(title)}`, title, status };
  if (detail) body.detail = detail;
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(body);
}

function slug(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** Thrown by route helpers; the error handler turns it into a problem response. */
export class HttpProblem extends Error {
  readonly status: number;
  readonly title: string;
  readonly headers: Record<string, string>;
  constructor(status: number, title: string, detail?: string, headers: Record<string, string> = {}) {
    super(detail ?? title);
    this.status = status;
    this.title = title;
    this.headers = headers;
  }
}

/**
 * The node's one error handler: HttpProblem as thrown, a failed schema (see
 * schemas.ts) as 400 naming the field, other 4xx from Fastify (bad JSON, body
 * too large, wrong content type) as themselves, anything else as a logged 500.
 */
export function problemErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof HttpProblem) return sendProblem(reply, err.status, err.title, err.message, err.headers);
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return sendProblem(reply, 415, 'Unsupported Media Type', 'unsupported Content-Type');
  }
  const status = err.statusCode;
  if (status === 413) return sendProblem(reply, 413, 'Content Too Large', err.message);
  if (status && status >= 400 && status < 500) return sendProblem(reply, status, 'Bad Request', err.message);
  request.log.error({ err }, 'unhandled error');
  return sendProblem(reply, 500, 'Internal Server Error');
}
