import { BoothResponse, PROBLEM_CONTENT_TYPE, signToken } from '@matchmesh/protocol';
import type { MediaService } from '@matchmesh/sfu';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterLink } from '../src/cluster/ClusterLink.ts';
import { createHttpApp } from '../src/http/app.ts';
import { registerAdmin } from '../src/routes/admin.ts';
import type { SignalingServer } from '../src/signaling/SignalingServer.ts';

/**
 * `GET /api/v1/streams/:stream/booth` on the node's own HTTP app: the route's
 * auth, errors and shape, over a stand-in media service whose stream "match"
 * has a booth (en on air with one commentator, es lingering with none) and
 * whose stream "quiet" has no commentary. The real booth is the e2e test's.
 */
const SECRET = 'booth-route-test-secret-0123456789abcdef';
let app: FastifyInstance;
let admin: string;

const commentator = {
  id: '0f3c9a1e-aaaa-4bbb-8ccc-000000000001',
  lang: 'en',
  since: 1_700_000_000_000,
  levelDbov: -23,
  packets: 4500,
  packetsLost: 12,
  lossPercent: 0.8,
  rttMs: 41.5,
  jitter: 96,
  bitrate: 38_400,
};

beforeAll(async () => {
  admin = await signToken(SECRET, { role: 'admin', stream: '*', ttl: '1h' });
  const booth = {
    mixers: async () => [
      { lang: 'en', voices: 1 },
      { lang: 'es', voices: 0 },
    ],
    monitor: { commentators: async () => [commentator] },
  };
  const streams: Record<string, unknown> = { match: { booth }, quiet: { booth: undefined } };
  app = await createHttpApp(pino({ level: 'silent' }));
  await app.register(async (scope) =>
    registerAdmin(scope, {
      tokenSecret: SECRET,
      cluster: () => ({}) as unknown as ClusterLink,
      media: { stream: (id: string) => streams[id] } as unknown as MediaService,
      signaling: {} as SignalingServer,
      mesh: () => undefined,
      nodeId: 'ingest-eu',
    }),
  );
  await app.ready();
});

afterAll(async () => {
  await app?.close();
});

const get = (stream: string, token?: string) =>
  app.inject({
    method: 'GET',
    url: `/api/v1/streams/${stream}/booth`,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });

describe('GET /api/v1/streams/:stream/booth', () => {
  it('answers the languages on air and each commentator, in the documented shape', async () => {
    const res = await get('match', admin);
    expect(res.statusCode).toBe(200);
    expect(BoothResponse.parse(res.json())).toEqual({
      stream: 'match',
      nodeId: 'ingest-eu',
      languages: [
        { lang: 'en', commentators: 1 },
        { lang: 'es', commentators: 0 },
      ],
      commentators: [commentator],
    });
  });

  it('a stream without commentary: empty lists', async () => {
    const res = await get('quiet', admin);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ languages: [], commentators: [] });
  });

  it('401 without a token, 403 for a viewer, 404 for a stream not here, 400 for a malformed id — all problem+json', async () => {
    const viewer = await signToken(SECRET, { role: 'viewer', stream: 'match', ttl: '1h' });
    const cases = [
      [await get('match'), 401],
      [await get('match', viewer), 403],
      [await get('nosuch', admin), 404],
      [await get('bad%20id!', admin), 400],
    ] as const;
    for (const [res, status] of cases) {
      expect(res.statusCode).toBe(status);
      expect(res.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
    }
  });
});
