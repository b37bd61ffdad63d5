import {
  ScoreLatestResponse,
  ScorePost,
  ScorePostResponse,
  type ScoreUpdate,
  StreamParams,
  type TokenKeys,
  TokenQuery,
} from '@matchmesh/protocol';
import type { StreamRouter } from '@matchmesh/sfu';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { authorize } from '../http/auth.ts';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';

export interface ScoresDeps {
  tokenSecret: TokenKeys;
  /** The stream's router if the stream is published on this node (an ingest with its WHIP session), else undefined. */
  publishedHere(stream: string): StreamRouter | undefined;
}

/** A score is a few hundred bytes; anything near this is not a score. */
export const SCORE_BODY_LIMIT = 8 * 1024;

/**
 * Scores over HTTP, for publishers that are not the origin agent (OBS, a
 * hardware encoder: no DataChannel): the same (epoch, seq) gate as the
 * agent's DataChannel, at the ingest where the stream is published. A feeder
 * that starts afresh reads `…/scores/latest` and continues at seq + 1 with a
 * later epoch.
 */
export async function registerScores(app: FastifyInstance, deps: ScoresDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  const routerFor = (stream: string): StreamRouter => {
    const router = deps.publishedHere(stream);
    if (!router) {
      throw new HttpProblem(404, 'Not Found', `stream "${stream}" is not published on this node: use its ingest`);
    }
    return router;
  };

  r.get(
    '/api/v1/streams/:stream/scores/latest',
    {
      schema: {
        params: StreamParams,
        querystring: TokenQuery,
        response: { 200: ScoreLatestResponse, ...problemResponses },
      },
    },
    async (request) => {
      const { stream } = request.params;
      await authorize(deps.tokenSecret, request, 'publisher', stream);
      const router = routerFor(stream);
      return { stream, position: router.scores.position, update: router.latestScore };
    },
  );

  r.post(
    '/api/v1/streams/:stream/scores',
    {
      bodyLimit: SCORE_BODY_LIMIT,
      schema: {
        params: StreamParams,
        querystring: TokenQuery,
        body: ScorePost,
        response: { 200: ScorePostResponse, 201: ScorePostResponse, ...problemResponses },
      },
      // The token before the body is even parsed: a caller without one learns nothing of the schema.
      onRequest: async (request) => {
        await authorize(deps.tokenSecret, request, 'publisher', (request.params as { stream: string }).stream);
      },
    },
    async (request, reply) => {
      const { stream } = request.params;
      const router = routerFor(stream);
      const body = request.body;
      const mediaTime = body.mediaTime ?? router.liveMediaTimeMs() ?? router.latestScore?.mediaTime ?? 0;
      const update: ScoreUpdate = {
        stream,
        epoch: body.epoch,
        seq: body.seq,
        mediaTime,
        sentAt: body.sentAt ?? Date.now(),
        score: body.score,
      };
      const verdict = router.ingestScore(update);
      const position = router.scores.position;
      switch (verdict) {
        case 'forwarded':
          return reply.code(201).send({ duplicate: false, update });
        case 'duplicate':
          return { duplicate: true, update: router.scores.taken(body.seq) ?? update };
        case 'stale-epoch':
          throw new HttpProblem(
            409,
            'Conflict',
            `epoch ${body.epoch} is older than the stream's epoch ${position.epoch}: a newer publisher feeds its scores`,
          );
        case 'seq-taken':
          throw new HttpProblem(
            409,
            'Conflict',
            `seq ${body.seq} is taken by epoch ${router.scores.taken(body.seq)?.epoch ?? position.epoch}: ` +
              `continue at seq ${position.seq + 1} (GET /api/v1/streams/${stream}/scores/latest)`,
          );
        default:
          throw new HttpProblem(400, 'Bad Request', `score refused: ${verdict}`);
      }
    },
  );
}
