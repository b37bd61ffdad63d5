import type { SessionCredential } from '@matchmesh/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { withHlsToken } from '../src/HlsSession.ts';
import { SessionError, SessionKeeper } from '../src/SessionKeeper.ts';

/** A node's session route as the keeper sees it (a unit-test fake: what each POST answers, and who asked). */
function fakeNode(answers: (bearer: string, n: number) => { status: number; body: unknown }) {
  const bearers: string[] = [];
  const fetchImpl = vi.fn(async (url: URL | string, init?: RequestInit) => {
    expect(String(url)).toBe('http://node.test/api/v1/session');
    expect(init?.method).toBe('POST');
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const bearer = String(headers.authorization).replace(/^Bearer /, '');
    bearers.push(bearer);
    const { status, body } = answers(bearer, bearers.length);
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  });
  return { fetchImpl: fetchImpl as unknown as typeof fetch, bearers };
}

const credential = (token: string, lifeMs: number, untilMs = Date.now() + 3_600_000): SessionCredential => ({
  token,
  sessionId: 's-1',
  role: 'viewer',
  stream: 'final',
  expiresAt: Date.now() + lifeMs,
  renewableUntil: untilMs,
});

afterEach(() => {
  vi.useRealTimers();
});

describe('SessionKeeper', () => {
  it('exchanges the URL token, then renews with the credential at two thirds of its life', async () => {
    vi.useFakeTimers();
    const node = fakeNode((_b, n) => ({ status: 200, body: credential(`cred-${n}`, 30_000) }));
    const keeper = await SessionKeeper.open('http://node.test', 'url-token', node.fetchImpl);
    expect(keeper.token).toBe('cred-1');
    const renewed: string[] = [];
    keeper.on('renewed', (c) => renewed.push(c.token));
    await vi.advanceTimersByTimeAsync(19_000);
    expect(renewed).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_500);
    expect(renewed).toEqual(['cred-2']);
    expect(keeper.token).toBe('cred-2');
    // The URL token went out once; renewals present the credential they replace.
    expect(node.bearers).toEqual(['url-token', 'cred-1']);
    keeper.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(node.bearers).toHaveLength(2);
  });

  it('retries a failed renewal while the credential lives, and stops at the URL token expiry', async () => {
    vi.useFakeTimers();
    const node = fakeNode((_b, n) =>
      n === 2 ? { status: 503, body: { detail: 'busy' } } : { status: 200, body: credential(`cred-${n}`, 30_000) },
    );
    const keeper = await SessionKeeper.open('http://node.test', 'url-token', node.fetchImpl);
    const warnings: string[] = [];
    keeper.on('warning', (e) => warnings.push(e.message));
    await vi.advanceTimersByTimeAsync(20_100);
    expect(warnings).toEqual(['busy']);
    await vi.advanceTimersByTimeAsync(2_100);
    expect(keeper.token).toBe('cred-3');
    keeper.close();

    // A credential that already reaches the URL token's expiry is not renewed.
    const last = fakeNode(() => ({ status: 200, body: credential('only', 30_000, Date.now() + 30_000) }));
    const bounded = await SessionKeeper.open('http://node.test', 'url-token', last.fetchImpl);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(last.bearers).toEqual(['url-token']);
    bounded.close();
  });

  it('waits out a 503 at the exchange (Retry-After) and opens the session when the node can check again', async () => {
    vi.useFakeTimers();
    const node = fakeNode((_b, n) =>
      n < 3 ? { status: 503, body: { detail: 'cannot check' } } : { status: 200, body: credential('cred', 30_000) },
    );
    const opening = SessionKeeper.open('http://node.test', 'url-token', node.fetchImpl);
    await vi.advanceTimersByTimeAsync(4_100);
    const keeper = await opening;
    expect(keeper.token).toBe('cred');
    expect(node.bearers).toEqual(['url-token', 'url-token', 'url-token']);
    keeper.close();
  });

  it('rejects with the node status and detail (a spent single-use link says so)', async () => {
    const node = fakeNode(() => ({ status: 409, body: { detail: 'this single-use token was already exchanged' } }));
    const err = await SessionKeeper.open('http://node.test', 'url-token', node.fetchImpl).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionError);
    expect(err).toMatchObject({ status: 409, message: 'this single-use token was already exchanged' });
    const malformed = fakeNode(() => ({ status: 200, body: { token: 'x' } }));
    await expect(SessionKeeper.open('http://node.test', 'u', malformed.fetchImpl)).rejects.toThrow(/malformed/);
  });
});

describe('withHlsToken', () => {
  it('rewrites the token folder and the multivariant query, and nothing else', () => {
    expect(withHlsToken('http://n/hls/final/t/old.tok.en/r1/part-12.3.m4s?x=1', 'new.tok')).toBe(
      'http://n/hls/final/t/new.tok/r1/part-12.3.m4s?x=1',
    );
    expect(withHlsToken('http://n/hls/final/t/old/media.m3u8?_HLS_msn=4&_HLS_part=1', 'N')).toBe(
      'http://n/hls/final/t/N/media.m3u8?_HLS_msn=4&_HLS_part=1',
    );
    expect(withHlsToken('http://n/hls/final/index.m3u8?token=old&a=b', 'N')).toBe(
      'http://n/hls/final/index.m3u8?token=N&a=b',
    );
    expect(withHlsToken('http://n/other/path', 'N')).toBe('http://n/other/path');
  });
});
