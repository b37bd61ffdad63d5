import { OnceTokenStore } from '@matchmesh/cluster';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import {
  PROBLEM_CONTENT_TYPE,
  SESSION_PATH,
  SessionCredential,
  type SignOptions,
  signToken,
  verifyToken,
} from '@matchmesh/protocol';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorize } from '../src/http/auth.ts';
import { collectOpenApi, OPENAPI_PATH, serveOpenApi } from '../src/http/openapi.ts';
import { useZodSchemas } from '../src/http/schemas.ts';
import { registerSession } from '../src/routes/session.ts';

/**
 * POST /api/v1/session on a real Fastify (the node's schemas and error
 * handler) with a real OnceTokenStore on a real redis-server: the exchange,
 * renewal and its bound, single-use tokens (409 the second time, 503 when
 * Redis cannot say), 401/403, and a once-token refused by the other routes.
 */
const SECRET = 'session-route-test-secret-0123456789';
const TTL_S = 20;
let redis: RedisServer;
let downRedis: RedisServer;
let app: FastifyInstance;
let downApp: FastifyInstance;
const stores: OnceTokenStore[] = [];
let jtiSeq = 0;

async function build(redisUrl: string): Promise<FastifyInstance> {
  const onceTokens = new OnceTokenStore({ redis: redisUrl, cluster: `sr${process.pid}` });
  stores.push(onceTokens);
  const a = Fastify();
  useZodSchemas(a);
  await collectOpenApi(a, 'test');
  await registerSession(a, {
    tokenSecret: SECRET,
    onceTokens: () => onceTokens,
    ttlS: TTL_S,
    nodeId: 'eu-1',
    log: pino({ level: 'silent' }),
    // A registry that knows the stream 'match' only, and cannot be read for 'redis-down'.
    bootstrap: async (stream) => {
      if (stream === 'redis-down') throw new Error('cluster coordination (Redis) is unavailable');
      return { stream, regions: [{ region: 'eu', nodes: [] }], guess: 'eu', score: null };
    },
  });
  // Any other route: the single-use token must not work on it.
  a.get('/watch-something', async (request) => {
    await authorize(SECRET, request, 'viewer', 'match');
    return { ok: true };
  });
  await serveOpenApi(a, SECRET);
  await a.ready();
  return a;
}

beforeAll(async () => {
  [redis, downRedis] = await Promise.all([startRedisServer(), startRedisServer()]);
  [app, downApp] = await Promise.all([build(redis.url), build(downRedis.url)]);
});
afterAll(async () => {
  await Promise.all([app?.close(), downApp?.close()]);
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all([redis?.stop(), downRedis?.stop()]);
});

const mint = (opts: Partial<SignOptions> = {}) =>
  signToken(SECRET, { role: 'viewer', stream: 'match', ttl: '1h', ...opts });
const mintOnce = (opts: Partial<SignOptions> = {}) => mint({ once: true, jti: `jti-route-${++jtiSeq}-0000`, ...opts });

