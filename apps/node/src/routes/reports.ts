import { createHash } from 'node:crypto';
import type { RateBucket, ReportStore } from '@matchmesh/cluster';
import {
  grants,
  LogsQuery,
  LogsResponse,
  REPORT_SUBMIT_PATH,
  ReportAccepted,
  ReportDetail,
  ReportParams,
  ReportSubmission,
  type ReportSummary,
  ReportsQuery,
  ReportsResponse,
  type Role,
  type TokenClaims,
  type TokenKeys,
} from '@matchmesh/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';
import { authenticate, authorize } from '../http/auth.ts';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';
import type { LogRing } from '../logs/LogRing.ts';

export interface ReportsDeps {
  tokenSecret: TokenKeys;
  /** Where reports live (Redis, cluster-wide); resolved per request. */
  store: () => ReportStore;
  limits: NodeConfig['reports'];
  nodeId: string;
  /** A node's base URL as the cluster knows it now (the report's log link), undefined if gone. */
  nodeUrl(nodeId: string): Promise<string | undefined>;
  /** This node's recent log lines. */
  ring: LogRing;
  log: Logger;
  /** Called with each stored report (the ops events feed: kind 'report'). Never awaited. */
  onReport?: (report: ReportSummary) => void;
}

/** Redis unreachable: the viewer (or ops) may try again shortly. */
const unavailable = (err: unknown): never => {
  throw new HttpProblem(503, 'Service Unavailable', `reports unavailable: ${(err as Error).message}`, {
    'Retry-After': '5',
  });
};

/**
 * Problem reports: viewers submit (`POST /reports`, viewer or commentator
 * token), ops read (`/api/v1/reports`, `/api/v1/reports/:id`, and this node's
 * log lines of a session at `/api/v1/logs?session=`, admin token).
 */
export async function registerReports(app: FastifyInstance, deps: ReportsDeps): Promise<void> {
  await app.register(async (scope) => registerSubmit(scope, deps));
  await app.register(async (scope) => registerRead(scope, deps));
}

async function registerSubmit(app: FastifyInstance, deps: ReportsDeps): Promise<void> {
  // The token first (before the body is read or checked): 401/403 tell a caller without one nothing else.
  app.addHook('onRequest', async (request) => {
    await authorizeRole(deps.tokenSecret, request, ['viewer', 'commentator']);
  });
  app.withTypeProvider<ZodTypeProvider>().post(
    REPORT_SUBMIT_PATH,
    {
      // Over it: 413 problem before the body is parsed (Content-Length, or counted while reading).
      bodyLimit: deps.limits.maxBytes,
      schema: { body: ReportSubmission, response: { 201: ReportAccepted, ...problemResponses } },
    },
    async (request, reply) => {
      const submission = request.body;
      const claims = await authorize(deps.tokenSecret, request, ['viewer', 'commentator'], submission.stream);
      const verdict = await deps
        .store()
        .hit(rateBuckets(submission.stream, submission.sessionId, claims, request.ip, deps.limits))
        .catch(unavailable);
      if (!verdict.allowed) {
        const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
        throw new HttpProblem(429, 'Too Many Requests', `too many reports; try again in ${seconds} s`, {
          'Retry-After': String(seconds),
        });
      }
      const { figures, ...rest } = submission;
      const stored = await deps
        .store()
        .add({ ...rest, at: Date.now(), figures })
        .catch(unavailable);
      const { figures: _, ...summary } = stored;
      // In the session's own log lines too: ops reading them see when the viewer pressed the button.
      deps.log.info(
        { session: summary.sessionId, stream: summary.stream, report: summary.id, reportedNode: summary.nodeId },
        'problem report stored',
      );
      try {
        deps.onReport?.(summary);
      } catch (err) {
        deps.log.warn({ err }, 'onReport callback failed');
      }
      return reply.code(201).send({ id: summary.id });
    },
  );
}

/**
 * The check before the body is read, when the stream (in the body) is not
 * known yet: a valid token (401) of one of `roles` on its own stream (403).
 * The handler then checks the body's stream against the token.
 */
async function authorizeRole(secret: TokenKeys, request: FastifyRequest, roles: Role[]): Promise<void> {
  const claims = await authenticate(secret, request);
  if (!grants(claims, roles, claims.stream)) {
    throw new HttpProblem(403, 'Forbidden', `token does not grant ${roles.join(' or ')}`);
  }
}

/**
 * Two buckets per submission, shared by every node (Redis):
 * - the player session: one viewer pressing the button again and again;
 * - the token's subject, or the client's address when the token has none (a
 *   link token shared by a whole audience): a session id is the client's to
 *   make up, so this caps what one token holder or one address can push.
 * The address is hashed and lives only in the counter's key for one window;
 * it is never stored with a report.
 */
function rateBuckets(
  stream: string,
  sessionId: string,
  claims: TokenClaims,
  ip: string,
  limits: NodeConfig['reports'],
): RateBucket[] {
  // A session credential's subject is a session id, new at every exchange of the same link: the address caps it.
  const holder = claims.ses ? undefined : claims.sub;
  const who = holder ? `sub:${holder}` : `ip:${createHash('sha256').update(ip).digest('hex').slice(0, 16)}`;
  return [
    { key: `session:${stream}:${sessionId}`, limit: limits.perSession, windowMs: limits.windowMs },
    { key: who, limit: limits.perSubject, windowMs: limits.windowMs },
  ];
}

async function registerRead(app: FastifyInstance, deps: ReportsDeps): Promise<void> {
  app.addHook('onRequest', async (request) => {
    await authorize(deps.tokenSecret, request, 'admin', '*');
  });
  const r = app.withTypeProvider<ZodTypeProvider>();

  /** Newest first, without the figures. */
  r.get(
    '/api/v1/reports',
    { schema: { querystring: ReportsQuery, response: { 200: ReportsResponse, ...problemResponses } } },
    async (request) => ({ reports: await deps.store().list(request.query.limit).catch(unavailable) }),
  );

  /** The whole report, and where the node that served the session keeps its log lines. */
  r.get(
    '/api/v1/reports/:id',
    {
      schema: {
        params: ReportParams,
        querystring: ReportsQuery.pick({ token: true }),
        response: { 200: ReportDetail, ...problemResponses },
      },
    },
    async (request) => {
      const report = await deps.store().get(request.params.id).catch(unavailable);
      if (!report) throw new HttpProblem(404, 'Not Found', `no report "${request.params.id}" (unknown or expired)`);
      const base = await deps.nodeUrl(report.nodeId).catch(() => undefined);
      const url = base ? `${base}/api/v1/logs?session=${encodeURIComponent(report.sessionId)}` : null;
      return { ...report, logs: { nodeId: report.nodeId, url } };
    },
  );

  /** This node's recent log lines of one session (its in-memory ring: bounded, lost on restart). */
  r.get(
    '/api/v1/logs',
    { schema: { querystring: LogsQuery, response: { 200: LogsResponse, ...problemResponses } } },
    async (request) => ({
      nodeId: deps.nodeId,
      session: request.query.session,
      lines: deps.ring.forSession(request.query.session),
    }),
  );
}
