import type { CostLedger } from '@matchmesh/cluster';
import { priceCost } from '@matchmesh/cluster';
import { CostResetResponse, CostResponse, type TokenKeys, TokenQuery } from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { type PriceConfig, regionUsdPerGb } from '../cost/prices.ts';
import { authorize } from '../http/auth.ts';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';

export interface CostRoutesDeps {
  tokenSecret: TokenKeys;
  ledger: Pick<CostLedger, 'read' | 'reset'>;
  prices: PriceConfig;
  /** Before reading: this node's own bytes not yet in the ledger go in (the answer is then current for it). */
  flushLocal?: () => Promise<void>;
}

/**
 * `GET /api/v1/cost`: the night's running cost per region, from the cluster's
 * ledger (every node's bytes, a heartbeat behind at most) priced with this
 * node's prices; `POST /api/v1/cost/reset` starts a new night. Admin only.
 */
export async function registerCost(app: FastifyInstance, deps: CostRoutesDeps): Promise<void> {
  app.addHook('onRequest', async (request) => {
    await authorize(deps.tokenSecret, request, 'admin', '*');
  });
  const r = app.withTypeProvider<ZodTypeProvider>();
  const unavailable = (err: unknown): never => {
    throw new HttpProblem(503, 'Service Unavailable', `cost ledger unavailable: ${(err as Error).message}`, {
      'Retry-After': '5',
    });
  };

  r.get(
    '/api/v1/cost',
    { schema: { querystring: TokenQuery, response: { 200: CostResponse, ...problemResponses } } },
    async () => {
      await deps.flushLocal?.();
      const totals = await deps.ledger.read().catch(unavailable);
      return priceCost(totals, {
        usdPerGb: (region) => regionUsdPerGb(deps.prices, region),
        cdnUsdPerGb: deps.prices.cdnUsdPerGb,
      });
    },
  );

  r.post(
    '/api/v1/cost/reset',
    { schema: { querystring: TokenQuery, response: { 200: CostResetResponse, ...problemResponses } } },
    async () => ({ since: await deps.ledger.reset().catch(unavailable) }),
  );
}
