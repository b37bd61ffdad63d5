import type { RetireResult, SigningKeyStore } from '@matchmesh/cluster';
import {
  KeyParams,
  KeysResponse,
  type NewOpsEvent,
  RetireKeyResponse,
  RotateKeyResponse,
  type TokenKeys,
  TokenQuery,
} from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { authorize } from '../http/auth.ts';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';

export interface KeysDeps {
  /** The node's ring: checks the admin token of every call. */
  tokenSecret: TokenKeys;
  store: Pick<SigningKeyStore, 'list' | 'rotate' | 'retire'>;
  /** After a change: reload every node's ring; answers how many reloaded now. */
  reloadEverywhere: () => Promise<number>;
  nodeId: string;
  region: string;
  /** A key rotated or retired (the events feed: `cluster.events.append`). */
  onKeyChange?: (event: NewOpsEvent) => void;
}

/**
 * Token signing keys (`/api/v1/keys`, admin): list them, rotate (a new
 * random key signs from now on; the previous one keeps verifying), retire (a
 * key's tokens are refused everywhere). See README "Rotating the token keys".
 */
export async function registerKeys(app: FastifyInstance, deps: KeysDeps): Promise<void> {
  app.addHook('onRequest', async (request) => {
    await authorize(deps.tokenSecret, request, 'admin', '*');
  });
  const r = app.withTypeProvider<ZodTypeProvider>();
  const redisOr503 = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err) => {
      throw new HttpProblem(503, 'Service Unavailable', `signing keys unavailable: ${(err as Error).message}`, {
        'Retry-After': '5',
      });
    });
  const event = (e: Omit<NewOpsEvent, 'nodeId' | 'region'>) =>
    deps.onKeyChange?.({ ...e, nodeId: deps.nodeId, region: deps.region });

  r.get(
    '/api/v1/keys',
    { schema: { querystring: TokenQuery, response: { 200: KeysResponse, ...problemResponses } } },
    async () => ({
      keys: (await redisOr503(deps.store.list())).map(({ kid, createdAt, state }) => ({ kid, createdAt, state })),
    }),
  );

  r.post(
    '/api/v1/keys/rotate',
    { schema: { querystring: TokenQuery, response: { 200: RotateKeyResponse, ...problemResponses } } },
    async (_request, reply) => {
      const { secret, ...key } = await redisOr503(deps.store.rotate());
      const nodesReloaded = await deps.reloadEverywhere();
      event({ kind: 'key-rotated', detail: `tokens are now signed with key ${key.kid}` });
      // The secret is in this answer only: no cache may keep it.
      reply.header('Cache-Control', 'no-store');
      return { key, secret, nodesReloaded };
    },
  );

  r.post(
    '/api/v1/keys/:kid/retire',
    {
      schema: { params: KeyParams, querystring: TokenQuery, response: { 200: RetireKeyResponse, ...problemResponses } },
    },
    async (request) => {
      const { kid } = request.params;
      const result: RetireResult = await redisOr503(deps.store.retire(kid));
      if (!result.ok && result.reason === 'unknown') throw new HttpProblem(404, 'Not Found', `no signing key "${kid}"`);
      if (!result.ok) {
        throw new HttpProblem(409, 'Conflict', `key "${kid}" signs new tokens: rotate first, then retire it`);
      }
      const nodesReloaded = await deps.reloadEverywhere();
      event({ kind: 'key-retired', detail: `tokens of key ${kid} are refused from now on` });
      return { key: result.key, nodesReloaded };
    },
  );
}
