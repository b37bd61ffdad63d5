import { candidateRelays, guessRegion, loadRatio } from '@matchmesh/cluster';
import { type EdgesResponse, type ScoreUpdate, StreamId } from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import type { ClusterLink } from '../cluster/ClusterLink.ts';
import { authorize } from '../http/auth.ts';
import { HttpProblem } from '../http/problem.ts';

export interface EdgesDeps {
  tokenSecret: string;
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
  // RTT probe target: as cheap as an HTTP answer gets, readable cross-origin.
  app.get('/probe', async (_request, reply) =>
    reply.header('Access-Control-Allow-Origin', '*').header('Cache-Control', 'no-store').code(204).send(),
  );

  app.get('/api/v1/streams/:stream/edges', async (request, reply) => {
    const parsed = StreamId.safeParse((request.params as { stream: string }).stream);
    if (!parsed.success) throw new HttpProblem(400, 'Bad Request', parsed.error.issues[0]?.message);
    const stream = parsed.data;
    await authorize(deps.tokenSecret, request, ['viewer', 'commentator'], stream);
    let nodes;
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
  });
}
