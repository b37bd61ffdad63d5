import { candidateRelays, guessRegion, loadRatio } from '@matchmesh/cluster';
import {
  EdgesResponse,
  NoBody,
  type NodeRecord,
  type ScoreUpdate,
  StreamParams,
  type TokenKeys,
  TokenQuery,
} from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ClusterLink } from '../cluster/ClusterLink.ts';
import { authorize } from '../http/auth.ts';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';

export interface EdgesDeps {
  tokenSecret: TokenKeys;
  cluster: () => ClusterLink;
  region: string;
  /** The stream's latest score on this node, if it holds the stream. */
  latestScore(stream: string): ScoreUpdate | null;
}

/**
 * Viewer placement, server half: candidate relays per region with a probe
 * URL each. The client measures RTT to every region in parallel and picks
 * the lowest among relays under capacity (packages/client).
 */
export async function registerEdges(app: FastifyInstance, deps: EdgesDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // RTT probe target: as cheap as an HTTP answer gets, readable cross-origin.
  r.get('/probe', { schema: { response: { 204: NoBody, ...problemResponses } } }, async (_request, reply) =>
    reply.header('Access-Control-Allow-Origin', '*').header('Cache-Control', 'no-store').code(204).send(),
  );

  r.get(
    '/api/v1/streams/:stream/edges',
    {
      schema: { params: StreamParams, querystring: TokenQuery, response: { 200: EdgesResponse, ...problemResponses } },
    },
    async (request, reply) => {
      const { stream } = request.params;
      await authorize(deps.tokenSecret, request, ['viewer', 'commentator'], stream);
      let nodes: NodeRecord[];
      try {
        nodes = await deps.cluster().registry.list();
      } catch {
        throw new HttpProblem(503, 'Service Unavailable', 'cluster coordination (Redis) is unavailable', {
          'Retry-After': '2',
        });
      }
      const body: EdgesResponse = {
        stream,
        regions: candidateRelays(nodes.filter((n) => n.roles.includes('relay'))).map((r) => ({
          region: r.region,
          nodes: r.nodes.map((n) => ({ id: n.id, url: n.url, probeUrl: `${n.url}/probe`, load: loadRatio(n) })),
        })),
        guess: guessRegion(
          nodes.filter((n) => n.roles.includes('relay')),
          { self: deps.region },
        ),
        score: deps.latestScore(stream),
      };
      reply.header('Access-Control-Allow-Origin', '*');
      return body;
    },
  );
}
