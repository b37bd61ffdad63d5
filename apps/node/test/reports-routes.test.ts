import SwaggerParser from '@apidevtools/swagger-parser';
import { ReportStore } from '@matchmesh/cluster';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import {
  LogsResponse,
  PROBLEM_CONTENT_TYPE,
  type ReportDetail,
  type ReportSubmission,
  ReportsResponse,
  signToken,
} from '@matchmesh/protocol';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectOpenApi, OPENAPI_PATH, serveOpenApi } from '../src/http/openapi.ts';
import { useZodSchemas } from '../src/http/schemas.ts';
import { LogRing } from '../src/logs/LogRing.ts';
import { registerReports } from '../src/routes/reports.ts';

/**
 * The report routes on a real Fastify (the node's schemas and error handler)
 * and a real ReportStore on a real redis-server: the limits (401/403, 400,
 * 413, 429), storing and reading back, the session's log lines from the ring.
 */
const SECRET = 'reports-route-test-secret-0123456789';
const LIMITS = { ttlMs: 60_000, maxBytes: 8 * 1024, perSession: 2, perSubject: 4, windowMs: 60_000 };
let redis: RedisServer;
let store: ReportStore;
let app: FastifyInstance;
const ring = new LogRing(100);
const reported: string[] = [];
let admin: string;
let viewer: string;
let otherStreamViewer: string;
let publisher: string;
let subjectA: string;
let subjectFuzz: string;

beforeAll(async () => {
  redis = await startRedisServer();
  store = new ReportStore({ redis: redis.url, cluster: `rr${process.pid}`, ttlMs: LIMITS.ttlMs });
  [admin, viewer, otherStreamViewer, publisher, subjectA, subjectFuzz] = await Promise.all([
    signToken(SECRET, { role: 'admin', stream: '*', ttl: '1h' }),
    signToken(SECRET, { role: 'viewer', stream: 'match', ttl: '1h' }),
    signToken(SECRET, { role: 'viewer', stream: 'other', ttl: '1h' }),
    signToken(SECRET, { role: 'publisher', stream: 'match', ttl: '1h' }),
    signToken(SECRET, { role: 'viewer', stream: 'match', sub: 'viewer-a', ttl: '1h' }),
    signToken(SECRET, { role: 'viewer', stream: 'match', sub: 'fuzzer', ttl: '1h' }),
  ]);
  // The node's logger writes into the ring as main.ts wires it.
  const log = pino({ level: 'info' }, ring);
  app = Fastify();
  useZodSchemas(app);
  await collectOpenApi(app, 'test');
  await registerReports(app, {
    tokenSecret: SECRET,
    store: () => store,
    limits: LIMITS,
    nodeId: 'eu-1',
    nodeUrl: async (id) => (id === 'eu-1' ? 'http://127.0.0.1:9999' : undefined),
    ring,
    log,
    onReport: (r) => reported.push(r.id),
  });
  await serveOpenApi(app, SECRET);
  await app.ready();
  log.child({ session: 'session-logs-1' }).info({ transportId: 't1' }, 'transport created');
  log.child({ session: 'someone-else' }).info('peer joined');
});

afterAll(async () => {
  await app?.close();
  await store?.close();
  await redis?.stop();
});

