import { SigningKeyRing, SigningKeyStore } from '@matchmesh/cluster';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ClusterLink } from '../cluster/ClusterLink.ts';
import type { NodeConfig } from '../config.ts';

/** The bus method a node answers by reloading its ring from Redis. */
export const RELOAD_KEYS_METHOD = 'keys.reload';
const ReloadReply = z.object({ reloaded: z.boolean() });
/** A peer that does not answer in this time reloads on its next periodic refresh instead. */
const RELOAD_TIMEOUT_MS = 2_000;

export interface SigningKeys {
  /** This node's ring: verifies every token, signs the node's own. */
  ring: SigningKeyRing;
  store: SigningKeyStore;
  /** Reload this node's ring and tell every registered node to reload theirs; answers how many did (self included). */
  reloadEverywhere(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The node's token signing keys: the ring in memory, the store in Redis, and
 * the bus method through which a node that rotated or retired a key makes the
 * others reload at once (a node missed meanwhile catches up on its periodic
 * refresh, MM_KEYS_REFRESH_MS).
 */
export function wireSigningKeys(cluster: ClusterLink, config: NodeConfig, logger: Logger): SigningKeys {
  const store = new SigningKeyStore({
    redis: cluster.redis,
    cluster: config.cluster.name,
    clusterSecret: config.cluster.secret,
    logger,
  });
  const ring = new SigningKeyRing({
    store,
    bootstrapSecret: config.tokens.bootstrapSecret,
    refreshMs: config.tokens.keysRefreshMs,
    logger,
  });
  cluster.bus.handle(RELOAD_KEYS_METHOD, async () => ({ reloaded: await ring.refresh() }));
  return {
    ring,
    store,
    async reloadEverywhere() {
      const self = await ring.refresh();
      const others = (await cluster.registry.list().catch(() => [])).filter((n) => n.id !== config.node.id);
      const answers = await Promise.allSettled(
        others.map((n) =>
          cluster.bus.request(n.id, RELOAD_KEYS_METHOD, {}, ReloadReply, { timeoutMs: RELOAD_TIMEOUT_MS }),
        ),
      );
      const missed = others.filter((_, i) => {
        const a = answers[i];
        return a?.status !== 'fulfilled' || !a.value.reloaded;
      });
      if (missed.length > 0) {
        logger.warn(
          { nodes: missed.map((n) => n.id) },
          'signing keys: nodes did not reload now; they will on their next refresh',
        );
      }
      return (self ? 1 : 0) + others.length - missed.length;
    },
    async close() {
      ring.close();
      await store.close();
    },
  };
}
