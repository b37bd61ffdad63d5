import SwaggerParser from '@apidevtools/swagger-parser';
import { EventLog } from '@matchmesh/cluster';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { type OpsSnapshot, PROBLEM_CONTENT_TYPE, signToken } from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../src/http/app.ts';
import { OPENAPI_PATH, serveOpenApi } from '../src/http/openapi.ts';
import { registerBeacon } from '../src/routes/beacon.ts';
import { registerOpsLive } from '../src/routes/ops-live.ts';

/**
 * The events feed and the live stream of the ops console, and the viewers'
 * fallback beacon, on the node's own HTTP app (createHttpApp: zod schemas,
 * problem answers) listening on a real port, over a real Redis stream
 * (EventLog). Only the snapshot is canned: it is the admin routes' answer,
 * tested with them.
 */
const SECRET = 'ops-live-test-secret-0123456789abcdef';
let redis: RedisServer;
let events: EventLog;
let app: FastifyInstance;
let base: string;
let admin: string;
let viewer: string;
let snapshots = 0;

const snapshot = (): OpsSnapshot => ({
  at: Date.now(),
  nodeId: 'node-1',
  nodes: [],
  streams: [],
  pipes: [],
  cost: null,
  reports: null,
});

beforeAll(async () => {
  redis = await startRedisServer();
  events = new EventLog({ redis: redis.url, cluster: `opslive${process.pid}`, blockMs: 200 });
  [admin, viewer] = await Promise.all([
    signToken(SECRET, { role: 'admin', stream: '*', ttl: '1h' }),
    signToken(SECRET, { role: 'viewer', stream: 'match', ttl: '1h' }),
  ]);
  app = await createHttpApp(pino({ level: 'silent' }));
  await app.register(async (scope) =>
    registerOpsLive(scope, {
      tokenSecret: SECRET,
      events: () => events,
      snapshot: async () => {
        snapshots++;
        return snapshot();
      },
      snapshotEveryMs: 100,
    }),
  );
  await app.register(async (scope) =>
    registerBeacon(scope, {
      tokenSecret: SECRET,
      nodeId: 'node-1',
      region: 'eu',
      record: (event) => events.append(event),
      perViewerMs: 60_000,
      perMinute: 3,
    }),
  );
  await serveOpenApi(app, SECRET);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await app?.close();
  await events?.close();
  await redis?.stop();
});

/** Reads server-sent events off a fetch body until `until` says stop. */
async function readEvents(
  res: Response,
  until: (seen: { event: string; data: string }[]) => boolean,
): Promise<{ event: string; data: string }[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const seen: { event: string; data: string }[] = [];
  let buffer = '';
  while (!until(seen)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut = buffer.indexOf('\n\n');
    while (cut >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data !== undefined) seen.push({ event, data });
      cut = buffer.indexOf('\n\n');
    }
  }
  await reader.cancel();
  return seen;
}

describe('GET /api/v1/live (server-sent events)', () => {
  it('refuses without a token (401) and with a viewer token (403) as problem+json, before any stream byte', async () => {
    for (const [query, status] of [
      ['', 401],
      [`?token=${viewer}`, 403],
      ['?token=not-a-jwt', 401],
    ] as const) {
      const res = await fetch(`${base}/api/v1/live${query}`);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain(PROBLEM_CONTENT_TYPE);
      expect(((await res.json()) as { status: number }).status).toBe(status);
    }
  });

  it('pushes snapshots and each appended event, in order, to an admin', async () => {
    await events.append({ kind: 'node-joined', nodeId: 'node-1', detail: 'opening' });
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/live?token=${admin}`, { signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    let appended = false;
    const seen = await readEvents(res, (seen) => {
      // Append once the stream has delivered the history (the follower is attached by then): the 'opening' event.
      if (!appended && seen.some((e) => e.event === 'ops-event' && e.data.includes('opening'))) {
        appended = true;
        void (async () => {
          await events.append({ kind: 'drain', nodeId: 'node-2', detail: 'first' });
          await events.append({ kind: 'undrain', nodeId: 'node-2', detail: 'second' });
        })();
      }
      return (
        seen.filter((e) => e.event === 'ops-event').length >= 2 &&
        seen.filter((e) => e.event === 'snapshot').length >= 2
      );
    });
    ac.abort();
    const opsEvents = seen.filter((e) => e.event === 'ops-event').map((e) => JSON.parse(e.data) as { detail: string });
    // The history (ending with 'opening'), then the live ones, each once.
    expect(opsEvents.map((e) => e.detail).slice(-3)).toEqual(['opening', 'first', 'second']);
    const snap = JSON.parse(seen.find((e) => e.event === 'snapshot')!.data) as OpsSnapshot;
    expect(snap.nodeId).toBe('node-1');
    expect(snap.cost).toBeNull();
  });

  it('stops working for a client that went away', async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/live?token=${admin}`, { signal: ac.signal });
    await readEvents(res, (seen) => seen.some((e) => e.event === 'snapshot'));
    ac.abort();
    // After the close is seen no more snapshots are made for it: the count settles.
    await expect
      .poll(
        async () => {
          const before = snapshots;
          await new Promise((r) => setTimeout(r, 300));
          return snapshots - before;
        },
        { timeout: 5_000 },
      )
      .toBe(0);
  });
});

