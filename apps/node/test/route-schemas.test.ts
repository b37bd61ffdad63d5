import SwaggerParser from '@apidevtools/swagger-parser';
import { PROBLEM_CONTENT_TYPE, type Problem, signToken } from '@matchmesh/protocol';
import { MediaError } from '@matchmesh/sfu';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectOpenApi, DOCS_PATH, OPENAPI_PATH, serveOpenApi } from '../src/http/openapi.ts';
import { useZodSchemas } from '../src/http/schemas.ts';
import { type AdminDeps, registerAdmin } from '../src/routes/admin.ts';
import { registerCost } from '../src/routes/cost.ts';
import { type EdgesDeps, registerEdges } from '../src/routes/edges.ts';
import { registerHealth } from '../src/routes/health.ts';
import { registerHls } from '../src/routes/hls.ts';
import { registerMetrics } from '../src/routes/metrics.ts';
import { type HttpSession, registerWebRtcHttp } from '../src/routes/webrtc-http.ts';
import { nodeRecord } from './records.ts';

/**
 * Every route of the node declares its params, query and body as zod schemas:
 * a request that fails one gets 400 application/problem+json whose detail
 * names the field, from the one error handler, before any handler runs. The
 * routes are wired here to in-memory fakes (no media, no Redis): what is
 * tested is the HTTP edge, not what lies behind it.
 */
const SECRET = 'route-schema-test-secret-0123456789';
const TOO_LONG = 'x'.repeat(65);
let app: FastifyInstance;
let admin: string;
let viewer: string;
let publisher: string;
let metricsOnly: string;
const drained: { id: string; draining: boolean }[] = [];
/** Every route the node's plugins added (method + URL as Fastify has it). */
const routes: { method: string; url: string; hidden: boolean }[] = [];
let opened = 0;

/** A WHIP session as the route sees one: the answer is echoed back verbatim. */
const session: HttpSession = { id: 'sess-1', etag: '"e1"', answer: 'v=0\r\ns=answer\r\n', closed: false, close() {} };

beforeAll(async () => {
  [admin, viewer, publisher, metricsOnly] = await Promise.all([
    signToken(SECRET, { role: 'admin', stream: '*', ttl: '1h' }),
    signToken(SECRET, { role: 'viewer', stream: 'match', ttl: '1h' }),
    signToken(SECRET, { role: 'publisher', stream: 'match', ttl: '1h' }),
    signToken(SECRET, { role: 'metrics', stream: '*', ttl: '1h' }),
  ]);
  app = Fastify({ routerOptions: { maxParamLength: 2048 } });
  useZodSchemas(app);
  await collectOpenApi(app, 'test');
  app.addHook('onRoute', (route) => {
    const hidden = Boolean((route.schema as { hide?: boolean } | undefined)?.hide);
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, hidden });
  });
  await registerHealth(app, { notReadyReasons: () => ['redis unavailable'] });
  await registerMetrics(
    app,
    {
      registry: { contentType: 'text/plain; version=0.0.4; charset=utf-8' },
      metrics: async () => '# HELP mm_up up\nmm_up 1\n',
    } as unknown as Parameters<typeof registerMetrics>[1],
    SECRET,
  );
  const cluster = {
    registry: {
      list: async () => [],
      get: async (id: string) =>
        id === 'node-1' ? { id, region: 'eu', roles: ['ingest'], draining: false } : undefined,
      setDraining: async (id: string, draining: boolean) => void drained.push({ id, draining }),
    },
    directory: { listStreams: async () => [] },
  } as unknown as ReturnType<AdminDeps['cluster']>;
  const edges: EdgesDeps = {
    tokenSecret: SECRET,
    cluster: () => cluster,
    region: 'eu',
    nodeId: 'node-1',
    latestScore: () => null,
    liveRecord: () => nodeRecord({ id: 'node-1', capacity: { viewers: 4 }, viewers: 3 }),
    rtpCapabilities: () => undefined,
  };
  await registerEdges(app, edges);
  await app.register(async (scope) =>
    registerAdmin(scope, {
      tokenSecret: SECRET,
      cluster: () => cluster,
      media: { streams: new Map(), stream: () => undefined, whip: new Map() } as unknown as AdminDeps['media'],
      signaling: {} as AdminDeps['signaling'],
      mesh: () => undefined,
      nodeId: 'node-1',
    }),
  );
  await app.register(async (scope) =>
    registerCost(scope, {
      tokenSecret: SECRET,
      ledger: { read: async () => ({ since: 0, regions: new Map() }), reset: async () => 0 },
      prices: { regionUsdPerGb: {}, defaultUsdPerGb: 0.05, cdnUsdPerGb: 0.085 },
    }),
  );
  await app.register(async (scope) =>
    registerWebRtcHttp(scope, {
      prefix: 'whip',
      role: 'publisher',
      tokenSecret: SECRET,
      iceServers: () => [],
      open: async (_stream, offer) => {
        // What WhipSession throws for a simulcast offer the node cannot take.
        if (offer.includes('a=simulcast')) {
          throw new MediaError(
            'bad_simulcast',
            'the offer has 4 simulcast layers; this node takes at most 3; accepted: ...',
          );
        }
        opened++;
        return session;
      },
      find: (stream, id) => (stream === 'match' && id === session.id ? session : undefined),
    }),
  );
  await app.register(async (scope) =>
    registerHls(scope, {
      // No stream is live: a request that passes its schema ends in the handler's 404.
      hls: { get: async () => undefined } as unknown as Parameters<typeof registerHls>[1]['hls'],
      tokenSecret: SECRET,
      startWaitMs: 10,
    }),
  );
  await serveOpenApi(app, SECRET);
  await app.ready();
});

