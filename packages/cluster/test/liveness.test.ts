import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerLiveness } from '../src/liveness.ts';
import { type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { uniqueCluster } from './helpers.ts';

/*
 * PeerLiveness against a real redis-server: a peer with neither a registry
 * record nor a bus subscriber has exited (dead at once), except in the grace
 * time after Redis restarted, when live peers have not put their records back
 * yet (e2e mesh-resilience once lost a relay's region copy that way).
 */

const GRACE_MS = 800;

let redis: RedisServer;
let liveness: PeerLiveness;

beforeAll(async () => {
  redis = await startRedisServer();
  liveness = new PeerLiveness({ redis: redis.url, cluster: uniqueCluster(), graceMs: GRACE_MS });
});

afterAll(async () => {
  await liveness?.close();
  await redis?.stop();
});

/** Ask until Redis answers (the connection comes back by itself after a restart). */
async function verdict(id: string): Promise<boolean> {
  for (;;) {
    try {
      return await liveness.isDead(id);
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('PeerLiveness', () => {
  it('declares a peer with no record and no subscriber dead at once', async () => {
    expect(await verdict('gone-node')).toBe(true);
  });

  it('after a Redis restart, a missing peer is suspect for the grace time, then dead', async () => {
    expect(await verdict('late-node')).toBe(true);
    await redis.restart();
    const back = Date.now();
    expect(await verdict('late-node')).toBe(false);
    let dead = false;
    while (!dead && Date.now() - back < 10_000) {
      await new Promise((r) => setTimeout(r, 100));
      dead = await verdict('late-node');
    }
    expect(dead).toBe(true);
    // Not before the grace time: the verdict waited for peers to re-register.
    expect(Date.now() - back).toBeGreaterThanOrEqual(GRACE_MS);
    // And a peer that never shows up once the grace time is over is dead at once again.
    expect(await verdict('other-node')).toBe(true);
  });
});
