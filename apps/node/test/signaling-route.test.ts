import type {} from '@fastify/websocket';
import { PROBLEM_CONTENT_TYPE, type Problem } from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { createHttpApp } from '../src/http/app.ts';
import type { PeerContext } from '../src/signaling/Peer.ts';
import { SignalingServer } from '../src/signaling/SignalingServer.ts';

/**
 * The `/ws` route checks its query like every other route (route-schemas.test):
 * a malformed one is a 400 problem naming the field, before the upgrade. The
 * app is the node's own (createHttpApp: the WebSocket plugin, zod schemas,
 * the one error handler); no peer gets as far as joining, so the peer context
 * holds no media and no cluster.
 */
let app: FastifyInstance;

beforeAll(async () => {
  const log = pino({ level: 'silent' });
  app = await createHttpApp(log);
  const ctx = { tokenSecret: 'signaling-route-test-secret-0123456789', nodeId: 'node-1', region: 'eu', log };
  await new SignalingServer(ctx as unknown as PeerContext).register(app);
  await app.ready();
});

afterAll(async () => {
  await app?.close();
});

/** The first message the socket receives, parsed. */
function nextMessage(socket: WebSocket): Promise<unknown> {
  return new Promise((resolve, reject) => {
    socket.once('message', (raw) => resolve(JSON.parse(String(raw))));
    socket.once('error', reject);
  });
}

describe('/ws query schema', () => {
  it('answers a malformed query with 400 application/problem+json naming the field', async () => {
    const res = await app.inject({ method: 'GET', url: '/ws?token=a&token=b' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
    const body = res.json() as Problem;
    expect(body.status).toBe(400);
    expect(body.title).toBe('Bad Request');
    expect(body.detail).toMatch(/^query\.token: /);
  });

  it('refuses the upgrade of a malformed query with that 400, before any socket opens', async () => {
    await expect(app.injectWS('/ws?token=a&token=b')).rejects.toThrow('Unexpected server response: 400');
  });

  it('answers a valid query without upgrade headers as before: 404, no body', async () => {
    for (const url of ['/ws', '/ws?token=abc', '/ws?other=1']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body, url).toBe('');
    }
  });

  it('upgrades a valid query, and the socket speaks signaling', async () => {
    const socket = await app.injectWS('/ws?token=abc');
    try {
      const reply = nextMessage(socket);
      socket.send(JSON.stringify({ id: 7, method: 'noSuchMethod', data: {} }));
      expect(await reply).toEqual({
        id: 7,
        ok: false,
        error: { code: 'unknown_method', message: 'unknown method "noSuchMethod"' },
      });
    } finally {
      socket.terminate();
    }
  });
});
