import { HealthResponse, NotReadyResponse, ReadyResponse } from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { problemResponses } from '../http/schemas.ts';

export interface HealthSource {
  /** Reasons the node is not ready for new work; empty when ready. */
  notReadyReasons(): string[];
}

/** Liveness and readiness: the only endpoints open without a token. */
export async function registerHealth(app: FastifyInstance, source: HealthSource): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/healthz', { schema: { response: { 200: HealthResponse, ...problemResponses } } }, async () => ({
    status: 'ok' as const,
  }));
  r.get(
    '/readyz',
    { schema: { response: { 200: ReadyResponse, 503: NotReadyResponse, ...problemResponses } } },
    async (_request, reply) => {
      const reasons = source.notReadyReasons();
      if (reasons.length > 0) return reply.code(503).send({ status: 'not ready', reasons });
      return { status: 'ready' as const };
    },
  );
}
