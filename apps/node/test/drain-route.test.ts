import { NodeRegistry } from '@matchmesh/cluster';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import {
  type DrainRemaining,
  DrainStatus,
  type NewOpsEvent,
  type NodeRecordInput,
  PROBLEM_CONTENT_TYPE,
  signToken,
} from '@matchmesh/protocol';
import type { MediaService } from '@matchmesh/sfu';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterLink } from '../src/cluster/ClusterLink.ts';
import { createHttpApp } from '../src/http/app.ts';
import { registerAdmin } from '../src/routes/admin.ts';
import type { SignalingServer } from '../src/signaling/SignalingServer.ts';
import { DrainWatch, drainEmpty, lastServingRelay } from '../src/wiring/drain.ts';

/**
 * The drain routes (issue 18) on the node's own HTTP app over a real Redis:
 * three registered nodes (two eu relays, one asia relay), each with its own
 * NodeRegistry heartbeating as a node does, the eu-1 one reporting what a test
 * says it still holds while it drains.
 */
const SECRET = 'drain-route-test-secret-0123456789abcdef';
const CLUSTER = `drain${process.pid}`;
let redis: RedisServer;
let app: FastifyInstance;
const registries: NodeRegistry[] = [];
let admin: string;
let nudged: string[] = [];
const recorded: NewOpsEvent[] = [];
let holds: DrainRemaining = { webrtcViewers: 2, whepViewers: 0, hlsPlayers: 1, downstreamRelays: 1, publishers: 0 };

const record = (id: string, region: string): NodeRecordInput => ({
  id,
  region,
  roles: ['relay'],
  url: `http://${id}.test`,
  mediaAddress: '127.0.0.1',
  capacity: { viewers: 100 },
  load: { viewers: 3, streams: 1, bitrateOut: 0, workerCpu: 0 },
  draining: false,
  startedAt: Date.now(),
  heartbeatAt: Date.now(),
});

beforeAll(async () => {
  redis = await startRedisServer();
  for (const [id, region] of [
    ['eu-1', 'eu'],
    ['eu-2', 'eu'],
    ['asia-1', 'asia'],
  ] as const) {
    const registry = new NodeRegistry({ redis: redis.url, cluster: CLUSTER, heartbeatIntervalMs: 50 });
    await registry.register(record(id, region), id === 'eu-1' ? { drain: () => holds } : {});
    registries.push(registry);
  }
  admin = await signToken(SECRET, { role: 'admin', stream: '*', ttl: '1h' });
  app = await createHttpApp(pino({ level: 'silent' }));
  const [served] = registries;
  await app.register(async (scope) =>
    registerAdmin(scope, {
      tokenSecret: SECRET,
      cluster: () => ({ registry: served }) as unknown as ClusterLink,
      media: {} as MediaService,
      signaling: {} as SignalingServer,
      mesh: () => undefined,
      // The app runs "on" asia-1's side of things: eu-1's status comes from its heartbeat.
      nodeId: 'api-node',
      recordEvent: async (e) => void recorded.push(e),
      nudge: async (id) => void nudged.push(id),
    }),
  );
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  for (const r of registries) await r.close();
  await redis?.stop();
});

const call = (method: 'GET' | 'POST', id: string, body?: unknown) =>
  app.inject({
    method,
    url: `/api/v1/nodes/${id}/drain`,
    headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { payload: JSON.stringify(body) } : {}),
  });

const status = async (id: string) => DrainStatus.parse((await call('GET', id)).json());