function submission(overrides: Partial<ReportSubmission> = {}): ReportSubmission {
  return {
    stream: 'match',
    sessionId: 'session-logs-1',
    nodeId: 'eu-1',
    region: 'eu',
    path: 'webrtc',
    text: 'picture froze twice',
    figures: {
      samples: [
        {
          at: Date.now(),
          path: 'webrtc',
          nodeId: 'eu-1',
          region: 'eu',
          rttMs: 4,
          packetsLost: 0,
          lossPct: 0,
          jitterMs: 2,
          framesDecoded: 120,
          fps: 30,
          kbps: 1200,
          layer: '720p',
        },
      ],
      freezes: [],
      fallbacks: [],
      placementRtts: { eu: 4 },
      browser: 'Chrome 131',
      os: 'Linux',
    },
    ...overrides,
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const post = (token: string | undefined, payload: unknown): InjectOptions => ({
  method: 'POST',
  url: '/reports',
  headers: token ? bearer(token) : {},
  payload: payload as Record<string, unknown>,
});

async function problem(opts: InjectOptions, status: number): Promise<{ detail?: string; headers: object }> {
  const res = await app.inject(opts);
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
  const body = res.json() as { status: number; detail?: string };
  expect(body.status).toBe(status);
  return { ...body, headers: res.headers };
}

describe('POST /reports: viewers submit', () => {
  it('401 without a token, 403 with a publisher token or a viewer token of another stream', async () => {
    await problem(post(undefined, submission()), 401);
    await problem(post(publisher, submission()), 403);
    await problem(post(otherStreamViewer, submission()), 403);
  });

  it('400 on a malformed report, naming the field', async () => {
    const noText = await problem(post(viewer, submission({ text: '   ' })), 400);
    expect(noText.detail).toMatch(/^body\.text: /);
    const badSession = await problem(post(viewer, submission({ sessionId: 'no spaces!' })), 400);
    expect(badSession.detail).toMatch(/^body\.sessionId: /);
    const badSample = submission();
    (badSample.figures.samples[0] as { framesDecoded: unknown }).framesDecoded = -1;
    expect((await problem(post(viewer, badSample), 400)).detail).toMatch(/^body\.figures\.samples\.0\.framesDecoded/);
    await problem(
      { ...post(viewer, '{"stream":'), headers: { ...bearer(viewer), 'content-type': 'application/json' } },
      400,
    );
  });

  it('413 over the size limit, as a problem, before anything is stored', async () => {
    const huge = submission({ sessionId: 'session-huge-1' });
    // 100 samples are within the schema (≤ 120), but over this node's 8 KiB body limit.
    huge.figures.samples = Array.from({ length: 100 }, () => huge.figures.samples[0]!);
    expect(JSON.stringify(huge).length).toBeGreaterThan(LIMITS.maxBytes);
    const tooLarge = await problem(post(viewer, huge), 413);
    expect(tooLarge.detail).toMatch(/body/i);
    expect(await store.list()).toEqual([]);
  });

  it('201 with an id, stored, the events callback called; the session is then rate limited (429 + Retry-After)', async () => {
    const first = await app.inject(post(viewer, submission()));
    expect(first.statusCode, first.body).toBe(201);
    const { id } = first.json() as { id: string };
    expect(reported).toEqual([id]);
    expect((await app.inject(post(viewer, submission({ text: 'again' })))).statusCode).toBe(201);
    const limited = await problem(post(viewer, submission({ text: 'and again' })), 429);
    const retryAfter = Number((limited.headers as Record<string, string>)['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(LIMITS.windowMs / 1000);
    expect(reported).toHaveLength(2);
  });

  it('429 for one token subject across made-up session ids (the second bucket)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await app.inject(post(subjectA, submission({ sessionId: `made-up-session-${i}` })));
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([201, 201, 201, 201, 429, 429]);
  });
});

describe('POST /reports under generated garbage', () => {
  it('answers 300 mutated reports with 201, 400, 413 or 429 — never a 5xx — and keeps serving', async () => {
    // A seeded generator (mulberry32): the same cases every run.
    let seed = 0x5eed17;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
    const garbage = () =>
      pick<unknown>([null, -1, 1e308, '', 'x'.repeat(5000), [], {}, { $gt: '' }, true, '\u0000', [1, [2, [3]]]]);
    const mutate = (value: unknown, depth = 0): unknown => {
      if (random() < 0.15 || depth > 4) return garbage();
      if (Array.isArray(value)) return value.map((v) => mutate(v, depth + 1));
      if (value && typeof value === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) {
          if (random() < 0.1) continue; // a field left out
          out[k] = random() < 0.7 ? v : mutate(v, depth + 1);
        }
        if (random() < 0.1) out[pick(['__proto__', 'constructor', 'extra'])] = garbage();
        return out;
      }
      return value;
    };
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const body = mutate(submission({ sessionId: `fuzz-session-${i % 7}` }));
      const res = await app.inject({
        method: 'POST',
        url: '/reports',
        headers: { ...bearer(subjectFuzz), 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      expect([201, 400, 413, 429], `${res.statusCode}: ${res.body}`).toContain(res.statusCode);
      expect(res.headers['content-type']).toMatch(/json/);
    }
    expect(statuses.get(400)).toBeGreaterThan(100);
    console.log(`reports fuzz: ${JSON.stringify(Object.fromEntries(statuses))}`);
    // Still serving: an admin read works after the storm.
    expect((await app.inject({ method: 'GET', url: '/api/v1/reports', headers: bearer(admin) })).statusCode).toBe(200);
  });
});

describe('admin: GET /api/v1/reports, /api/v1/reports/:id, /api/v1/logs', () => {
  const get = (url: string, token?: string): InjectOptions => ({
    method: 'GET',
    url,
    headers: token ? bearer(token) : {},
  });

  it('401 without a token, 403 with a viewer token, on every admin route', async () => {
    for (const url of ['/api/v1/reports', '/api/v1/reports/abcdef-123', '/api/v1/logs?session=session-logs-1']) {
      await problem(get(url), 401);
      await problem(get(url, viewer), 403);
    }
  });

  it('lists newest first without figures; the detail has the figures and the link to the node log lines', async () => {
    const list = ReportsResponse.parse((await app.inject(get('/api/v1/reports', admin))).json());
    expect(list.reports.length).toBeGreaterThanOrEqual(2);
    const ats = list.reports.map((r) => r.at);
    expect([...ats].sort((a, b) => b - a)).toEqual(ats);
    expect(list.reports[0]).not.toHaveProperty('figures');
    const mine = list.reports.find((r) => r.sessionId === 'session-logs-1')!;
    const res = await app.inject(get(`/api/v1/reports/${mine.id}`, admin));
    expect(res.statusCode, res.body).toBe(200);
    const detail = res.json() as ReportDetail;
    expect(detail.figures.samples[0]!.framesDecoded).toBe(120);
    expect(detail.logs).toEqual({
      nodeId: 'eu-1',
      url: 'http://127.0.0.1:9999/api/v1/logs?session=session-logs-1',
    });
    await problem(get('/api/v1/reports/abcdef-404', admin), 404);
    await problem(get('/api/v1/reports/NOT..AN..ID', admin), 400);
    await problem(get('/api/v1/reports?limit=0', admin), 400);
  });

  it("the logs route returns only that session's lines (the report's own line among them)", async () => {
    const res = await app.inject(get('/api/v1/logs?session=session-logs-1', admin));
    const logs = LogsResponse.parse(res.json());
    const messages = logs.lines.map((l) => l.msg);
    expect(messages).toContain('transport created');
    expect(messages).toContain('problem report stored');
    expect(messages).not.toContain('peer joined');
    expect(logs.lines.every((l) => l.session === 'session-logs-1')).toBe(true);
    await problem(get('/api/v1/logs?session=x', admin), 400);
  });

  it('the OpenAPI document is valid and has the report routes', async () => {
    const doc = (await app.inject(get(OPENAPI_PATH, admin))).json() as { paths: Record<string, object> };
    await SwaggerParser.validate(structuredClone(doc) as never);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/reports', '/api/v1/reports', '/api/v1/reports/{id}', '/api/v1/logs']),
    );
  });
});

describe('LogRing', () => {
  it('keeps the last `capacity` lines, oldest first', () => {
    const small = new LogRing(3);
    for (let i = 0; i < 5; i++) small.write(`${JSON.stringify({ session: 's', i })}\n`);
    small.write('not json\n');
    expect(small.forSession('s').map((l) => l.i)).toEqual([2, 3, 4]);
  });
});
