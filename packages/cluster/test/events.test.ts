import type { OpsEvent } from '@matchmesh/protocol';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventLog, type EventLogOptions } from '../src/events.ts';
import { clusterKeys } from '../src/keys.ts';
import { type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { captureLogger, uniqueCluster } from './helpers.ts';

let redis: RedisServer;
let raw: Redis;
const open: EventLog[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  raw.disconnect();
  await redis.stop();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((log) => log.close()));
});

function eventLog(cluster: string, extra: Partial<EventLogOptions> = {}): EventLog {
  const log = new EventLog({ redis: redis.url, cluster, blockMs: 200, ...extra });
  open.push(log);
  return log;
}

/** A follower: `ready` as follow() gives it, `events` the first `count` events it sees (rejects after `timeoutMs`). */
function collect(
  log: EventLog,
  count: number,
  timeoutMs = 5_000,
): { ready: Promise<void>; events: Promise<OpsEvent[]> } {
  const seen: OpsEvent[] = [];
  let following: ReturnType<EventLog['follow']>;
  const events = new Promise<OpsEvent[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      following.stop();
      reject(new Error(`saw ${seen.length} of ${count} events`));
    }, timeoutMs);
    following = log.follow((event) => {
      seen.push(event);
      if (seen.length === count) {
        clearTimeout(timer);
        following.stop();
        resolve(seen);
      }
    });
  });
  return { ready: following!.ready, events };
}

describe('EventLog (the events feed on a Redis stream)', () => {
  it('appends and reads back the recent window oldest first, with ids in order and the time filled in', async () => {
    const log = eventLog(uniqueCluster());
    const before = Date.now();
    for (let i = 0; i < 5; i++) await log.append({ kind: 'drain', nodeId: `n${i}`, detail: `drain ${i}` });
    await log.append({ kind: 'fallback', stream: 'match', detail: 'given time', at: 42 });
    const all = await log.recent(10);
    expect(all.map((e) => e.detail)).toEqual(['drain 0', 'drain 1', 'drain 2', 'drain 3', 'drain 4', 'given time']);
    expect(all[0]!.at).toBeGreaterThanOrEqual(before);
    expect(all[5]!.at).toBe(42);
    const ids = all.map((e) => e.id);
    expect([...ids].sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0]) || a.localeCompare(b))).toEqual(
      ids,
    );
    expect(new Set(ids).size).toBe(6);
    // A smaller window is the newest entries, still oldest first.
    expect((await log.recent(2)).map((e) => e.detail)).toEqual(['drain 4', 'given time']);
  });

  it('is bounded: about maxLen entries are kept, the oldest go first', async () => {
    const cluster = uniqueCluster();
    const log = eventLog(cluster, { maxLen: 50 });
    for (let i = 0; i < 500; i++) await log.append({ kind: 'undrain', detail: `e${i}` });
    const length = await raw.xlen(clusterKeys(cluster).events);
    // MAXLEN ~ trims whole macro nodes (100 entries by default): never below 50, far below 500.
    expect(length).toBeGreaterThanOrEqual(50);
    expect(length).toBeLessThanOrEqual(150);
    const recent = await log.recent(1000);
    expect(recent.at(-1)!.detail).toBe('e499');
    expect(recent.some((e) => e.detail === 'e0')).toBe(false);
  });

  it('follow delivers what any node appends from then on, in order, to every follower', async () => {
    const cluster = uniqueCluster();
    const writer = eventLog(cluster);
    const reader = eventLog(cluster);
    await writer.append({ kind: 'node-joined', nodeId: 'old', detail: 'before following' });
    const first = collect(reader, 20);
    await first.ready;
    // A second follower shares the running reader: ready at once, and misses nothing either.
    const second = collect(reader, 20);
    await second.ready;
    for (let i = 0; i < 20; i++) await writer.append({ kind: 'source-switch', stream: 's', detail: `switch ${i}` });
    const expected = Array.from({ length: 20 }, (_, i) => `switch ${i}`);
    expect((await first.events).map((e) => e.detail)).toEqual(expected);
    expect((await second.events).map((e) => e.detail)).toEqual(expected);
    // Both stopped: the shared reader stops reading (no blocked client, flag b, is left in Redis).
    const blocked = async () =>
      String(await raw.client('LIST'))
        .split('\n')
        .filter((c) => c.includes('name=mm-events-follow') && /flags=\S*b/.test(c)).length;
    await expect.poll(blocked, { timeout: 5_000 }).toBe(0);
  });

  it('a follower arriving as the last one leaves (the reader winding down) still misses nothing', async () => {
    const cluster = uniqueCluster();
    const writer = eventLog(cluster);
    const reader = eventLog(cluster);
    for (let round = 0; round < 5; round++) {
      const leaving = collect(reader, 1, 2_000);
      await leaving.ready;
      await writer.append({ kind: 'drain', detail: `leave ${round}` });
      await leaving.events; // it stops itself after one event: no follower left
      const next = collect(reader, 1);
      await next.ready;
      await writer.append({ kind: 'undrain', detail: `next ${round}` });
      expect((await next.events).map((e) => e.detail)).toEqual([`next ${round}`]);
    }
  });

  it('appendOnce writes an event once cluster-wide for one key', async () => {
    const cluster = uniqueCluster();
    const a = eventLog(cluster);
    const b = eventLog(cluster);
    const event = { kind: 'node-left' as const, nodeId: 'gone', detail: 'heartbeat lapsed' };
    const won = await Promise.all([a.appendOnce('left:gone', 60_000, event), b.appendOnce('left:gone', 60_000, event)]);
    expect(won.filter(Boolean)).toHaveLength(1);
    expect((await a.recent(10)).filter((e) => e.kind === 'node-left')).toHaveLength(1);
  });

  it('never throws on append while Redis is gone: it logs, and recent() rejects so the API can say 503', async () => {
    const capture = captureLogger();
    // Nothing listens on port 1.
    const log = eventLog(uniqueCluster(), { redis: 'redis://127.0.0.1:1', logger: capture.logger });
    await expect(log.append({ kind: 'drain', detail: 'lost' })).resolves.toBeUndefined();
    expect(capture.warnings().map((l) => l.msg)).toContain('ops event not recorded');
    await expect(log.recent(5)).rejects.toMatchObject({ name: 'ClusterError', code: 'unavailable' });
  });

  it('skips a malformed entry instead of failing the read', async () => {
    const cluster = uniqueCluster();
    const log = eventLog(cluster);
    await raw.xadd(clusterKeys(cluster).events, '*', 'e', '{"kind":"nonsense"}');
    await log.append({ kind: 'drain', detail: 'good' });
    expect((await log.recent(10)).map((e) => e.detail)).toEqual(['good']);
  });
});
