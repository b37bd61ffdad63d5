import type { FastifyInstance } from 'fastify';

export interface HealthSource {
  /** Reasons the node is not ready for new work; empty when ready. */
  notReadyReasons(): string[];
}

/** Liveness and readiness: the only endpoints open without a token. */
export async function registerHealth(app: FastifyInstance, source: HealthSource): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const reasons = source.notReadyReasons();
    if (reasons.length > 0) return reply.code(503).send({ status: 'not ready', reasons });
    return { status: 'ready' };
  });
}
