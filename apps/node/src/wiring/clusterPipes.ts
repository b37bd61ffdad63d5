import { type ClusterPipes, PipeSummary } from '@matchmesh/protocol';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ClusterLink } from '../cluster/ClusterLink.ts';

/** The bus method a node answers with its pipes and what each one's path did (its own GET /api/v1/pipes). */
export const PIPES_REPORT_METHOD = 'ops.pipes';
const PipesReply = z.object({ pipes: z.array(PipeSummary) });
/** A node that does not answer in this time is listed as unreachable (it may be stalled or gone). */
const REPORT_TIMEOUT_MS = 2_000;

/**
 * The cluster-wide pipes view (`GET /api/v1/pipes?scope=cluster`, /ops, `matchmesh pipes`): every
 * registered node is asked over the node bus (HMAC-signed, like the pipe set-up) for its pipes' report;
 * the serving node answers for itself without the bus. Returns the gatherer.
 */
export function wireClusterPipes(
  cluster: ClusterLink,
  self: { id: string; region: string },
  report: () => Promise<PipeSummary[]>,
  log: Logger,
): () => Promise<ClusterPipes> {
  cluster.bus.handle(PIPES_REPORT_METHOD, async () => ({ pipes: await report() }));
  return async () => {
    const nodes = await cluster.registry.list();
    const others = nodes.filter((n) => n.id !== self.id);
    const answers = await Promise.allSettled(
      others.map((n) =>
        cluster.bus.request(n.id, PIPES_REPORT_METHOD, {}, PipesReply, { timeoutMs: REPORT_TIMEOUT_MS }),
      ),
    );
    const out: ClusterPipes = {
      nodes: [{ nodeId: self.id, region: self.region, pipes: await report() }],
      unreachable: [],
    };
    others.forEach((n, i) => {
      const a = answers[i];
      if (a?.status === 'fulfilled') out.nodes.push({ nodeId: n.id, region: n.region, pipes: a.value.pipes });
      else {
        out.unreachable.push(n.id);
        log.debug({ node: n.id, err: String(a?.reason) }, 'cluster pipes: a node did not answer');
      }
    });
    out.nodes.sort((a, b) => a.region.localeCompare(b.region) || a.nodeId.localeCompare(b.nodeId));
    return out;
  };
}
