import { decodeJwt, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  ONCE_TOKEN_REFUSED,
  renewDelayMs,
  SessionCredential,
  signToken,
  verifyToken,
  verifyTokenExpiry,
} from '../src/index.ts';

const SECRET = 'session-claims-secret-0123456789';

describe('single-use and session-credential claims', () => {
  it('carries once and jti, and refuses a single-use token unless the exchange asks for it', async () => {
    const once = await signToken(SECRET, { role: 'viewer', stream: 'final', once: true, jti: 'j-0123456789', ttl: 60 });
    expect(decodeJwt(once)).toMatchObject({ once: true, jti: 'j-0123456789' });
    await expect(verifyToken(SECRET, once)).rejects.toMatchObject({ reason: 'invalid', message: ONCE_TOKEN_REFUSED });
    const { claims, exp } = await verifyTokenExpiry(SECRET, once, { allowOnce: true });
    expect(claims).toEqual({ role: 'viewer', stream: 'final', once: true, jti: 'j-0123456789' });
    expect(exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(55);
  });

  it('will not sign a single-use token without a jti (it could not be recorded)', async () => {
    await expect(signToken(SECRET, { role: 'viewer', stream: 'final', once: true })).rejects.toThrow(/jti/);
  });

  it('round-trips a session credential and leaves unset claims out of the JWT', async () => {
    const until = Math.floor(Date.now() / 1000) + 3600;
    const token = await signToken(SECRET, {
      role: 'commentator',
      stream: 'final',
      sub: 's-1',
      ses: true,
      until,
      ttl: 20,
    });
    expect(await verifyToken(SECRET, token)).toEqual({
      role: 'commentator',
      stream: 'final',
      sub: 's-1',
      ses: true,
      until,
    });
    const plain = decodeJwt(await signToken(SECRET, { role: 'viewer', stream: 'final' }));
    expect(Object.keys(plain).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'role', 'stream']);
  });

  it("refuses a token whose markers are not the codec's, or that never expires", async () => {
    const sign = (payload: Record<string, unknown>, exp = true) => {
      const jwt = new SignJWT(payload)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('matchmesh')
        .setAudience('matchmesh');
      return (exp ? jwt.setExpirationTime('1h') : jwt).sign(new TextEncoder().encode(SECRET));
    };
    // `once: false` would otherwise read as "not single-use" to a careless check.
    await expect(verifyToken(SECRET, await sign({ role: 'viewer', stream: 'f', once: false }))).rejects.toMatchObject({
      reason: 'invalid',
    });
    await expect(verifyToken(SECRET, await sign({ role: 'viewer', stream: 'f', ses: 'yes' }))).rejects.toMatchObject({
      reason: 'invalid',
    });
    await expect(verifyToken(SECRET, await sign({ role: 'viewer', stream: 'f' }, false))).rejects.toMatchObject({
      reason: 'invalid',
    });
    expect(SessionCredential.safeParse({ token: 'x', sessionId: 's', role: 'viewer', stream: 'f' }).success).toBe(
      false,
    );
  });

  it('renews at two thirds of the remaining life, never sooner than a second', () => {
    expect(renewDelayMs({ expiresAt: 30_000 }, 0)).toBe(20_000);
    expect(renewDelayMs({ expiresAt: 600_000 }, 0)).toBe(400_000);
    expect(renewDelayMs({ expiresAt: 100 }, 0)).toBe(1_000);
  });
});
