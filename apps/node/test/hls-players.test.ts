import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { HlsPlayers } from '../src/wiring/HlsPlayers.ts';

/** HLS viewers per stream: distinct players (token, address, user agent) answered in the last window. */
describe('HlsPlayers', () => {
  it('counts distinct players per stream within the window, and forgets the silent ones', () => {
    const players = new HlsPlayers(10_000);
    players.seen('match', 'p1', 0);
    players.seen('match', 'p1', 500);
    players.seen('match', 'p2', 1_000);
    players.seen('other', 'p3', 2_000);
    expect(players.counts(5_000)).toEqual({ match: 2, other: 1 });
    expect(players.counts(10_800)).toEqual({ match: 1, other: 1 });
    expect(players.counts(20_000)).toEqual({});
  });

  it('sees the player files the HLS routes answer, not failures nor other paths', async () => {
    const players = new HlsPlayers();
    const app = Fastify();
    await app.register(async (scope) => {
      players.watch(scope);
      scope.get('/hls/:stream/t/:token/:file', async (request, reply) =>
        (request.params as { token: string }).token === 'bad' ? reply.code(403).send() : 'ok',
      );
      scope.get('/hls/:stream/index.m3u8', async () => 'ok');
    });
    const get = (url: string, ua = 'chromium') => app.inject({ method: 'GET', url, headers: { 'user-agent': ua } });
    await get('/hls/match/t/tokA/index.m3u8');
    await get('/hls/match/t/tokA/part.m4s'); // the same player again
    await get('/hls/match/t/tokA/part.m4s', 'firefox'); // another browser with the same token
    await get('/hls/match/t/tokB/part.m4s');
    await get('/hls/match/t/bad/part.m4s'); // refused: not a player
    await get('/hls/match/index.m3u8?token=x'); // the entry playlist: every player passes here once, not counted
    await get('/hls/cup/t/tokA/part.m4s');
    expect(players.counts()).toEqual({ match: 3, cup: 1 });
    await app.close();
  });
});
