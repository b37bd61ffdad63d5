import { scaleAdvice } from '@matchmesh/cluster';
import type { Mesh } from '@matchmesh/mesh';
import {
  BoothResponse,
  ClusterPipes,
  DrainBody,
  type DrainRemaining,
  DrainResponse,
  DrainStatus,
  type NewOpsEvent,
  NodeParams,
  NodesResponse,
  PipesQuery,
  PipesResponse,
  ProgramResponse,
  PublishersDropResponse,
  ScaleAdviceQuery,
  ScaleAdviceResponse,
  StreamParams,
  type StreamSummary,
  StreamsResponse,
  type TokenKeys,
  TokenQuery,
} from '@matchmesh/protocol';
import type { MediaService } from '@matchmesh/sfu';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ClusterLink } from '../cluster/ClusterLink.ts';
import { authorize } from '../http/auth.ts';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';
import type { SignalingServer } from '../signaling/SignalingServer.ts';
import { drainStatusOf, lastServingRelay } from '../wiring/drain.ts';

export interface AdminDeps {
  tokenSecret: TokenKeys;
  /** Resolved once the node listens (its URL is part of its registry record). */
  cluster: () => ClusterLink;
  media: MediaService;
  signaling: SignalingServer;
  mesh: () => Mesh | undefined;
  nodeId: string;
  /** Every node's pipes (wiring/clusterPipes.ts): `GET /api/v1/pipes?scope=cluster`. */
  clusterPipes?: () => Promise<ClusterPipes>;
  /** The events feed (drains and undrains go in it); never throws. */
  recordEvent?: (event: NewOpsEvent) => Promise<void>;
  /** What this node holds right now (its drain status is answered from it, not from its last heartbeat). */
  localDrain?: () => DrainRemaining;
  /** Tell node `id` its drain flag changed, so it acts now rather than at its next heartbeat; never throws. */
  nudge?: (id: string) => Promise<void>;
}

