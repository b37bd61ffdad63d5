import { acceptsViewers, candidateRelays, guessRegion, loadRatio } from '@matchmesh/cluster';
import {
  EdgesResponse,
  type NodeRecord,
  ProbeResponse,
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
  nodeId: string;
  /** The stream's latest score on this node, if it holds the stream. */
  latestScore(stream: string): ScoreUpdate | null;
  /** This node's record with its live load (null before it registered). */
  liveRecord(): NodeRecord | null;
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
  // RTT probe target, readable cross-origin: a few bytes saying how loaded this relay is now. Placement
  // reads it to choose within a region by fresh load (the edges list's load is the last heartbeat's).
  r.get('/probe', { schema: { response: { 200: ProbeResponse, ...problemResponses } } }, async (_request, reply) => {
    const record = deps.liveRecord();
    const body: ProbeResponse = {
      node: deps.nodeId,
      load: record ? loadRatio(record) : null,
      accepts: record ? acceptsViewers(record) : false,
    };
    return reply.header('Access-Control-Allow-Origin', '*').header('Cache-Control', 'no-store').send(body);
  });

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
