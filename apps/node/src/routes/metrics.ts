import { type TokenKeys, TokenQuery } from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authorize } from '../http/auth.ts';
import { problemResponses } from '../http/schemas.ts';
import type { NodeMetrics } from '../metrics.ts';

/** Prometheus scrape endpoint; needs a metrics (or admin) token (Prometheus sends it as a bearer). */
export async function registerMetrics(
  app: FastifyInstance,
  metrics: NodeMetrics,
  tokenSecret: TokenKeys,
): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/metrics',
    {
      schema: {
        querystring: TokenQuery,
        // Prometheus text exposition format: sent as text, never JSON-encoded.
        response: { 200: { content: { 'text/plain': { schema: z.string() } } }, ...problemResponses },
      },
    },
    async (request, reply) => {
      await authorize(tokenSecret, request, 'metrics', '*');
      return reply.type(metrics.registry.contentType).send(await metrics.metrics());
    },
  );
}