/** Ops API (`/api/v1`): every route needs an admin token. */
export async function registerAdmin(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  // The token is checked first (onRequest), before any schema: a caller without one learns nothing else.
  app.addHook('onRequest', async (request) => {
    await authorize(deps.tokenSecret, request, 'admin', '*');
  });
  const r = app.withTypeProvider<ZodTypeProvider>();

  const clusterOr503 = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err) => {
      throw new HttpProblem(503, 'Service Unavailable', `cluster state unavailable: ${(err as Error).message}`, {
        'Retry-After': '5',
      });
    });

  r.get(
    '/api/v1/nodes',
    { schema: { querystring: TokenQuery, response: { 200: NodesResponse, ...problemResponses } } },
    async () => ({
      nodes: await clusterOr503(deps.cluster().registry.list()),
    }),
  );

  r.get(
    '/api/v1/streams',
    { schema: { querystring: TokenQuery, response: { 200: StreamsResponse, ...problemResponses } } },
    async () => {
      const [listed, nodes] = await clusterOr503(
        Promise.all([deps.cluster().directory.listStreams(), deps.cluster().registry.list()]),
      );
      // Viewers across the cluster: every node reports its own per stream in its heartbeat.
      const local = new Map<string, number>();
      const hls = new Map<string, number>();
      for (const node of nodes) {
        for (const [s, n] of Object.entries(node.load.streamViewers)) local.set(s, (local.get(s) ?? 0) + n);
        for (const [s, n] of Object.entries(node.load.streamHlsPlayers ?? {})) hls.set(s, (hls.get(s) ?? 0) + n);
      }
      const streams: StreamSummary[] = listed.map((s) => ({
        ...s,
        viewers: local.get(s.stream) ?? 0,
        hlsViewers: hls.get(s.stream) ?? 0,
      }));
      // Streams live on this node that the directory does not know yet.
      for (const [id] of deps.media.streams) {
        if (!streams.some((s) => s.stream === id)) {
          streams.push({
            stream: id,
            ingest: null,
            regions: [],
            viewers: local.get(id) ?? 0,
            hlsViewers: hls.get(id) ?? 0,
          });
        }
      }
      return { streams };
    },
  );

  /**
   * The stable program of a stream on this node: which feed is on air (a WHIP
   * session here, or the primary's / backup's copy on a relay), every feed's
   * freshness, origin reconnects, and the last switch with its reason and the
   * freeze it caused (gap in the video fed to viewers).
   */
  r.get(
    '/api/v1/streams/:stream/program',
    {
      schema: {
        params: StreamParams,
        querystring: TokenQuery,
        response: { 200: ProgramResponse, ...problemResponses },
      },
    },
    async (request) => {
      const { stream } = request.params;
      const router = deps.media.stream(stream);
      if (!router) throw new HttpProblem(404, 'Not Found', `stream "${stream}" has no router on ${deps.nodeId}`);
      return {
        stream,
        nodeId: deps.nodeId,
        live: router.live,
        originReconnects: deps.media.reconnects.get(stream) ?? 0,
        scores: { ...router.scoreStats, lastSeq: router.scores.position.seq, epoch: router.scores.position.epoch },
        ...router.program.status(),
      };
    },
  );

  /**
   * The commentary booth of a stream on this node (its ingest: commentators
   * produce where the program enters): the languages on air and each
   * commentator's language, audio level, loss, RTT, jitter and bit rate.
   * Another node has no booth for it: 404 naming the reason.
   */
  r.get(
    '/api/v1/streams/:stream/booth',
    {
      schema: {
        params: StreamParams,
        querystring: TokenQuery,
        response: { 200: BoothResponse, ...problemResponses },
      },
    },
    async (request) => {
      const { stream } = request.params;
      const router = deps.media.stream(stream);
      if (!router) throw new HttpProblem(404, 'Not Found', `stream "${stream}" has no router on ${deps.nodeId}`);
      const booth = router.booth;
      const mixers = booth ? await booth.mixers() : [];
      return {
        stream,
        nodeId: deps.nodeId,
        languages: mixers.map((m) => ({ lang: m.lang, commentators: m.voices, mixerLagMs: m.mixerLagMs })),
        commentators: booth ? await booth.monitor.commentators() : [],
      };
    },
  );

  /**
   * Drop the stream's publishing sessions on this node at once, as a broken
   * network would (ops: kick a stuck publisher; drills). The origin is
   * expected to reconnect; viewers keep their consumers.
   */
  r.post(
    '/api/v1/streams/:stream/publishers/drop',
    {
      schema: {
        params: StreamParams,
        querystring: TokenQuery,
        response: { 200: PublishersDropResponse, ...problemResponses },
      },
    },
    async (request) => {
      const { stream } = request.params;
      let dropped = 0;
      for (const session of [...deps.media.whip.values()]) {
        if (session.stream.stream !== stream) continue;
        session.close('dropped by ops');
        dropped++;
      }
      return { stream, dropped };
    },
  );

  /**
   * This node's pipes: `out` to downstream relays, `in` from its upstream, with what each one's path did;
   * `?scope=cluster`: every node's, asked over the node bus.
   */
  r.get(
    '/api/v1/pipes',
    {
      schema: {
        querystring: PipesQuery,
        response: { 200: z.union([PipesResponse, ClusterPipes]), ...problemResponses },
      },
    },
    async (request) => {
      if (request.query.scope === 'cluster') {
        if (!deps.clusterPipes) throw new HttpProblem(404, 'Not Found', 'this node has no cluster view');
        return clusterOr503(deps.clusterPipes());
      }
      return { nodeId: deps.nodeId, pipes: (await deps.mesh()?.linkReport()) ?? [] };
    },
  );

  /** Relays each region's audience needs now (an autoscaler's figure; `matchmesh scale-advice`). */
  r.get(
    '/api/v1/scale-advice',
    { schema: { querystring: ScaleAdviceQuery, response: { 200: ScaleAdviceResponse, ...problemResponses } } },
    async (request) => {
      const { headroom, region } = request.query;
      const nodes = await clusterOr503(deps.cluster().registry.list());
      const regions = scaleAdvice(nodes, headroom, region ? [region] : []);
      return { headroom, regions: region ? regions.filter((r) => r.region === region) : regions };
    },
  );

  r.post(
    '/api/v1/nodes/:id/drain',
    {
      schema: {
        params: NodeParams,
        querystring: TokenQuery,
        body: DrainBody,
        response: { 200: DrainResponse, ...problemResponses },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { draining, force } = request.body;
      const node = await clusterOr503(deps.cluster().registry.get(id));
      if (!node) throw new HttpProblem(404, 'Not Found', `no node "${id}"`);
      if (draining && !force && lastServingRelay(await clusterOr503(deps.cluster().registry.list()), node)) {
        // Its viewers would have nowhere to go: refuse unless the operator says so.
        throw new HttpProblem(
          409,
          'Conflict',
          `"${id}" is the last relay serving region "${node.region}": its viewers would have nowhere to move; add a relay first, or drain with force`,
        );
      }
      await clusterOr503(deps.cluster().registry.setDraining(id, draining));
      await deps.nudge?.(id);
      if (node.draining !== draining) {
        await deps.recordEvent?.({
          kind: draining ? 'drain' : 'undrain',
          nodeId: id,
          region: node.region,
          detail: draining
            ? `drained by ops${force ? ' (forced)' : ''}: viewers, HLS players, downstream relays and publishers told to move`
            : 'undrained by ops: takes viewers again',
        });
      }
      return { id, draining };
    },
  );

  /** What a node still holds while it drains; `empty`: nothing, the process may stop (`matchmesh drain --wait`). */
  r.get(
    '/api/v1/nodes/:id/drain',
    {
      schema: {
        params: NodeParams,
        querystring: TokenQuery,
        response: { 200: DrainStatus, ...problemResponses },
      },
    },
    async (request) => {
      const { id } = request.params;
      const node = await clusterOr503(deps.cluster().registry.get(id));
      if (!node) throw new HttpProblem(404, 'Not Found', `no node "${id}"`);
      const local = id === deps.nodeId && node.draining ? deps.localDrain?.() : undefined;
      return drainStatusOf(node, local);
    },
  );
}