describe('GET /api/v1/live: how it ends', () => {
  it('ends with an `end` event when the token expires while it runs', async () => {
    // Two seconds, not one: `exp` is whole seconds after a whole-second `iat`, so a 1 s token signed at x.999 s
    // had a millisecond to live and was refused (401) before the stream began, on three loaded vitest workers.
    const shortLived = await signToken(SECRET, { role: 'admin', stream: '*', ttl: 2 });
    const res = await fetch(`${base}/api/v1/live?token=${shortLived}`);
    expect(res.status).toBe(200);
    const seen = await readEvents(res, (seen) => seen.some((e) => e.event === 'end'));
    expect(seen.at(-1)).toEqual({ event: 'end', data: '"token expired"' });
  });
});

describe('GET /api/v1/events', () => {
  it('lists the recent events oldest first, with its limit checked (400) and its role (401/403)', async () => {
    await events.append({ kind: 'node-joined', nodeId: 'node-3', detail: 'newest' });
    const res = await fetch(`${base}/api/v1/events?limit=2`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { events: { detail: string }[] };
    expect(body.events).toHaveLength(2);
    expect(body.events.at(-1)!.detail).toBe('newest');
    expect(
      (await fetch(`${base}/api/v1/events?limit=0`, { headers: { authorization: `Bearer ${admin}` } })).status,
    ).toBe(400);
    expect((await fetch(`${base}/api/v1/events`)).status).toBe(401);
    expect((await fetch(`${base}/api/v1/events`, { headers: { authorization: `Bearer ${viewer}` } })).status).toBe(403);
  });
});

describe('POST /beacon/fallback', () => {
  const post = (body: unknown, token: string | null = viewer, raw?: string) =>
    fetch(`${base}/beacon/fallback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: raw ?? JSON.stringify(body),
    });

  it('records a fallback in the events feed; refuses bad input and a viewer in a loop', async () => {
    expect((await post({ stream: 'match', reason: 'x' }, null)).status).toBe(401);
    expect((await post({ stream: 'other', reason: 'x' })).status).toBe(403);
    expect((await post({ stream: 'match' })).status).toBe(400);
    expect((await post(null, viewer, '{not json')).status).toBe(400);
    expect((await post(null, viewer, JSON.stringify({ stream: 'match', reason: 'x'.repeat(4000) }))).status).toBe(413);
    const ok = await post({ stream: 'match', reason: 'fallback: ICE failed', from: 'webrtc' });
    expect(ok.status).toBe(200);
    const again = await post({ stream: 'match', reason: 'fallback: ICE failed', from: 'webrtc' });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    const recorded = (await events.recent(5)).filter((e) => e.kind === 'fallback');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ nodeId: 'node-1', region: 'eu', stream: 'match' });
    expect(recorded[0]!.detail).toBe('webrtc → hls: fallback: ICE failed');
  });
});

describe('the OpenAPI document', () => {
  it('is valid and holds the events, live and beacon routes', async () => {
    const res = await fetch(`${base}${OPENAPI_PATH}`, { headers: { authorization: `Bearer ${admin}` } });
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    await SwaggerParser.validate(structuredClone(doc) as never);
    expect(Object.keys(doc.paths['/api/v1/events']!)).toContain('get');
    expect(Object.keys(doc.paths['/api/v1/live']!)).toContain('get');
    expect(Object.keys(doc.paths['/beacon/fallback']!)).toContain('post');
  });
});

// Last: it closes the app.
describe('a node closing', () => {
  it('ends every open live stream at once (`end: node closing`), a client that stopped reading included', async () => {
    // One client reads on; another read its first bytes and then stopped reading, its socket left open.
    const stalled = await fetch(`${base}/api/v1/live?token=${admin}`);
    await stalled.body!.getReader().read();
    const reading = await fetch(`${base}/api/v1/live?token=${admin}`);
    const ending = readEvents(reading, (seen) => seen.some((e) => e.event === 'end'));
    const before = snapshots;
    await expect.poll(() => snapshots).toBeGreaterThan(before + 2);
    const closedAt = Date.now();
    await app.close();
    // At once, not after a keep-alive timeout (4 s on the client's side, 72 s on Fastify's).
    expect(Date.now() - closedAt).toBeLessThan(2_000);
    expect((await ending).at(-1)).toEqual({ event: 'end', data: '"node closing"' });
  });
});