describe('POST /api/v1/nodes/:id/drain', () => {
  it('404 problem for an unknown node, on both methods', async () => {
    for (const res of [await call('POST', 'nope', { draining: true }), await call('GET', 'nope')]) {
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
      expect(res.json().detail).toMatch(/no node "nope"/);
    }
  });

  it('400 for a malformed body', async () => {
    const res = await call('POST', 'eu-1', { draining: 'yes' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
  });

  it('drains a relay with another serving relay in its region; refuses the last one (409) unless forced', async () => {
    nudged = [];
    const first = await call('POST', 'eu-1', { draining: true });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ id: 'eu-1', draining: true });
    expect(nudged).toEqual(['eu-1']);
    expect(recorded.at(-1)).toMatchObject({ kind: 'drain', nodeId: 'eu-1', region: 'eu' });

    // eu-2 now serves eu alone.
    const refused = await call('POST', 'eu-2', { draining: true });
    expect(refused.statusCode).toBe(409);
    expect(refused.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
    expect(refused.json().detail).toMatch(/last relay serving region "eu"/);
    expect((await status('eu-2')).draining).toBe(false);
    // asia-1 is alone in its region from the start.
    expect((await call('POST', 'asia-1', {})).statusCode).toBe(409);

    const forced = await call('POST', 'eu-2', { draining: true, force: true });
    expect(forced.statusCode).toBe(200);
    expect(recorded.at(-1)?.detail).toMatch(/forced/);
    // Undraining never needs force.
    expect((await call('POST', 'eu-2', { draining: false })).statusCode).toBe(200);
    expect((await status('eu-2')).draining).toBe(false);
  });
});

describe('GET /api/v1/nodes/:id/drain', () => {
  it('reports what the draining node holds from its heartbeat, and empty once it holds nothing', async () => {
    // eu-1 was drained above; its registry reports `holds` on its next heartbeats.
    await expect.poll(async () => (await status('eu-1')).remaining, { timeout: 3000, interval: 50 }).toEqual(holds);
    expect((await status('eu-1')).empty).toBe(false);
    holds = { webrtcViewers: 0, whepViewers: 0, hlsPlayers: 0, downstreamRelays: 0, publishers: 0 };
    await expect.poll(async () => (await status('eu-1')).empty, { timeout: 3000, interval: 50 }).toBe(true);
  });

  it('a node that is not draining is never empty: its load stands in for what it holds', async () => {
    const s = await status('eu-2');
    expect(s).toMatchObject({ id: 'eu-2', draining: false, empty: false });
    expect(s.remaining.webrtcViewers).toBe(3);
  });
});

describe('drain rules', () => {
  it('drainEmpty counts every kind of holder', () => {
    const none = { webrtcViewers: 0, whepViewers: 0, hlsPlayers: 0, downstreamRelays: 0, publishers: 0 };
    expect(drainEmpty(none)).toBe(true);
    for (const key of Object.keys(none) as (keyof DrainRemaining)[]) {
      expect(drainEmpty({ ...none, [key]: 1 })).toBe(false);
    }
  });

  it('lastServingRelay: only a serving relay with no other serving relay in its region', () => {
    const n = (id: string, region: string, roles: ('relay' | 'ingest')[], draining = false) =>
      ({ ...record(id, region), roles, draining }) as Parameters<typeof lastServingRelay>[1];
    const eu1 = n('eu-1', 'eu', ['relay']);
    const eu2 = n('eu-2', 'eu', ['relay']);
    const ingest = n('in', 'eu', ['ingest']);
    expect(lastServingRelay([eu1, eu2], eu1)).toBe(false);
    expect(lastServingRelay([eu1, { ...eu2, draining: true }], eu1)).toBe(true);
    expect(lastServingRelay([eu1, ingest, n('asia', 'asia', ['relay'])], eu1)).toBe(true);
    expect(lastServingRelay([ingest], ingest)).toBe(false);
    expect(lastServingRelay([{ ...eu1, draining: true }], { ...eu1, draining: true })).toBe(false);
  });

  it('DrainWatch reports the counts and writes "drain-empty" once per drain', () => {
    const counts = { webrtcViewers: 1, whepViewers: 0, hlsPlayers: 0, downstreamRelays: 0, publishers: 0 };
    const events: NewOpsEvent[] = [];
    const watch = new DrainWatch(
      {
        webrtcViewers: () => counts.webrtcViewers,
        whepViewers: () => counts.whepViewers,
        hlsPlayers: () => counts.hlsPlayers,
        downstreamRelays: () => counts.downstreamRelays,
        publishers: () => counts.publishers,
      },
      { id: 'eu-1', region: 'eu' },
      (e) => events.push(e),
    );
    expect(watch.report(1000)).toEqual(counts);
    expect(events).toEqual([]);
    counts.webrtcViewers = 0;
    watch.report(3500);
    watch.report(4000);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'drain-empty', nodeId: 'eu-1', region: 'eu' });
    expect(events[0]?.detail).toMatch(/2\.5 s after the drain/);
    watch.reset();
    watch.report(5000);
    expect(events).toHaveLength(2);
  });
});
