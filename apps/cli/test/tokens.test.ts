import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  findRepoRoot,
  loadDevSecret,
  parseTtl,
  resolveSecret,
  SecretError,
  signToken,
  TokenError,
  verifyToken,
} from '../src/tokens.ts';

/*
 * The codec itself lives in @matchmesh/protocol; these tests pin down what
 * the CLI relies on: what it signs verifies with the same secret only, carries
 * the role claims, and expires.
 */

const SECRET = 'unit-test-secret-0123456789';

async function reasonOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e instanceof TokenError ? e.reason : `not a TokenError: ${String(e)}`),
  );
}

afterEach(() => {
  vi.useRealTimers();
});

describe('tokens', () => {
  it('sign → verify round trip keeps role claims; iss/aud/iat/exp set', async () => {
    const token = await signToken(SECRET, {
      role: 'publisher',
      stream: 'final',
      sub: 'origin-1',
      backup: true,
      ttl: '2h',
    });
    expect(await verifyToken(SECRET, token)).toEqual({
      role: 'publisher',
      stream: 'final',
      sub: 'origin-1',
      backup: true,
    });
    const raw = decodeJwt(token);
    expect(raw).toMatchObject({ iss: 'matchmesh', aud: 'matchmesh', role: 'publisher' });
    expect((raw.exp ?? 0) - (raw.iat ?? 0)).toBe(7200);

    expect(await verifyToken(SECRET, await signToken(SECRET, { role: 'viewer', stream: 'final' }))).toEqual({
      role: 'viewer',
      stream: 'final',
    });
    expect((await verifyToken(SECRET, await signToken(SECRET, { role: 'admin', stream: '*' }))).role).toBe('admin');
  });

  it('a wrong secret fails verification', async () => {
    const token = await signToken(SECRET, { role: 'admin', stream: '*' });
    expect(await reasonOf(verifyToken('another-secret-0123456789', token))).toBe('invalid');
  });

  it('an expired token fails with reason expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 3600_000);
    const token = await signToken(SECRET, { role: 'viewer', stream: 's', ttl: 60 });
    expect(await reasonOf(verifyToken(SECRET, token))).toBe('ok');
    vi.useRealTimers();
    expect(await reasonOf(verifyToken(SECRET, token))).toBe('expired');
  });

  it('rejects foreign issuer, bad role claims, tampering, alg none, garbage', async () => {
    const key = new TextEncoder().encode(SECRET);
    const foreign = await new SignJWT({ role: 'admin', stream: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('someone-else')
      .setAudience('matchmesh')
      .setExpirationTime('1h')
      .sign(key);
    expect(await reasonOf(verifyToken(SECRET, foreign))).toBe('invalid');

    const badRole = await new SignJWT({ role: 'king', stream: '*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('matchmesh')
      .setAudience('matchmesh')
      .setExpirationTime('1h')
      .sign(key);
    expect(await reasonOf(verifyToken(SECRET, badRole))).toBe('invalid');

    const good = await signToken(SECRET, { role: 'viewer', stream: 's' });
    const [h, p, s] = good.split('.');
    const elevated = Buffer.from(JSON.stringify({ ...decodeJwt(good), role: 'admin' })).toString('base64url');
    expect(await reasonOf(verifyToken(SECRET, `${h}.${elevated}.${s}`))).toBe('invalid');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    expect(await reasonOf(verifyToken(SECRET, none))).toBe('invalid');
    expect(await reasonOf(verifyToken(SECRET, 'garbage'))).toBe('invalid');
    expect(await reasonOf(verifyToken(SECRET, undefined))).toBe('missing');
  });

  it('parseTtl', () => {
    expect(parseTtl('90')).toBe(90);
    expect(parseTtl('15m')).toBe(900);
    expect(parseTtl('1h')).toBe(3600);
    expect(parseTtl('7d')).toBe(604800);
    for (const bad of ['0', '-1h', '1w', 'soon', '']) expect(() => parseTtl(bad)).toThrow(RangeError);
  });

  it('loadDevSecret / resolveSecret / findRepoRoot', () => {
    const root = mkdtempSync(join(tmpdir(), 'mm-cli-'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ workspaces: ['apps/*'] }));
    mkdirSync(join(root, 'apps', 'cli'), { recursive: true });
    expect(findRepoRoot(join(root, 'apps', 'cli'))).toBe(root);

    expect(() => loadDevSecret(root)).toThrow(SecretError);
    expect(() => loadDevSecret(root)).toThrow(/npm run setup/);
    mkdirSync(join(root, '.matchmesh'));
    writeFileSync(join(root, '.matchmesh', 'secret'), `${SECRET}\n`);
    expect(loadDevSecret(root)).toBe(SECRET);
    expect(resolveSecret({}, root)).toBe(SECRET);
    expect(resolveSecret({ MM_TOKEN_SECRET: 'from-env-0123456789abc' }, root)).toBe('from-env-0123456789abc');
    expect(() => resolveSecret({ MM_TOKEN_SECRET: 'short' }, root)).toThrow(/at least 16/);
    const other = join(root, 'other-secret');
    writeFileSync(other, 'file-secret-0123456789\n');
    expect(resolveSecret({ MM_TOKEN_SECRET_FILE: other }, '/nonexistent')).toBe('file-secret-0123456789');
  });
});
