import { PROBLEM_CONTENT_TYPE, type Problem } from '@matchmesh/protocol';
import type { FastifyReply } from 'fastify';

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
