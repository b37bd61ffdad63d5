import http from 'node:http';
import type { AddressInfo } from 'node:net';
import SwaggerParser from '@apidevtools/swagger-parser';
import { CostLedger } from '@matchmesh/cluster';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { CostResponse, signToken } from '@matchmesh/protocol';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { countResponseBytes } from '../src/cost/hlsBytes.ts';
import { NodeCost } from '../src/cost/NodeCost.ts';
import { RegionPrices, regionUsdPerGb } from '../src/cost/prices.ts';
import { collectOpenApi, OPENAPI_PATH, serveOpenApi } from '../src/http/openapi.ts';
import { useZodSchemas } from '../src/http/schemas.ts';
import { registerCost } from '../src/routes/cost.ts';

const SECRET = 'cost-test-secret-0123456789abcdef';
const silent = pino({ level: 'silent' });
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describe('prices (MM_REGION_USD_PER_GB, MM_CDN_USD_PER_GB)', () => {
  it('parses region=price entries, spaces allowed; unlisted regions fall back to MM_EGRESS_USD_PER_GB', () => {
    expect(RegionPrices.parse(' eu=0.02, asia = 0.09 ,us-east=0')).toEqual({ eu: 0.02, asia: 0.09, 'us-east': 0 });
    expect(RegionPrices.parse(undefined)).toEqual({});
    const c = loadConfig({
      MM_TOKEN_SECRET: SECRET,
      MM_REGION: 'eu',
      MM_REGION_USD_PER_GB: 'eu=0.02,asia=0.09',
      MM_EGRESS_USD_PER_GB: '0.07',
    });
    expect(c.cost).toEqual({ regionUsdPerGb: { eu: 0.02, asia: 0.09 }, defaultUsdPerGb: 0.07, cdnUsdPerGb: 0.085 });
    expect(regionUsdPerGb(c.cost, 'asia')).toBe(0.09);
    expect(regionUsdPerGb(c.cost, 'sa')).toBe(0.07);
    // Not an inherited property of a plain object.
    expect(regionUsdPerGb(c.cost, 'constructor')).toBe(0.07);
    expect(loadConfig({ MM_TOKEN_SECRET: SECRET, MM_REGION: 'eu', MM_CDN_USD_PER_GB: '0.02' }).cost.cdnUsdPerGb).toBe(
      0.02,
    );
  });

  it.each([
    ['eu', /"eu": expected <region>=<USD per GB>/],
    ['eu=', /"eu="/],
    ['eu=cheap', /"eu=cheap"/],
    ['EU=0.02', /"EU=0.02"/],
    ['eu=-1', /"eu=-1"/],
    ['eu=0.02=3', /"eu=0.02=3"/],
    ['eu=0.02,eu=0.03', /region "eu" is priced twice/],
  ])('refuses %j naming the entry', (value, message) => {
    expect(() => loadConfig({ MM_TOKEN_SECRET: SECRET, MM_REGION: 'eu', MM_REGION_USD_PER_GB: value })).toThrow(
      ConfigError,
    );
    expect(() => loadConfig({ MM_TOKEN_SECRET: SECRET, MM_REGION: 'eu', MM_REGION_USD_PER_GB: value })).toThrow(
      message,
    );
  });

  it('refuses a CDN price that is not a price', () => {
    expect(() => loadConfig({ MM_TOKEN_SECRET: SECRET, MM_REGION: 'eu', MM_CDN_USD_PER_GB: 'free' })).toThrow(
      /MM_CDN_USD_PER_GB/,
    );
    expect(() => loadConfig({ MM_TOKEN_SECRET: SECRET, MM_REGION: 'eu', MM_CDN_USD_PER_GB: '-0.1' })).toThrow(
      /MM_CDN_USD_PER_GB/,
    );
  });
});

/** A stand-in for the workers' meter: the bytes a test says were sent. */
function fakeEgress(viewers: number, pipes: [string, number][]) {
  const egress = {
    viewers,
    pipes: new Map(pipes),
    sampled: 0,
    get totalBytes() {
      return { viewers: egress.viewers, pipes: 0, other: 1e12 };
    },
    get pipeBytesByRegion() {
      return new Map(egress.pipes);
    },
    async sample() {
      egress.sampled++;
    },
  };
  return egress;
}

