import { startNode, type TestNode } from './node.ts';
import { type PipeLink, startPipeLink } from './pipe-link.ts';

export interface LinkedRegions {
  /** The stream's ingest, in eu. */
  ingest: TestNode;
  /** A relay in asia: its region copy crosses `link`. */
  asia: TestNode;
  /** Every pipe between the two, both ways: shape it ('asia': towards the relay, 'ingest': back). */
  link: PipeLink<'asia' | 'ingest'>;
}

/**
 * An ingest in eu and a relay in asia whose pipes cross a user-space PipeLink
 * (test/src/pipe-link.ts): each node announces its own loopback alias for
 * its pipes (MM_MESH_ADDRESS), where the link listens. Tests of the long
 * haul, of a pipe falling back to TCP and of node-to-node tokens build on it.
 */
export async function startLinkedRegions(
  redisUrl: string,
  o: {
    /** Node ids, e.g. { ingest: 'ingest-lh', asia: 'asia-lh' }. */
    ids: { ingest: string; asia: string };
    /** The loopback aliases the nodes announce (distinct per test file, e.g. 127.0.0.4 / 127.0.0.3). */
    aliases: { ingest: string; asia: string };
    /** More environment for the asia relay. */
    asiaEnv?: Record<string, string>;
  },
): Promise<LinkedRegions> {
  const ingest = await startNode(redisUrl, {
    MM_NODE_ID: o.ids.ingest,
    MM_ROLES: 'ingest',
    MM_REGION: 'eu',
    MM_MESH_ADDRESS: o.aliases.ingest,
  });
  const asia = await startNode(redisUrl, {
    MM_NODE_ID: o.ids.asia,
    MM_ROLES: 'relay',
    MM_REGION: 'asia',
    MM_MESH_ADDRESS: o.aliases.asia,
    ...o.asiaEnv,
  });
  const link = await startPipeLink({
    asia: { announced: o.aliases.asia, ports: { min: asia.rtcPort + 1, max: asia.rtcPort + 49 } },
    ingest: { announced: o.aliases.ingest, ports: { min: ingest.rtcPort + 1, max: ingest.rtcPort + 49 } },
  });
  return { ingest, asia, link };
}
