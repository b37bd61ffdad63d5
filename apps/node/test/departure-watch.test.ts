import { EventLog, NodeRegistry } from '@matchmesh/cluster';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DepartureWatch } from '../src/cluster/DepartureWatch.ts';

/**
 * A node that dies without a word (its record lapses) is written to the
 * events feed once, though every surviving node's watch notices it; one that
 * closes gracefully is not written again by the watches. Real Redis, real
 * registries and event logs.
 */
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

const record = (id: string) => {
  const now = Date.now();
  return {
    id,
    region: 'eu',
    roles: ['relay' as const],
    url: `http://${id}`,
    mediaAddress: '127.0.0.1',
    capacity: { viewers: 10 },
    load: { viewers: 0, streams: 0, bitrateOut: 0, workerCpu: 0 },
    draining: false,
    startedAt: now,
    heartbeatAt: now,
  };
};

describe('DepartureWatch', () => {
  it('writes a lapsed peer once across every watching node, and nothing for one that said goodbye', async () => {
    const cluster = `departures${process.pid}`;
    const log = pino({ level: 'silent' });
    const common = { redis: redis.url, cluster };
    const registries = ['a', 'b', 'crash', 'polite'].map(
      () => new NodeRegistry({ ...common, heartbeatIntervalMs: 100 }),
    );
    const [a, b, crash, polite] = registries as [NodeRegistry, NodeRegistry, NodeRegistry, NodeRegistry];
    for (const [r, id] of [
      [a, 'a'],
      [b, 'b'],
      [crash, 'crash'],
      [polite, 'polite'],
    ] as const) {
      await r.register(record(id));
    }
    const logs = [new EventLog(common), new EventLog(common)];
    const watches = [
      new DepartureWatch({ registry: a, events: logs[0]! }, 'a', 100, log),
      new DepartureWatch({ registry: b, events: logs[1]! }, 'b', 100, log),
    ];
    try {
      for (const w of watches) w.start();
      /** Both watches have completed `n` more ticks than now (each compares the registry with its previous read). */
      const ticks = async (n: number) => {
        const target = watches.map((w) => w.ticks + n);
        await expect.poll(() => watches.every((w, i) => w.ticks >= target[i]!)).toBe(true);
      };
      await expect.poll(async () => (await a.list()).length).toBe(4);
      await ticks(1); // both have seen all four
      // "polite" closes as a node does: its goodbye is written under the key the watches use.
      await logs[0]!.appendOnce(`left:polite:${polite.record!.startedAt}`, 60_000, {
        kind: 'node-left',
        nodeId: 'polite',
        detail: 'left: closed gracefully',
      });
      await polite.close();
      // "crash" stops heartbeating and leaves its record to expire (3 heartbeats).
      await crash.close({ unregister: false });
      const left = async () => (await logs[0]!.recent(100)).filter((e) => e.kind === 'node-left');
      await expect.poll(async () => (await left()).length, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
      // Both watches have seen the lapse (ticked after the record was gone), more than once.
      await expect.poll(async () => (await b.list()).some((n) => n.id === 'crash')).toBe(false);
      await ticks(2);
      expect((await left()).map((e) => `${e.nodeId}: ${e.detail}`).sort()).toEqual([
        'crash: left: heartbeat lapsed',
        'polite: left: closed gracefully',
      ]);
    } finally {
      for (const w of watches) w.close();
      await Promise.all([a.close(), b.close()]);
      await Promise.all(logs.map((l) => l.close()));
    }
  });
});
