import {
  ClusterPipes,
  CostResponse,
  NodesResponse,
  type OpsSnapshot,
  PipesResponse,
  ReportsResponse,
  StreamsResponse,
} from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';

/**
 * The live ops snapshot, read through the node's own admin routes with the
 * caller's token (in-process, no socket): it says exactly what the API says,
 * under the same authorization, and the cost and reports panels fill in as
 * soon as those routes exist on the node. A required part failing (Redis
 * down: 503) fails the snapshot; cost and reports are null when their route
 * is missing or failing.
 */
export function opsSnapshot(app: FastifyInstance, nodeId: string) {
  const read = async <S extends z.ZodType>(url: string, token: string, schema: S): Promise<z.output<S>> => {
    const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
    return schema.parse(res.json());
  };
  const optional = <T>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

  return async (token: string): Promise<OpsSnapshot> => {
    const [nodes, streams, pipes, clusterPipes, cost, reports] = await Promise.all([
      read('/api/v1/nodes', token, NodesResponse),
      read('/api/v1/streams', token, StreamsResponse),
      read('/api/v1/pipes', token, PipesResponse),
      optional(read('/api/v1/pipes?scope=cluster', token, ClusterPipes)),
      optional(read('/api/v1/cost', token, CostResponse)),
      optional(read('/api/v1/reports', token, ReportsResponse)),
    ]);
    return {
      at: Date.now(),
      nodeId,
      nodes: nodes.nodes,
      streams: streams.streams,
      pipes: pipes.pipes,
      clusterPipes,
      cost,
      reports: reports?.reports ?? null,
    };
  };
}