afterAll(async () => {
  await app?.close();
});

async function problem(opts: InjectOptions): Promise<Problem & { headers: Record<string, unknown> }> {
  const res = await app.inject(opts);
  expect(res.headers['content-type'], `${opts.method} ${opts.url}`).toContain(PROBLEM_CONTENT_TYPE);
  const body = res.json() as Problem;
  expect(body.status, `${opts.method} ${opts.url}: ${body.detail}`).toBe(res.statusCode);
  return { ...body, headers: res.headers };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('route schemas: a bad param, query or body is a 400 problem naming the field', () => {
  // Each case: the request, and the start of the detail (the field, then why).
  const cases: [string, () => InjectOptions, RegExp][] = [
    ['metrics: query', () => ({ method: 'GET', url: '/metrics?token=a&token=b' }), /^query\.token: /],
    [
      'edges: param',
      () => ({ method: 'GET', url: '/api/v1/streams/no.dots/edges', headers: bearer(viewer) }),
      /^params\.stream: stream id/,
    ],
    ['edges: query', () => ({ method: 'GET', url: '/api/v1/streams/match/edges?token=a&token=b' }), /^query\.token: /],
    [
      'admin nodes: query',
      () => ({ method: 'GET', url: '/api/v1/nodes?token=a&token=b', headers: bearer(admin) }),
      /^query\.token: /,
    ],
    [
      'admin streams: query',
      () => ({ method: 'GET', url: '/api/v1/streams?token=a&token=b', headers: bearer(admin) }),
      /^query\.token: /,
    ],
    [
      'admin program: param',
      () => ({ method: 'GET', url: `/api/v1/streams/${TOO_LONG}/program`, headers: bearer(admin) }),
      /^params\.stream: /,
    ],
    [
      'admin drop: param',
      () => ({ method: 'POST', url: '/api/v1/streams/a%20b/publishers/drop', headers: bearer(admin) }),
      /^params\.stream: stream id/,
    ],
    [
      'admin pipes: query',
      () => ({ method: 'GET', url: '/api/v1/pipes?token=a&token=b', headers: bearer(admin) }),
      /^query\.token: /,
    ],
    [
      'admin drain: param',
      () => ({ method: 'POST', url: `/api/v1/nodes/${TOO_LONG}/drain`, headers: bearer(admin), payload: {} }),
      /^params\.id: /,
    ],
    [
      'admin drain: body',
      () => ({
        method: 'POST',
        url: '/api/v1/nodes/node-1/drain',
        headers: bearer(admin),
        payload: { draining: 'yes' },
      }),
      /^body\.draining: /,
    ],
    [
      'WHIP POST: param',
      () => ({
        method: 'POST',
        url: '/whip/no.dots',
        headers: { ...bearer(publisher), 'content-type': 'application/sdp' },
        payload: 'v=0\r\n',
      }),
      /^params\.stream: stream id/,
    ],
    [
      'WHIP POST: query',
      () => ({
        method: 'POST',
        url: '/whip/match?token=a&token=b',
        headers: { ...bearer(publisher), 'content-type': 'application/sdp' },
        payload: 'v=0\r\n',
      }),
      /^query\.token: /,
    ],
    [
      'WHIP PATCH: param',
      () => ({
        method: 'PATCH',
        url: `/whip/match/sessions/${TOO_LONG}`,
        headers: { ...bearer(publisher), 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': '*' },
        payload: 'a=ice-ufrag:x\r\n',
      }),
      /^params\.session: /,
    ],
    [
      'WHIP DELETE: param',
      () => ({ method: 'DELETE', url: '/whip/no.dots/sessions/sess-1', headers: bearer(publisher) }),
      /^params\.stream: /,
    ],
    [
      'HLS multivariant: param',
      () => ({ method: 'GET', url: `/hls/no.dots/index.m3u8?token=${viewer}` }),
      /^params\.stream: /,
    ],
    [
      'HLS multivariant: query',
      () => ({ method: 'GET', url: '/hls/match/index.m3u8?token=a&token=b' }),
      /^query\.token: /,
    ],
    ['HLS file: param', () => ({ method: 'GET', url: `/hls/no.dots/t/${viewer}/media.m3u8` }), /^params\.stream: /],
    [
      'HLS media: _HLS_msn',
      () => ({ method: 'GET', url: `/hls/match/t/${viewer}/media.m3u8?_HLS_msn=-1` }),
      /^query\._HLS_msn: /,
    ],
    [
      'HLS media: _HLS_part alone',
      () => ({ method: 'GET', url: `/hls/match/t/${viewer}/media.m3u8?_HLS_part=1` }),
      /^query\._HLS_part: _HLS_part requires _HLS_msn/,
    ],
    [
      'HLS media: _HLS_skip',
      () => ({ method: 'GET', url: `/hls/match/t/${viewer}/media.m3u8?_HLS_skip=NO` }),
      /^query\._HLS_skip: /,
    ],
    [
      'HLS scores: wait',
      () => ({ method: 'GET', url: `/hls/match/t/${viewer}/scores.json?since=1&wait=999999` }),
      /^query\.wait: /,
    ],
  ];

  it.each(cases)('%s', async (_name, request, detail) => {
    const p = await problem(request());
    expect(p.status).toBe(400);
    expect(p.title).toBe('Bad Request');
    expect(p.detail).toMatch(detail);
  });

  it('checks the admin token before any schema: no token and a bad body is 401, not 400', async () => {
    const p = await problem({ method: 'POST', url: '/api/v1/nodes/node-1/drain', payload: { draining: 'yes' } });
    expect(p.status).toBe(401);
  });

  it('answers a WHIP schema failure with CORS headers, so a browser can read the problem', async () => {
    const p = await problem({
      method: 'POST',
      url: '/whip/no.dots',
      headers: { 'content-type': 'application/sdp' },
      payload: 'v=0\r\n',
    });
    expect(p.status).toBe(400);
    expect(p.headers['access-control-allow-origin']).toBe('*');
  });
});

describe('route schemas: good requests behave as before', () => {
  it('health and readiness answer their JSON', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'not ready', reasons: ['redis unavailable'] });
  });

  it('a drain without a body drains; { draining: false } undoes it', async () => {
    const drain = await app.inject({ method: 'POST', url: '/api/v1/nodes/node-1/drain', headers: bearer(admin) });
    expect(drain.statusCode).toBe(200);
    expect(drain.json()).toEqual({ id: 'node-1', draining: true });
    const undo = await app.inject({
      method: 'POST',
      url: '/api/v1/nodes/node-1/drain',
      headers: bearer(admin),
      payload: { draining: false },
    });
    expect(undo.json()).toEqual({ id: 'node-1', draining: false });
    expect(drained).toEqual([
      { id: 'node-1', draining: true },
      { id: 'node-1', draining: false },
    ]);
    expect((await problem({ method: 'POST', url: '/api/v1/nodes/node-2/drain', headers: bearer(admin) })).status).toBe(
      404,
    );
  });

  it('WHIP takes SDP text and answers SDP text, unencoded; other content types stay 415 after the token', async () => {
    const before = opened;
    const res = await app.inject({
      method: 'POST',
      url: '/whip/match',
      headers: { ...bearer(publisher), 'content-type': 'application/sdp' },
      payload: 'v=0\r\n',
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['content-type']).toContain('application/sdp');
    expect(res.body).toBe(session.answer);
    expect(res.headers.location).toBe('/whip/match/sessions/sess-1');
    expect(opened).toBe(before + 1);
    const json = { method: 'POST' as const, url: '/whip/match', payload: { sdp: 'v=0' } };
    expect((await problem(json)).status).toBe(401);
    expect((await problem({ ...json, headers: bearer(publisher) })).status).toBe(415);
    // Pre-flight takes any path (no schema failure there): the request itself gets the 400.
    expect((await app.inject({ method: 'OPTIONS', url: '/whip/no.dots' })).statusCode).toBe(204);
    const del = await app.inject({ method: 'DELETE', url: '/whip/match/sessions/sess-1', headers: bearer(publisher) });
    expect(del.statusCode).toBe(200);
    expect(del.body).toBe('');
  });

  it('WHIP: a simulcast offer the node cannot take is 422 problem+json naming the limit', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/whip/match',
      headers: { ...bearer(publisher), 'content-type': 'application/sdp' },
      payload: 'v=0\r\na=simulcast:send a;b;c;d\r\n',
    });
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
    const body = res.json() as Problem;
    expect(body).toMatchObject({ status: 422, title: 'Unprocessable Content' });
    expect(body.detail).toMatch(/at most 3/);
  });

  it('HLS: a request that passes its schema reaches the handler (401 without a token, 404 for no stream)', async () => {
    expect((await problem({ method: 'GET', url: '/hls/match/index.m3u8' })).status).toBe(401);
    expect(
      (await problem({ method: 'GET', url: `/hls/match/t/${viewer}/media.m3u8?_HLS_msn=3&_HLS_part=1` })).status,
    ).toBe(404);
  });

  it('the metrics route answers unencoded text; the probe answers the live load, readable cross-origin', async () => {
    const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: bearer(admin) });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toBe('# HELP mm_up up\nmm_up 1\n');
    const probe = await app.inject({ method: 'GET', url: '/probe' });
    expect(probe.statusCode).toBe(200);
    expect(probe.headers['access-control-allow-origin']).toBe('*');
    // 3 of 4 viewers now (liveRecord), whatever the registry's last heartbeat said.
    expect(probe.json()).toEqual({ node: 'node-1', load: 0.75, accepts: true });
  });
});

