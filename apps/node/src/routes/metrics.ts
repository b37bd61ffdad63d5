import type { FastifyInstance } from 'fastify';
import { authorize } from '../http/auth.ts';
import type { NodeMetrics } from '../metrics.ts';

/** Prometheus scrape endpoint; needs an admin token (Prometheus sends it as a bearer). */
export async function registerMetrics(app: FastifyInstance, metrics: NodeMetrics, tokenSecret: string): Promise<void> {
  app.get('/metrics', async (request, reply) => {
    await authorize(tokenSecret, request, 'admin', '*');
    return reply.type(metrics.registry.contentType).send(await metrics.metrics());
  });
}
