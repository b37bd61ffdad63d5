import { timingSafeEqual } from 'node:crypto';
import {
  type BilliardsScore,
  PROBLEM_CONTENT_TYPE,
  type Problem,
  ScoreInput,
  type ScoreUpdate,
} from '@matchmesh/protocol';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';

/*
 * The origin's local score API, for the scorer's console or a scoreboard
 * integration at the venue:
 *
 *   POST /scores          body ScoreInput {score, mediaTime?} -> 202 ScoreUpdate
 *   GET  /scores/latest   -> 200 ScoreUpdate | 404
 *   GET  /status          -> agent stats
 *   GET  /healthz         -> {ok, connected} (no auth: for process supervisors)
 *
 * Every route but /healthz needs `Authorization: Bearer <token>`. Errors are
 * RFC 9457 problem+json like everywhere else in matchmesh.
 */

export interface ScoreSink {
  sendScore(score: BilliardsScore, mediaTime?: number): ScoreUpdate;
  readonly latestScore: ScoreUpdate | undefined;
  readonly connected: boolean;
  readonly stats: unknown;
}

export interface ApiOptions {
  token: string;
  logger: Logger;
}

function sendProblem(reply: FastifyReply, status: number, title: string, detail?: string, extra?: object) {
  const body: Problem & Record<string, unknown> = {
    type: 'about:blank',
    title,
    status,
    ...(detail ? { detail } : {}),
    ...extra,
  };
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(body);
}

/** Constant-time compare, so the token cannot be guessed byte by byte from timings. */
function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!.trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export function buildApi(agent: ScoreSink, opts: ApiOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger.child({ component: 'api' }) as FastifyBaseLogger,
    // Scores can arrive 50 times a second; one log line per request would drown the agent's own logs.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
  });

  app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    // Malformed JSON, wrong content type, oversized body: fastify's own 4xx.
    return sendProblem(reply, status, status === 500 ? 'Internal error' : 'Bad request', err.message);
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, 404, 'Not found', `${req.method} ${req.url}`));

  const auth = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!tokenMatches(req.headers.authorization, opts.token)) {
      reply.header('www-authenticate', 'Bearer realm="matchmesh-origin"');
      return sendProblem(reply, 401, 'Unauthorized', 'A valid Bearer token is required');
    }
  };

  app.get('/healthz', async () => ({ ok: true, connected: agent.connected }));

  app.post('/scores', { preHandler: auth }, async (req, reply) => {
    const parsed = ScoreInput.safeParse(req.body);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      return sendProblem(
        reply,
        400,
        'Invalid score',
        issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; '),
        { issues },
      );
    }
    const update = agent.sendScore(parsed.data.score, parsed.data.mediaTime);
    // 202: queued; it reaches the ingest when a session is up.
    return reply.code(202).send(update);
  });

  app.get('/scores/latest', { preHandler: auth }, async (_req, reply) => {
    const latest = agent.latestScore;
    if (!latest) return sendProblem(reply, 404, 'No score yet');
    return reply.send(latest);
  });

  app.get('/status', { preHandler: auth }, async () => agent.stats);

  return app;
}
