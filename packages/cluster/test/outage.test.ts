import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NodeBus } from '../src/bus.ts';
import { StreamDirectory } from '../src/directory.ts';
import { ClusterError } from '../src/errors.ts';
import { NodeRegistry } from '../src/registry.ts';
import { freePort, type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { captureLogger, nextEvent, nodeRecord, uniqueCluster, waitFor } from './helpers.ts';

/*
 * Redis going away must never take a node down: nothing throws into the
 * caller, queries fail fast with a typed error, and everything recovers by
 * itself when Redis is back. Vitest fails the run on any unhandled rejection
 * or uncaught exception, which is half of what these tests check.
 */

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function server(port?: number): Promise<RedisServer> {
  const s = await startRedisServer(port ? { port } : {});
  cleanup.push(() => s.stop());
  return s;
}

async function fastFail<T>(p: Promise<T>): Promise<{ code: string; ms: number }> {
  const started = Date.now();
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClusterError);
  return { code: (err as ClusterError).code, ms: Date.now() - started };
}

describe('Redis outage', () => {
  it('registry reports down then up and re-registers by itself; queries fail fast meanwhile', async () => {
    const redis = await server();
    const cluster = uniqueCluster();
    const cap = captureLogger();
    const registry = new NodeRegistry({
      redis: redis.url,
      cluster,
      heartbeatIntervalMs: 100,
      logger: cap.logger,
    });
    cleanup.push(() => registry.close());
    const directory = new StreamDirectory({ redis: redis.url, cluster });
    cleanup.push(() => directory.close());

    await registry.register(nodeRecord({ id: 'eu-1' }));
    expect(registry.healthy).toBe(true);

    const down = nextEvent<[Error]>(registry, 'redis-down');
    await redis.kill();
    const [err] = await down;
    expect(err).toBeInstanceOf(Error);
    expect(registry.healthy).toBe(false);

    // Queries fail fast and typed, instead of hanging in an offline queue.
    for (const p of [
      registry.list(),
      registry.get('eu-1'),
      registry.setDraining('eu-1', true),
      directory.claimRegionCopy('s', 'eu', 'eu-1', 1_000),
      directory.listStreams(),
    ]) {
      const { code, ms } = await fastFail(p as Promise<unknown>);
      expect(code).toBe('unavailable');
      expect(ms).toBeLessThan(1_000);
    }

    // A few failed reconnect attempts later: the loop keeps trying, nothing
    // throws, and the outage was reported once (not once per attempt).
    await waitFor(() => cap.lines.filter((l) => l.msg === 'redis connection error').length >= 3, 10_000);
    expect(cap.warnings().filter((l) => l.msg?.includes('unreachable'))).toHaveLength(1);

    const up = nextEvent(registry, 'redis-up');
    const registered = nextEvent(registry, 'registered');
    await redis.restart(); // same port, empty data
    await up;
    await registered;
    expect(registry.healthy).toBe(true);

    // Another client sees the node again, and the directory works again.
    const observer = new NodeRegistry({ redis: redis.url, cluster });
    cleanup.push(() => observer.close());
    expect((await observer.list()).map((n) => n.id)).toEqual(['eu-1']);
    // The directory has its own connection, which reconnects on its own back-off (not the registry's):
    // wait for it to work again rather than assume it already does (a fresh-clone run caught it still
    // reconnecting: "Stream isn't writeable").
    await expect
      .poll(
        () =>
          directory.claimRegionCopy('s', 'eu', 'eu-1', 1_000).then(
            (r) => r.won,
            () => 'unavailable',
          ),
        {
          timeout: 10_000,
        },
      )
      .toBe(true);
  });

  it('starting while Redis is not there: register() does not throw, and it registers once Redis appears', async () => {
    const port = await freePort();
    const cluster = uniqueCluster();
    const registry = new NodeRegistry({
      redis: `redis://127.0.0.1:${port}`,
      cluster,
      heartbeatIntervalMs: 100,
    });
    cleanup.push(() => registry.close());
    const down = nextEvent(registry, 'redis-down');
    await registry.register(nodeRecord({ id: 'early' }));
    await down;
    expect(registry.healthy).toBe(false);

    const registered = nextEvent(registry, 'registered');
    const redis = await server(port);
    await registered;
    expect(registry.healthy).toBe(true);
    const observer = new NodeRegistry({ redis: redis.url, cluster });
    cleanup.push(() => observer.close());
    expect((await observer.list()).map((n) => n.id)).toEqual(['early']);
  });

  it('bus: requests fail fast while Redis is down and work again after it returns', async () => {
    const redis = await server();
    const cluster = uniqueCluster();
    const secret = 'outage-secret-0123456789';
    const a = new NodeBus({ redis: redis.url, cluster, nodeId: 'a', secret });
    const b = new NodeBus({ redis: redis.url, cluster, nodeId: 'b', secret });
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    await Promise.all([a.start(), b.start()]);
    b.handle('ping', () => 'pong');
    expect(await a.request('b', 'ping', null, z.string())).toBe('pong');

    await redis.kill();
    const { code, ms } = await fastFail(a.request('b', 'ping', null, z.string(), { timeoutMs: 5_000 }));
    expect(code).toBe('unavailable');
    expect(ms).toBeLessThan(1_000);

    await redis.restart();
    // Both connections reconnect and re-subscribe on their own; poll until they have.
    const answer = await waitFor(() => a.request('b', 'ping', null, z.string(), { timeoutMs: 500 }), 10_000, 50);
    expect(answer).toBe('pong');
  });
});
