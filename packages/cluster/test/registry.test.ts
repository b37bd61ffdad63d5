import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterError } from '../src/errors.ts';
import { clusterKeys } from '../src/keys.ts';
import type { Logger } from '../src/logger.ts';
import { NodeRegistry, type NodeRegistryOptions } from '../src/registry.ts';
import { type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { captureLogger, nextEvent, nodeRecord, uniqueCluster, waitFor } from './helpers.ts';

let redis: RedisServer;
let raw: Redis;
const open: NodeRegistry[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  raw.disconnect();
  await redis.stop();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

function registry(cluster: string, extra: Partial<NodeRegistryOptions> = {}): NodeRegistry {
  const r = new NodeRegistry({ redis: redis.url, cluster, heartbeatIntervalMs: 100, ...extra });
  open.push(r);
  return r;
}

describe('NodeRegistry', () => {
  it('accepts a pino logger (type check) and defaults to silent', () => {
    const logger: Logger = pino({ level: 'silent' });
    expect(logger).toBeDefined();
  });

  it('register → list/get returns the validated record, and healthy/registered report it', async () => {
    const cluster = uniqueCluster();
    const a = registry(cluster);
    const registered = nextEvent(a, 'registered');
    await a.register(nodeRecord({ id: 'eu-1', region: 'eu' }));
    await registered;
    expect(a.healthy).toBe(true);

    const observer = registry(cluster);
    const nodes = await observer.list();
    expect(nodes.map((n) => n.id)).toEqual(['eu-1']);
    expect(nodes[0]?.region).toBe('eu');
    expect((await observer.get('eu-1'))?.id).toBe('eu-1');
    expect(await observer.get('nope')).toBeNull();
  });

  it('uses mm:{cluster}: keys and two clusters never see each other', async () => {
    const c1 = uniqueCluster('one');
    const c2 = uniqueCluster('two');
    await registry(c1).register(nodeRecord({ id: 'x' }));
    await registry(c2).register(nodeRecord({ id: 'y' }));
    expect((await registry(c1).list()).map((n) => n.id)).toEqual(['x']);
    expect((await registry(c2).list()).map((n) => n.id)).toEqual(['y']);
    expect(await raw.exists(`mm:{${c1}}:node:x`)).toBe(1);
    expect(() => new NodeRegistry({ redis: redis.url, cluster: 'bad name!' })).toThrow(ClusterError);
  });

  it('heartbeats refresh heartbeatAt and the load from the callback', async () => {
    const cluster = uniqueCluster();
    let viewers = 1;
    const a = registry(cluster);
    await a.register(nodeRecord({ id: 'n' }), {
      load: () => ({
        viewers,
        streams: 1,
        bitrateOut: 1000,
        workerCpu: 0.1,
        egressBytes: 0,
        egressCostUsd: 0,
        streamViewers: {},
      }),
    });
    const first = (await a.list())[0]!;
    expect(first.load.viewers).toBe(1);
    // A load without per-worker figures (an older node) reads as no workers.
    expect(first.load.workers).toEqual([]);
    viewers = 42;
    const later = await waitFor(async () => {
      const n = (await a.list())[0];
      return n && n.load.viewers === 42 ? n : null;
    }, 2_000);
    expect(later.heartbeatAt).toBeGreaterThan(first.heartbeatAt);
    expect(later.load.streams).toBe(1);
  });

  it('carries per-worker load and capacity', async () => {
    const cluster = uniqueCluster();
    const a = registry(cluster);
    const workers = [
      { index: 0, pid: 4100, sources: 1, viewers: 150, capacity: 150, cpu: 0.8 },
      { index: 1, pid: 4101, sources: 0, viewers: 2, capacity: 150, cpu: 0.05 },
    ];
    await a.register(nodeRecord({ id: 'n', capacity: { viewers: 300, viewersPerWorker: 150 } }), {
      load: () => ({ viewers: 152, streams: 1, bitrateOut: 0, workerCpu: 0.4, workers }),
    });
    const n = await waitFor(async () => {
      const r = (await a.list())[0];
      return r && r.load.viewers === 152 ? r : null;
    }, 2_000);
    expect(n.load.workers).toEqual(workers);
    expect(n.capacity).toEqual({ viewers: 300, viewersPerWorker: 150 });
  });

  it('keeps the previous load when the callback throws or returns garbage', async () => {
    const cluster = uniqueCluster();
    const cap = captureLogger();
    let mode: 'ok' | 'throw' | 'bad' = 'ok';
    const a = registry(cluster, { logger: cap.logger });
    await a.register(nodeRecord({ id: 'n' }), {
      load: () => {
        if (mode === 'throw') throw new Error('boom');
        if (mode === 'bad')
          return {
            viewers: -1,
            streams: 0,
            bitrateOut: 0,
            workerCpu: 0,
            egressBytes: 0,
            egressCostUsd: 0,
            streamViewers: {},
          };
        return {
          viewers: 7,
          streams: 0,
          bitrateOut: 0,
          workerCpu: 0,
          egressBytes: 0,
          egressCostUsd: 0,
          streamViewers: {},
        };
      },
    });
    mode = 'throw';
    await waitFor(() => cap.warnings().some((l) => l.msg?.includes('threw')), 2_000);
    mode = 'bad';
    await waitFor(() => cap.warnings().some((l) => l.msg?.includes('invalid load')), 2_000);
    expect((await a.get('n'))?.load.viewers).toBe(7);
    expect(a.healthy).toBe(true);
  });

  it('a node that stops heartbeating (crash) disappears within 3 periods', async () => {
    const cluster = uniqueCluster();
    const a = new NodeRegistry({ redis: redis.url, cluster, heartbeatIntervalMs: 100 });
    await a.register(nodeRecord({ id: 'doomed' }));
    const observer = registry(cluster);
    expect((await observer.list()).map((n) => n.id)).toEqual(['doomed']);
    const pttl = await raw.pttl(clusterKeys(cluster).node('doomed'));
    expect(pttl).toBeGreaterThan(200);
    expect(pttl).toBeLessThanOrEqual(300);

    await a.close({ unregister: false }); // like a crash: the record is left behind
    const stoppedAt = Date.now();
    await waitFor(async () => (await observer.list()).length === 0, 2_000, 5);
    // TTL = 3 periods from the last heartbeat (which was ≤ 1 period before
    // close), so ≤ 300 ms; the slack is for polling and a busy CI machine.
    expect(Date.now() - stoppedAt).toBeLessThanOrEqual(300 + 100);
    // list() pruned the index entry of the dead node.
    expect(await raw.smembers(clusterKeys(cluster).nodeIndex)).toEqual([]);
  });

  it('close() unregisters at once', async () => {
    const cluster = uniqueCluster();
    const a = new NodeRegistry({ redis: redis.url, cluster, heartbeatIntervalMs: 10_000 });
    await a.register(nodeRecord({ id: 'leaving' }));
    await a.close();
    expect(await registry(cluster).list()).toEqual([]);
    await a.close(); // idempotent
  });

  it('skips malformed records with a warning and never crashes', async () => {
    const cluster = uniqueCluster();
    const keys = clusterKeys(cluster);
    await registry(cluster).register(nodeRecord({ id: 'good' }));
    await raw.sadd(keys.nodeIndex, 'junk', 'wrongshape', 'mismatch');
    await raw.set(keys.node('junk'), '{not json', 'PX', 10_000);
    await raw.set(keys.node('wrongshape'), JSON.stringify({ id: 'wrongshape', region: 'EU!' }), 'PX', 10_000);
    await raw.set(keys.node('mismatch'), JSON.stringify(nodeRecord({ id: 'someone-else' })), 'PX', 10_000);
    const cap = captureLogger();
    const observer = registry(cluster, { logger: cap.logger });
    expect((await observer.list()).map((n) => n.id)).toEqual(['good']);
    expect(cap.warnings()).toHaveLength(3);
    expect(await observer.get('junk')).toBeNull();
  });

  it('rejects an invalid record with bad_request', async () => {
    const a = registry(uniqueCluster());
    await expect(a.register({ ...nodeRecord(), url: 'not a url' })).rejects.toMatchObject({
      code: 'bad_request',
    });
  });

  it('draining: set by anyone, survives the node heartbeats, and the node is told', async () => {
    const cluster = uniqueCluster();
    const node = registry(cluster);
    await node.register(nodeRecord({ id: 'r1' }));
    const admin = registry(cluster);

    const told = nextEvent<[boolean]>(node, 'draining');
    await admin.setDraining('r1', true);
    expect(await told).toEqual([true]);
    expect(node.record?.draining).toBe(true);
    // Several heartbeats later it is still draining for everyone.
    await waitFor(async () => ((await admin.get('r1'))?.heartbeatAt ?? 0) > Date.now() - 50, 2_000);
    expect((await admin.list())[0]?.draining).toBe(true);

    const undrained = nextEvent<[boolean]>(node, 'draining');
    await admin.setDraining('r1', false);
    expect(await undrained).toEqual([false]);
    expect((await admin.get('r1'))?.draining).toBe(false);
  });

  it('a fresh process decides its own draining state at register()', async () => {
    const cluster = uniqueCluster();
    const first = new NodeRegistry({ redis: redis.url, cluster, heartbeatIntervalMs: 100 });
    await first.register(nodeRecord({ id: 'n', draining: true }));
    expect((await first.get('n'))?.draining).toBe(true);
    await first.close({ unregister: false }); // crash while draining
    const second = registry(cluster);
    await second.register(nodeRecord({ id: 'n', draining: false }));
    expect((await second.get('n'))?.draining).toBe(false);
  });
});
