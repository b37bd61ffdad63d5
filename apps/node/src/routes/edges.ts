import { candidateRelays, guessRegion, loadRatio } from '@matchmesh/cluster';
import {
  EdgesResponse,
  NoBody,
  type NodeRecord,
  type RtpCapabilities,
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
  /** This node's viewer router capabilities, when it has a router to read them from. */
  rtpCapabilities(): RtpCapabilities | undefined;
}

/** Thrown by edgesOf when the registry cannot be read. */
export class EdgesUnavailable extends Error {}

/**
 * The edges list of a stream: relays accepting viewers per region with their
 * load and a probe URL, the server's region guess, the latest score and this
 * node's router capabilities. Also the watch page's bootstrap (POST
 * /api/v1/session with `bootstrap`). Throws EdgesUnavailable without Redis.
 */
export async function edgesOf(deps: Omit<EdgesDeps, 'tokenSecret'>, stream: string): Promise<EdgesResponse> {
  let nodes: NodeRecord[];
  try {
    nodes = await deps.cluster().registry.list();
  } catch {
    throw new EdgesUnavailable('cluster coordination (Redis) is unavailable');
  }
  const relays = nodes.filter((n) => n.roles.includes('relay'));
  const rtpCapabilities = deps.rtpCapabilities();
  return {
    stream,
    regions: candidateRelays(relays).map((r) => ({
      region: r.region,
      nodes: r.nodes.map((n) => ({ id: n.id, url: n.url, probeUrl: `${n.url}/probe`, load: loadRatio(n) })),
    })),
    guess: guessRegion(relays, { self: deps.region }),
    score: deps.latestScore(stream),
    ...(rtpCapabilities ? { rtpCapabilities } : {}),
  };
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
      let body: EdgesResponse;
      try {
        body = await edgesOf(deps, stream);
      } catch (err) {
        if (!(err instanceof EdgesUnavailable)) throw err;
        throw new HttpProblem(503, 'Service Unavailable', err.message, { 'Retry-After': '2' });
      }
      reply.header('Access-Control-Allow-Origin', '*');
      return body;
    },
  );
}