const prices = { regionUsdPerGb: { eu: 0.02 }, defaultUsdPerGb: 0.05, cdnUsdPerGb: 0.085 };

describe('NodeCost', () => {
  it('prices viewers’ bytes and region copies to other regions; same-region pipes and internal bytes never', () => {
    const egress = fakeEgress(1000, [
      ['asia', 300],
      ['eu', 5000],
    ]);
    const ledger = new CostLedger({ redis: redis.url, cluster: 'cost-node-1' });
    const cost = new NodeCost({ region: 'eu', egress, ledger, prices, flushMs: 60_000, log: silent });
    cost.countHls(200);
    cost.countHls(-5);
    expect(cost.bytes).toEqual({ webrtc: 1000, hls: 200, pipes: 300 });
    expect(cost.usdPerGb).toBe(0.02);
    expect(cost.egress()).toEqual({ bytes: 1500, usd: (1500 / 1e9) * 0.02 });
    void ledger.close();
  });

  it('adds its deltas to the real ledger; a restarted node adds on top; a failed flush keeps its bytes', async () => {
    const cluster = 'cost-node-2';
    const ledger = new CostLedger({ redis: redis.url, cluster });
    const egress = fakeEgress(1000, [['asia', 100]]);
    const first = new NodeCost({ region: 'eu', egress, ledger, prices, flushMs: 60_000, log: silent });
    await first.flush();
    egress.viewers = 1500;
    await first.close();
    expect(egress.sampled).toBe(1);
    expect((await ledger.read()).regions.get('eu')).toEqual({ webrtc: 1500, hls: 0, pipes: 100 });

    // The restart: a new process, its own counters from zero.
    let failing = true;
    const flaky = {
      add: (d: Parameters<CostLedger['add']>[0]) => (failing ? Promise.reject(new Error('redis down')) : ledger.add(d)),
    };
    const restarted = fakeEgress(40, []);
    const second = new NodeCost({
      region: 'eu',
      egress: restarted,
      ledger: flaky,
      prices,
      flushMs: 60_000,
      log: silent,
    });
    second.countHls(60);
    await second.flush();
    expect((await ledger.read()).regions.get('eu')).toEqual({ webrtc: 1500, hls: 0, pipes: 100 });
    failing = false;
    await second.flush();
    expect((await ledger.read()).regions.get('eu')).toEqual({ webrtc: 1540, hls: 60, pipes: 100 });
    // Nothing new: nothing added twice.
    await second.flush();
    expect((await ledger.read()).regions.get('eu')).toEqual({ webrtc: 1540, hls: 60, pipes: 100 });
    await ledger.close();
  });
});

describe('HLS bytes on the wire', () => {
  it('counts each response’s bytes as the socket wrote them, once, and only the scope’s routes', async () => {
    const app = Fastify();
    let counted = 0;
    const body = Buffer.alloc(150_000, 7);
    await app.register(async (scope) => {
      countResponseBytes(scope, (n) => {
        counted += n;
      });
      scope.get('/hls/seg', async (_req, reply) => reply.type('video/iso.segment').send(body));
      scope.get('/hls/playlist', async () => '#EXTM3U\n');
    });
    app.get('/other', async () => 'x'.repeat(10_000));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    // One keep-alive connection for everything, as a player uses.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path, agent }, (res) => {
            let n = 0;
            res.on('data', (c: Buffer) => {
              n += c.length;
            });
            res.on('end', () => resolve(n));
          })
          .on('error', reject);
      });
    let fetched = 0;
    for (const path of ['/hls/seg', '/other', '/hls/playlist', '/hls/seg', '/other']) {
      const n = await get(path);
      if (path.startsWith('/hls')) fetched += n;
    }
    agent.destroy();
    await app.close();
    expect(fetched).toBe(2 * body.length + 8);
    // Bodies plus three responses' headers (a few hundred bytes each), and nothing of /other.
    expect(counted).toBeGreaterThan(fetched);
    expect(counted).toBeLessThan(fetched + 3 * 400);
  });
});

