import SwaggerParser from '@apidevtools/swagger-parser';
import { SigningKeyRing, SigningKeyStore } from '@matchmesh/cluster';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { type NewOpsEvent, PROBLEM_CONTENT_TYPE, signToken } from '@matchmesh/protocol';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectOpenApi, OPENAPI_PATH, serveOpenApi } from '../src/http/openapi.ts';
import { useZodSchemas } from '../src/http/schemas.ts';
import { registerKeys } from '../src/routes/keys.ts';

/**
 * The signing keys' admin routes on a real Redis (store and ring as a node
 * wires them): list, rotate, retire with their refusals, the admin token on
 * every call, and the routes in a valid OpenAPI document.
 */
const BOOTSTRAP = 'keys-route-bootstrap-secret-0123';
let redis: RedisServer;
let store: SigningKeyStore;
let ring: SigningKeyRing;
let app: FastifyInstance;
let admin: string;
const events: NewOpsEvent[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  store = new SigningKeyStore({ redis: redis.url, cluster: 'keys-route', clusterSecret: 'keys-route-cluster-secret' });
  ring = new SigningKeyRing({ store, bootstrapSecret: BOOTSTRAP, refreshMs: 60_000 });
  await ring.start();
  admin = await signToken(BOOTSTRAP, { role: 'admin', stream: '*', ttl: '1h' });
  app = Fastify();
  useZodSchemas(app);
  await collectOpenApi(app, 'test');
  await app.register(async (scope) =>
    registerKeys(scope, {
      tokenSecret: ring,
      store,
      reloadEverywhere: async () => ((await ring.refresh()) ? 1 : 0),
      nodeId: 'node-1',
      region: 'eu',
      onKeyChange: (e) => events.push(e),
    }),
  );
  await serveOpenApi(app, ring);
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  ring?.close();
  await store?.close();
  await redis?.stop();
});

const call = (method: 'GET' | 'POST', url: string, token?: string) =>
  app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('signing keys API', () => {
  it('needs an admin token: 401 without one, 403 with another role', async () => {
    const viewer = await signToken(BOOTSTRAP, { role: 'viewer', stream: '*' });
    const metrics = await signToken(BOOTSTRAP, { role: 'metrics', stream: '*' });
    for (const [method, url] of [
      ['GET', '/api/v1/keys'],
      ['POST', '/api/v1/keys/rotate'],
      ['POST', '/api/v1/keys/k0/retire'],
    ] as const) {
      const none = await call(method, url);
      expect(none.statusCode, url).toBe(401);
      expect(none.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
      expect((await call(method, url, viewer)).statusCode, url).toBe(403);
      expect((await call(method, url, metrics)).statusCode, url).toBe(403);
    }
    expect(events).toEqual([]);
  });

  it('rotates, accepts old and new tokens, refuses retiring the signing key or an unknown one, retires the old', async () => {
    expect((await call('GET', '/api/v1/keys', admin)).json()).toMatchObject({
      keys: [{ kid: 'k0', state: 'signing' }],
    });

    const rotated = await call('POST', '/api/v1/keys/rotate', admin);
    expect(rotated.statusCode).toBe(200);
    expect(rotated.headers['cache-control']).toBe('no-store');
    const { key, secret, nodesReloaded } = rotated.json();
    expect(key).toMatchObject({ kid: 'k1', state: 'signing' });
    expect(nodesReloaded).toBe(1);
    expect(ring.signing()).toEqual({ kid: 'k1', secret });

    // An issuer outside the mesh signs with the new kid and secret; the old admin token still works.
    const fresh = await signToken({ kid: 'k1', secret }, { role: 'admin', stream: '*' });
    const listed = await call('GET', '/api/v1/keys', fresh);
    expect(listed.json().keys.map((k: { kid: string; state: string }) => `${k.kid}:${k.state}`)).toEqual([
      'k0:verify',
      'k1:signing',
    ]);
    expect(JSON.stringify(listed.json())).not.toContain(secret);
    expect((await call('GET', '/api/v1/keys', admin)).statusCode).toBe(200);

    const signing = await call('POST', '/api/v1/keys/k1/retire', admin);
    expect(signing.statusCode).toBe(409);
    expect(signing.json().detail).toContain('rotate first');
    expect((await call('POST', '/api/v1/keys/k9/retire', admin)).statusCode).toBe(404);
    const malformed = await call('POST', '/api/v1/keys/not%20a%20kid!/retire', admin);
    expect(malformed.statusCode).toBe(400);
    expect(malformed.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);

    const retired = await call('POST', '/api/v1/keys/k0/retire', fresh);
    expect(retired.statusCode).toBe(200);
    expect(retired.json()).toMatchObject({ key: { kid: 'k0', state: 'retired' }, nodesReloaded: 1 });
    // The bootstrap key's tokens (kid-less ones too) are refused from now on; the new key's are not.
    const refused = await call('GET', '/api/v1/keys', admin);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().detail).toContain('"k0" is unknown or retired');
    expect((await call('GET', '/api/v1/keys', fresh)).statusCode).toBe(200);

    expect(events.map((e) => [e.kind, e.nodeId, e.region])).toEqual([
      ['key-rotated', 'node-1', 'eu'],
      ['key-retired', 'node-1', 'eu'],
    ]);
  });

  it('is in a valid OpenAPI 3.1 document', async () => {
    const admin2 = await signToken(ring.signing(), { role: 'admin', stream: '*' });
    const doc = (await call('GET', OPENAPI_PATH, admin2)).json();
    await SwaggerParser.validate(structuredClone(doc));
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/keys', '/api/v1/keys/rotate', '/api/v1/keys/{kid}/retire']),
    );
  });
});