describe('the OpenAPI document (GET /api/v1/openapi.json) and its reference page', () => {
  const get = (url: string, token?: string) =>
    app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('is valid OpenAPI 3.1 (swagger-parser) and describes every route of the node with its method', async () => {
    const res = await get(OPENAPI_PATH, admin);
    expect(res.statusCode, res.body).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    // Throws, naming the fault, on a document that breaks the OpenAPI 3.1 schema or has a dangling $ref.
    await SwaggerParser.validate(structuredClone(doc) as never);
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)),
    );
    const served = routes
      // HEAD twins of GET routes are Fastify's own; the document and its page describe themselves elsewhere.
      // (405 answers of unsupported methods are hidden from the document: they are no operations.)
      .filter((r) => r.method !== 'HEAD' && !r.hidden && r.url !== OPENAPI_PATH && !r.url.startsWith(DOCS_PATH))
      // OpenAPI path templates: `:stream` → `{stream}`, a wildcard `*` → `{*}` (as @fastify/swagger writes it).
      .map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{*}')}`);
    expect(
      served.filter((r) => !documented.has(r)),
      [...documented].join(', '),
    ).toEqual([]);
    // The ops API in particular: every admin route, with its parameters.
    const adminRoutes = served.filter((r) => r.includes(' /api/v1/') && !r.includes('/edges'));
    expect(adminRoutes).toEqual(
      expect.arrayContaining([
        'GET /api/v1/nodes',
        'GET /api/v1/streams',
        'POST /api/v1/nodes/{id}/drain',
        'GET /api/v1/cost',
        'POST /api/v1/cost/reset',
      ]),
    );
    expect(adminRoutes.length).toBeGreaterThanOrEqual(6);
    const drain = doc.paths['/api/v1/nodes/{id}/drain']!.post as { requestBody?: unknown; parameters?: unknown[] };
    expect(drain.requestBody).toBeDefined();
    expect(drain.parameters?.length).toBeGreaterThan(0);
  });

  it('needs an admin token: 401 without one, 403 with a viewer token — the document and the page alike', async () => {
    for (const url of [OPENAPI_PATH, DOCS_PATH]) {
      expect((await problem({ method: 'GET', url })).status, url).toBe(401);
      expect((await problem({ method: 'GET', url, headers: { authorization: `Bearer ${viewer}` } })).status).toBe(403);
    }
  });

  it('the page carries the document inline and its script comes from the node (no CDN)', async () => {
    const page = await get(`${DOCS_PATH}?token=${admin}`);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('matchmesh node');
    const script = /src="([^"]*scalar\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    const js = await get(new URL(script!, `http://node${DOCS_PATH}`).pathname);
    expect(js.statusCode).toBe(200);
    expect(js.body.length).toBeGreaterThan(100_000);
  });
});