describe('GET /api/v1/cost, POST /api/v1/cost/reset', () => {
  let app: FastifyInstance;
  let ledger: CostLedger;
  let admin: string;
  let viewer: string;
  let metrics: string;
  beforeAll(async () => {
    [admin, viewer, metrics] = await Promise.all([
      signToken(SECRET, { role: 'admin', stream: '*', ttl: '1h' }),
      signToken(SECRET, { role: 'viewer', stream: '*', ttl: '1h' }),
      signToken(SECRET, { role: 'metrics', stream: '*', ttl: '1h' }),
    ]);
    ledger = new CostLedger({ redis: redis.url, cluster: 'cost-routes' });
    app = Fastify();
    useZodSchemas(app);
    await collectOpenApi(app, 'test');
    await app.register(async (scope) =>
      registerCost(scope, {
        tokenSecret: SECRET,
        ledger,
        prices: { regionUsdPerGb: { eu: 0.02, asia: 0.09 }, defaultUsdPerGb: 0.05, cdnUsdPerGb: 0.085 },
      }),
    );
    await serveOpenApi(app, SECRET);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await ledger?.close();
  });
  const call = (method: 'GET' | 'POST', url: string, token?: string) =>
    app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('401 without a token, 403 with a viewer or metrics token, as problem+json', async () => {
    for (const [method, url] of [
      ['GET', '/api/v1/cost'],
      ['POST', '/api/v1/cost/reset'],
    ] as const) {
      const none = await call(method, url);
      expect(none.statusCode).toBe(401);
      expect(none.headers['content-type']).toContain('application/problem+json');
      expect((await call(method, url, viewer)).statusCode).toBe(403);
      expect((await call(method, url, metrics)).statusCode).toBe(403);
    }
    expect((await call('GET', '/api/v1/cost?token=a&token=b', admin)).statusCode).toBe(400);
  });

  it('answers the ledger’s bytes priced per region, beside the CDN’s price; reset starts again', async () => {
    await ledger.add(
      new Map([
        ['eu', { webrtc: 2e9, pipes: 1e9 }],
        ['asia', { webrtc: 1e9, hls: 1e9 }],
        ['sa', { hls: 1e9 }],
      ]),
    );
    const res = await call('GET', '/api/v1/cost', admin);
    expect(res.statusCode).toBe(200);
    const cost = CostResponse.parse(res.json());
    expect(cost.regions.map((r) => [r.region, r.usdPerGb])).toEqual([
      ['asia', 0.09],
      ['eu', 0.02],
      ['sa', 0.05],
    ]);
    expect(cost.total.usd).toBeCloseTo(3 * 0.02 + 2 * 0.09 + 0.05, 10);
    expect(cost.total.cdnUsd).toBeCloseTo(5 * 0.085, 10);
    const reset = await call('POST', '/api/v1/cost/reset', admin);
    expect(reset.statusCode).toBe(200);
    const { since } = reset.json() as { since: number };
    const after = CostResponse.parse((await call('GET', '/api/v1/cost', admin)).json());
    expect(after).toMatchObject({ since, regions: [], total: { usd: 0, cdnUsd: 0 } });
  });

  it('a ledger that cannot be reached is 503 + Retry-After, never a crash', async () => {
    const down = Fastify();
    useZodSchemas(down);
    const unreachable = () => Promise.reject(new Error('redis unavailable'));
    await down.register(async (scope) =>
      registerCost(scope, {
        tokenSecret: SECRET,
        ledger: { read: unreachable, reset: unreachable },
        prices: { regionUsdPerGb: {}, defaultUsdPerGb: 0.05, cdnUsdPerGb: 0.085 },
        flushLocal: async () => undefined,
      }),
    );
    for (const [method, url] of [
      ['GET', '/api/v1/cost'],
      ['POST', '/api/v1/cost/reset'],
    ] as const) {
      const res = await down.inject({ method, url, headers: { authorization: `Bearer ${admin}` } });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect((res.json() as { detail: string }).detail).toMatch(/cost ledger unavailable: redis unavailable/);
    }
    await down.close();
  });

  it('is in the OpenAPI document, which swagger-parser validates', async () => {
    const doc = (await call('GET', OPENAPI_PATH, admin)).json() as { paths: Record<string, Record<string, unknown>> };
    await SwaggerParser.validate(structuredClone(doc) as never);
    expect(Object.keys(doc.paths['/api/v1/cost'] ?? {})).toContain('get');
    expect(Object.keys(doc.paths['/api/v1/cost/reset'] ?? {})).toContain('post');
  });
});
