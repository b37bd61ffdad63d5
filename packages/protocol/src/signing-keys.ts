import { z } from 'zod';
import { SigningKeyInfo } from './ops.ts';

/*
 * Token signing keys (issue 17 item 5). Every token names the key that
 * signed it in its protected header (`kid`); a node accepts a token when that
 * key is in its ring and not retired. The bootstrap key is the configured
 * MM_TOKEN_SECRET: it always has kid `k0`, and a token without a kid (every
 * token issued before rotation existed) is taken as signed by it.
 */

/** The kid of the configured MM_TOKEN_SECRET. */
export const BOOTSTRAP_KID = 'k0';

/** A kid as the API accepts it: `k0`, `k1`, … (letters, digits, `-`, `_`; short). */
export const KeyId = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'a key id is 1-32 letters, digits, - or _');

/** A key that signs: its id and its secret (at least 16 characters). */
export interface SigningKey {
  kid: string;
  secret: string;
}

/**
 * What signs and verifies tokens. `signing()` is the key new tokens get;
 * `verifying(kid)` the secret of an accepted key, undefined when the key is
 * unknown or retired. Both are memory lookups: a node verifies a token on
 * every request and must not wait on Redis for it.
 */
export interface TokenKeyRing {
  signing(): SigningKey;
  verifying(kid: string): string | undefined;
}

/**
 * What the token codec takes: a ring, one key with its kid, or a plain
 * secret (a one-key ring that signs without a kid — read as `k0` — and
 * checks any token's signature against that secret).
 */
export type TokenKeys = TokenKeyRing | SigningKey | string;

export const KeyParams = z.object({ kid: KeyId });

/** `POST /api/v1/keys/rotate`: the new signing key, and its secret — shown this once, never again. */
export const RotateKeyResponse = z.object({
  key: SigningKeyInfo,
  /** For issuers outside the mesh (set it with the kid as MM_TOKEN_SECRET + MM_TOKEN_KID). */
  secret: z.string(),
  /** Nodes that confirmed they reloaded the ring (the others reload within MM_KEYS_REFRESH_MS). */
  nodesReloaded: z.number().int().min(0),
});
export type RotateKeyResponse = z.infer<typeof RotateKeyResponse>;

/** `POST /api/v1/keys/:kid/retire`: the key, now refused everywhere. */
export const RetireKeyResponse = z.object({
  key: SigningKeyInfo,
  nodesReloaded: z.number().int().min(0),
});
export type RetireKeyResponse = z.infer<typeof RetireKeyResponse>;