describe('roles at the HTTP edge', () => {
  const call = (method: 'GET' | 'POST', url: string, token: string, body?: string) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/sdp' } : {}) },
      ...(body ? { payload: body } : {}),
    });

  it('a metrics token reads /metrics and is refused everything else (403)', async () => {
    expect((await call('GET', '/metrics', metricsOnly)).statusCode).toBe(200);
    for (const url of ['/api/v1/nodes', '/api/v1/streams', OPENAPI_PATH]) {
      expect((await call('GET', url, metricsOnly)).statusCode, url).toBe(403);
    }
    expect((await call('POST', '/whip/match', metricsOnly, 'v=0\r\n')).statusCode).toBe(403);
  });

  it('an admin token reads /metrics and the ops API but cannot publish (403 on WHIP)', async () => {
    expect((await call('GET', '/metrics', admin)).statusCode).toBe(200);
    expect((await call('GET', '/api/v1/nodes', admin)).statusCode).toBe(200);
    const whip = await call('POST', '/whip/match', admin, 'v=0\r\n');
    expect(whip.statusCode).toBe(403);
    expect((whip.json() as Problem).detail).toMatch(/publisher/);
  });
});

describe('GET /api/v1/scale-advice', () => {
  it('answers the regions advice (none here: no relays registered); a bad headroom is 400 naming it', async () => {
    const ok = await app.inject({
      method: 'GET',
      url: '/api/v1/scale-advice',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ headroom: 0.25, regions: [] });
    const bad = await problem({
      method: 'GET',
      url: '/api/v1/scale-advice?headroom=9',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(bad.status).toBe(400);
    expect(bad.detail).toMatch(/query\.headroom/);
  });
});
