import { type BilliardsScore, PROBLEM_CONTENT_TYPE, Problem, ScoreUpdate } from '@matchmesh/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OriginAgent } from '../src/agent.ts';
import { buildApi } from '../src/api.ts';
import { quietLogger } from '../src/log.ts';

/*
 * The score API in front of an agent that is never started (no ffmpeg, no
 * WHIP): sendScore still assigns seq and queues, which is all the API sees.
 */

const TOKEN = 'api-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const score: BilliardsScore = {
  players: [
    { name: 'Lee', frames: 2, points: 4 },
    { name: 'Ortiz', frames: 1, points: 0 },
  ],
  raceTo: 9,
  frame: 4,
  atTable: 0,
  event: 'Pot: 4-ball (Lee)',
};

const agent = new OriginAgent({
  ingestUrl: 'http://127.0.0.1:9',
  stream: 'match',
  token: 'unused-publisher-token',
});
const app = buildApi(agent, { token: TOKEN, logger: quietLogger() });
beforeAll(() => app.ready());
afterAll(() => app.close());

function expectProblem(
  res: { statusCode: number; headers: Record<string, unknown>; body: string },
  status: number,
) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
  const body = JSON.parse(res.body);
  expect(Problem.safeParse(body).success).toBe(true);
  expect(body.status).toBe(status);
  return body as Problem & { issues?: Array<{ path: string; message: string }> };
}

describe('score API', () => {
  it('needs the bearer token', async () => {
    const none = await app.inject({ method: 'POST', url: '/scores', payload: { score } });
    expectProblem(none, 401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await app.inject({
      method: 'POST',
      url: '/scores',
      headers: { authorization: 'Bearer nope' },
      payload: { score },
    });
    expectProblem(wrong, 401);
    expectProblem(await app.inject({ method: 'GET', url: '/scores/latest' }), 401);
    expect(agent.stats.lastSeq).toBe(0);
  });

  it('has no score before the first POST', async () => {
    expectProblem(await app.inject({ method: 'GET', url: '/scores/latest', headers: auth }), 404);
  });

  it.each([
    ['empty body', {}],
    ['no players', { score: { ...score, players: undefined } }],
    ['one player', { score: { ...score, players: [score.players[0]] } }],
    ['atTable 2', { score: { ...score, atTable: 2 } }],
    [
      'negative points',
      { score: { ...score, players: [{ name: 'Lee', frames: 0, points: -1 }, score.players[1]] } },
    ],
    ['frame 0', { score: { ...score, frame: 0 } }],
    ['string mediaTime', { score, mediaTime: '12' }],
    ['negative mediaTime', { score, mediaTime: -5 }],
  ])('rejects %s with 400 problem+json', async (_name, payload) => {
    const res = await app.inject({ method: 'POST', url: '/scores', headers: auth, payload });
    const problem = expectProblem(res, 400);
    expect(problem.title).toBe('Invalid score');
    expect(problem.issues?.length).toBeGreaterThan(0);
    expect(agent.stats.lastSeq).toBe(0);
  });

  it('rejects malformed JSON with 400 problem+json', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/scores',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"score": ',
    });
    expectProblem(res, 400);
  });

  it('accepts a score, assigns seq, and serves it as latest', async () => {
    const a = await app.inject({ method: 'POST', url: '/scores', headers: auth, payload: { score } });
    expect(a.statusCode).toBe(202);
    const first = ScoreUpdate.parse(a.json());
    expect(first.seq).toBe(1);
    expect(first.stream).toBe('match');
    expect(first.score).toEqual(score);
    expect(first.mediaTime).toBe(0); // no video yet
    expect(Math.abs(first.sentAt - Date.now())).toBeLessThan(5000);

    const b = await app.inject({
      method: 'POST',
      url: '/scores',
      headers: auth,
      payload: { score, mediaTime: 1234.5 },
    });
    expect(b.statusCode).toBe(202);
    const second = ScoreUpdate.parse(b.json());
    expect(second.seq).toBe(2);
    expect(second.mediaTime).toBe(1234.5);

    const latest = await app.inject({ method: 'GET', url: '/scores/latest', headers: auth });
    expect(latest.statusCode).toBe(200);
    expect(latest.json()).toEqual(second);
    // Not connected: both wait in the queue.
    expect(agent.stats.queueLength).toBe(2);
  });

  it('serves health without auth and status with it', async () => {
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.json()).toEqual({ ok: true, connected: false });
    expectProblem(await app.inject({ method: 'GET', url: '/status' }), 401);
    const status = await app.inject({ method: 'GET', url: '/status', headers: auth });
    expect(status.json()).toMatchObject({ connected: false, lastSeq: 2 });
  });

  it('answers unknown routes with problem+json', async () => {
    expectProblem(await app.inject({ method: 'GET', url: '/nope' }), 404);
  });
});