function exchange(token: string | undefined, target = app) {
  return target.inject({
    method: 'POST',
    url: SESSION_PATH,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

describe('POST /api/v1/session', () => {
  it('exchanges a viewer URL token for a short-lived credential of the same role and stream', async () => {
    const before = Date.now();
    const res = await exchange(await mint({ sub: 'fan-7' }));
    expect(res.statusCode).toBe(200);
    const body = SessionCredential.parse(res.json());
    expect(body).toMatchObject({ role: 'viewer', stream: 'match' });
    expect(body.sessionId).toMatch(/^s-/);
    expect(body.expiresAt - before).toBeGreaterThan((TTL_S - 2) * 1000);
    expect(body.expiresAt - before).toBeLessThanOrEqual((TTL_S + 1) * 1000);
    expect(body.renewableUntil - before).toBeGreaterThan(3500 * 1000);
    const claims = await verifyToken(SECRET, body.token);
    expect(claims).toEqual({
      role: 'viewer',
      stream: 'match',
      sub: body.sessionId,
      ses: true,
      until: body.renewableUntil / 1000,
    });
    // It works where the URL token did.
    const use = await app.inject({ url: '/watch-something', headers: { authorization: `Bearer ${body.token}` } });
    expect(use.statusCode).toBe(200);
  });

  it("carries a commentator's booth language and name (the URL token's sub) into the credential and its renewals", async () => {
    const res = await exchange(await mint({ role: 'commentator', lang: 'es', sub: 'Sol' }));
    const body = SessionCredential.parse(res.json());
    const claims = await verifyToken(SECRET, body.token);
    expect(claims).toMatchObject({ role: 'commentator', lang: 'es', name: 'Sol', sub: body.sessionId });
    const renewed = SessionCredential.parse((await exchange(body.token)).json());
    expect(await verifyToken(SECRET, renewed.token)).toMatchObject({ name: 'Sol', sub: body.sessionId });
    // A viewer's holder stays out of the credential (only the booth shows names).
    const viewer = SessionCredential.parse((await exchange(await mint({ sub: 'fan-7' }))).json());
    expect((await verifyToken(SECRET, viewer.token)).name).toBeUndefined();
  });

  it('renews a session credential under the same session id, never past the URL token expiry', async () => {
    // A URL token with 8 s left: the credential cannot outlive it, however often it is renewed.
    const first = SessionCredential.parse((await exchange(await mint({ ttl: 8 }))).json());
    expect(first.expiresAt).toBe(first.renewableUntil);
    const renewed = await exchange(first.token);
    expect(renewed.statusCode).toBe(200);
    const second = SessionCredential.parse(renewed.json());
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.renewableUntil).toBe(first.renewableUntil);
    expect(second.expiresAt).toBeLessThanOrEqual(first.renewableUntil);

    const long = SessionCredential.parse((await exchange(await mint())).json());
    const longRenewed = SessionCredential.parse((await exchange(long.token)).json());
    expect(longRenewed.sessionId).toBe(long.sessionId);
    expect(longRenewed.expiresAt).toBeGreaterThanOrEqual(long.expiresAt);
  });

  it('exchanges a single-use token once: a second exchange is 409 with a clear detail', async () => {
    const once = await mintOnce();
    const first = await exchange(once);
    expect(first.statusCode).toBe(200);
    const second = await exchange(once);
    expect(second.statusCode).toBe(409);
    expect(second.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
    expect(second.json().detail).toMatch(/already exchanged/);
    // The session it opened renews normally (the credential itself is not single-use).
    expect((await exchange(SessionCredential.parse(first.json()).token)).statusCode).toBe(200);
  });

  it('refuses a single-use token anywhere but the exchange (401), so it stays single-use', async () => {
    const res = await app.inject({ url: '/watch-something', headers: { authorization: `Bearer ${await mintOnce()}` } });
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/single-use token must first be exchanged/);
  });

  it('fails closed with 503 and Retry-After when Redis cannot record the use', async () => {
    expect((await exchange(await mintOnce(), downApp)).statusCode).toBe(200);
    await downRedis.stop();
    const res = await exchange(await mintOnce(), downApp);
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
    // A plain (multi-use) token needs no record: it is still exchanged.
    expect((await exchange(await mint(), downApp)).statusCode).toBe(200);
  });

  it('answers 401 without a token, with a token only in the query, or with a bad one', async () => {
    const missing = await exchange(undefined);
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    const inQuery = await app.inject({ method: 'POST', url: `${SESSION_PATH}?token=${await mint()}` });
    expect(inQuery.statusCode).toBe(401);
    expect((await exchange('not-a-jwt')).statusCode).toBe(401);
    const foreign = await signToken('another-secret-0123456789abcdef', { role: 'viewer', stream: 'match' });
    expect((await exchange(foreign)).statusCode).toBe(401);
    expect((await exchange(await mint({ ttl: -10 }))).statusCode).toBe(401);
  });

  it('answers 403 for roles that do not watch (publisher, admin, node)', async () => {
    for (const role of ['publisher', 'admin', 'node'] as const) {
      const res = await exchange(await mint({ role, stream: role === 'publisher' ? 'match' : '*' }));
      expect(res.statusCode, role).toBe(403);
      expect(res.json().detail).toMatch(/only viewer and commentator tokens/);
    }
  });

  it("answers the page's bootstrap with the credential, and the credential alone when it cannot", async () => {
    const ask = async (token: string, bootstrap: string) =>
      app.inject({
        method: 'POST',
        url: SESSION_PATH,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: { bootstrap },
      });
    const withIt = await ask(await mintOnce(), 'match');
    expect(withIt.statusCode).toBe(200);
    expect(SessionCredential.parse(withIt.json()).bootstrap).toMatchObject({ stream: 'match', guess: 'eu' });
    // A stream the token does not grant, a malformed name, Redis unable to say: the exchange still succeeds.
    for (const [stream, bootstrap] of [
      ['other', 'match'],
      ['match', '../etc'],
      ['redis-down', 'redis-down'],
    ] as const) {
      const res = await ask(await mint({ stream }), bootstrap);
      expect(res.statusCode, bootstrap).toBe(200);
      expect(res.json(), bootstrap).not.toHaveProperty('bootstrap');
    }
  });

  it('refuses a body that is not empty JSON (400) and documents the route in OpenAPI', async () => {
    const res = await app.inject({
      method: 'POST',
      url: SESSION_PATH,
      headers: { authorization: `Bearer ${await mint()}`, 'content-type': 'application/json' },
      payload: { stream: 'other' },
    });
    expect(res.statusCode).toBe(400);
    const admin = await signToken(SECRET, { role: 'admin', stream: '*' });
    const doc = await app.inject({ url: OPENAPI_PATH, headers: { authorization: `Bearer ${admin}` } });
    expect(doc.statusCode).toBe(200);
    expect(doc.json().paths[SESSION_PATH].post.responses['200']).toBeDefined();
  });
});
