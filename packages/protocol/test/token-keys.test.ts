import { decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP_KID, signToken, type TokenKeyRing, verifyToken } from '../src/index.ts';

const bootstrap = 'bootstrap-secret-0123456789';
const fresh = 'fresh-secret-abcdefghijklmnop';

/** A ring as a node holds it: `k1` signs, `k0` still verifies unless retired. */
function ring(retired: string[] = []): TokenKeyRing {
  const secrets = new Map([
    [BOOTSTRAP_KID, bootstrap],
    ['k1', fresh],
  ]);
  return {
    signing: () => ({ kid: 'k1', secret: fresh }),
    verifying: (kid) => (retired.includes(kid) ? undefined : secrets.get(kid)),
  };
}

const viewer = { role: 'viewer', stream: 'final' } as const;

describe('token codec with signing keys', () => {
  it('puts the signing key id in the protected header', async () => {
    const token = await signToken(ring(), viewer);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'HS256', kid: 'k1' });
    expect(await verifyToken(ring(), token)).toMatchObject(viewer);
  });

  it('signs without a kid from a plain secret, and a ring reads that as the bootstrap key', async () => {
    const token = await signToken(bootstrap, viewer);
    expect(decodeProtectedHeader(token).kid).toBeUndefined();
    expect(await verifyToken(ring(), token)).toMatchObject(viewer);
    await expect(verifyToken(ring([BOOTSTRAP_KID]), token)).rejects.toMatchObject({ reason: 'invalid' });
  });

  it('accepts an old and a new key side by side, refuses a retired one', async () => {
    const old = await signToken({ kid: BOOTSTRAP_KID, secret: bootstrap }, viewer);
    const young = await signToken(ring(), viewer);
    expect(await verifyToken(ring(), old)).toMatchObject(viewer);
    expect(await verifyToken(ring(), young)).toMatchObject(viewer);
    await expect(verifyToken(ring([BOOTSTRAP_KID]), old)).rejects.toThrow(
      'token signing key "k0" is unknown or retired',
    );
    expect(await verifyToken(ring([BOOTSTRAP_KID]), young)).toMatchObject(viewer);
  });

  it('refuses an unknown kid, and a known kid with the wrong secret', async () => {
    await expect(verifyToken(ring(), await signToken({ kid: 'k9', secret: fresh }, viewer))).rejects.toThrow(
      'token signing key "k9" is unknown or retired',
    );
    // Claims to be k1 but signed with the bootstrap secret: the signature decides.
    await expect(verifyToken(ring(), await signToken({ kid: 'k1', secret: bootstrap }, viewer))).rejects.toThrow(
      'token is invalid',
    );
  });

  it('keeps a plain secret working for any kid it signed (the one-key ring of existing callers)', async () => {
    expect(await verifyToken(fresh, await signToken(ring(), viewer))).toMatchObject(viewer);
    await expect(verifyToken(bootstrap, await signToken(ring(), viewer))).rejects.toMatchObject({ reason: 'invalid' });
    await expect(verifyToken(ring(), 'not.a.jwt')).rejects.toMatchObject({ reason: 'invalid' });
  });
});
