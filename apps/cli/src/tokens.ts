import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { KeyId, type SigningKey, signToken, type TokenClaims, TokenError, verifyToken } from '@matchmesh/protocol';

export type { TokenClaims };
/*
 * Token helpers of the CLI. Signing and verifying themselves live in
 * @matchmesh/protocol (token-codec.ts), the exact code the node verifies
 * with, so a CLI token can never be "valid here, invalid there". This module
 * adds what only an operator's tool needs: finding the secret and reading
 * human TTLs.
 */
export { signToken, TokenError, verifyToken };

/** Same minimum as the codec and the node's config. */
export const MIN_SECRET_LENGTH = 16;

/** Where `npm run setup` writes the dev secret, relative to the repo root (git-ignored). */
export const DEV_SECRET_PATH = '.matchmesh/secret';

/** No usable secret; the message says what to do. */
export class SecretError extends Error {
  override readonly name = 'SecretError';
}

const TTL = /^(\d+)(s|m|h|d)?$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** "90" / "90s" / "15m" / "1h" / "7d" → seconds; RangeError on anything else or 0. */
export function parseTtl(ttl: string): number {
  const m = TTL.exec(ttl.trim());
  const seconds = m ? Number(m[1]) * UNIT_SECONDS[(m[2] ?? 's') as keyof typeof UNIT_SECONDS] : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new RangeError(`invalid ttl ${JSON.stringify(ttl)}: use e.g. 90s, 15m, 1h, 7d`);
  }
  return seconds;
}

function readSecretFile(path: string): string {
  let secret: string;
  try {
    secret = readFileSync(path, 'utf8').trim();
  } catch {
    throw new SecretError(`no token secret: set MM_TOKEN_SECRET, or run \`npm run setup\` to generate ${path}`);
  }
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new SecretError(
      `${path} holds fewer than ${MIN_SECRET_LENGTH} characters; delete it and run \`npm run setup\``,
    );
  }
  return secret;
}

/** The dev secret the set-up script generated in `<repoRoot>/.matchmesh/secret` (trimmed). */
export function loadDevSecret(repoRoot: string): string {
  return readSecretFile(join(repoRoot, DEV_SECRET_PATH));
}

/**
 * The token secret the way the node finds it (apps/node/src/config.ts):
 * MM_TOKEN_SECRET as is, else the file MM_TOKEN_SECRET_FILE, else the dev
 * secret file.
 */
export function resolveSecret(env: Record<string, string | undefined>, repoRoot: string): string {
  const fromEnv = env.MM_TOKEN_SECRET;
  if (fromEnv) {
    if (fromEnv.length < MIN_SECRET_LENGTH) {
      throw new SecretError(`MM_TOKEN_SECRET must be at least ${MIN_SECRET_LENGTH} characters`);
    }
    return fromEnv;
  }
  if (env.MM_TOKEN_SECRET_FILE) {
    const file = env.MM_TOKEN_SECRET_FILE;
    return readSecretFile(isAbsolute(file) ? file : resolve(file));
  }
  return loadDevSecret(repoRoot);
}

/** The nearest directory at or above `from` whose package.json declares workspaces. */
export function findRepoRoot(from: string): string | null {
  let dir = from;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).workspaces) return dir;
      } catch {
        // unreadable package.json: keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/**
 * The key the CLI signs with: the secret (as resolveSecret finds it), named
 * by MM_TOKEN_KID when set — a rotated key's kid and secret from
 * `matchmesh keys rotate`. Without MM_TOKEN_KID the token has no kid: the
 * nodes read it as the bootstrap key k0 (MM_TOKEN_SECRET of the nodes).
 */
export function resolveSigningKey(env: Record<string, string | undefined>, repoRoot: string): string | SigningKey {
  const secret = resolveSecret(env, repoRoot);
  const kid = env.MM_TOKEN_KID?.trim();
  if (!kid) return secret;
  if (!KeyId.safeParse(kid).success) {
    throw new SecretError(`MM_TOKEN_KID ${JSON.stringify(kid)} is not a key id (e.g. k1; see \`matchmesh keys list\`)`);
  }
  return { kid, secret };
}
