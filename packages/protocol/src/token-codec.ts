import { decodeProtectedHeader, errors, jwtVerify, SignJWT } from 'jose';
import { BOOTSTRAP_KID, type SigningKey, type TokenKeys } from './signing-keys.ts';
import { ANY_STREAM, type Role, TOKEN_AUDIENCE, TOKEN_ISSUER, TokenClaims } from './tokens.ts';

/**
 * Signing and verifying matchmesh tokens (HS256 JWTs). Shared by the node
 * (verifies), the CLI and tests (sign), and the origin agent. jose runs in
 * Node and browsers alike.
 */

export type TokenFailure = 'missing' | 'invalid' | 'expired';

export class TokenError extends Error {
  readonly reason: TokenFailure;
  constructor(reason: TokenFailure, message: string) {
    super(message);
    this.name = 'TokenError';
    this.reason = reason;
  }
}

const encoder = new TextEncoder();

function key(secret: string): Uint8Array {
  if (secret.length < 16) throw new Error('token secret must be at least 16 characters');
  return encoder.encode(secret);
}

export interface SignOptions {
  role: Role;
  stream: string;
  /** Lifetime, as jose accepts it: '1h', '30m', or seconds. Default 12h. */
  ttl?: string | number;
  sub?: string;
  backup?: boolean;
  /** Commentators: the language of their booth (BCP 47). */
  lang?: string;
  /** Commentators' session credentials: the holder's name (the URL token's `sub`). */
  name?: string;
  /** Single-use URL token (needs `jti`): only exchanged for a session credential, once. */
  once?: boolean;
  jti?: string;
  /** A session credential, bounded by `until` (epoch s): expires at min(now + ttl, until). */
  ses?: boolean;
  until?: number;
}

/** The key new tokens get; a plain secret signs without a kid (verifiers read that as the bootstrap key). */
function signingKey(keys: TokenKeys): { kid: string | undefined; secret: string } {
  if (typeof keys === 'string') return { kid: undefined, secret: keys };
  if ('signing' in keys) return keys.signing();
  return keys;
}

/** The secret that must have signed a token naming `kid`; undefined when that key is not accepted. */
function verifyingSecret(keys: TokenKeys, kid: string): string | undefined {
  // A plain secret is checked against every token: the signature decides (the pre-rotation behaviour).
  if (typeof keys === 'string') return keys;
  if ('verifying' in keys) return keys.verifying(kid);
  return (keys as SigningKey).kid === kid ? keys.secret : undefined;
}

export async function signToken(keys: TokenKeys, opts: SignOptions): Promise<string> {
  const claims = TokenClaims.parse({
    role: opts.role,
    stream: opts.stream,
    sub: opts.sub,
    backup: opts.backup,
    lang: opts.lang,
    name: opts.name,
    jti: opts.jti,
    once: opts.once || undefined,
    ses: opts.ses || undefined,
    until: opts.until,
  });
  if (claims.once && !claims.jti) throw new Error('a single-use token needs a jti');
  const ttl = opts.ttl ?? '12h';
  const { kid, secret } = signingKey(keys);
  // Undefined optional claims are left out of the JWT (jose would keep them as keys).
  const payload = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  return new SignJWT(payload)
    .setProtectedHeader(kid === undefined ? { alg: 'HS256', typ: 'JWT' } : { alg: 'HS256', typ: 'JWT', kid })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(typeof ttl === 'number' ? Math.floor(Date.now() / 1000) + ttl : ttl)
    .sign(key(secret));
}

export interface VerifyOptions {
  /**
   * Accept a single-use token. Only the session exchange does: anywhere else a
   * once-token would be usable again and again, so it is refused there.
   */
  allowOnce?: boolean;
}

export const ONCE_TOKEN_REFUSED =
  'a single-use token must first be exchanged for a session credential (POST /api/v1/session)';

/**
 * Verify the signing key (the header's `kid`, none meaning the bootstrap key
 * `k0`), signature, issuer, audience and expiry; return the validated claims.
 * A single-use token is refused unless `allowOnce`.
 */
export async function verifyToken(
  keys: TokenKeys,
  token: string | undefined | null,
  options: VerifyOptions = {},
): Promise<TokenClaims> {
  return (await verifyTokenExpiry(keys, token, options)).claims;
}

/** verifyToken, also answering the token's expiry (epoch s): the session exchange bounds credentials by it. */
export async function verifyTokenExpiry(
  keys: TokenKeys,
  token: string | undefined | null,
  options: VerifyOptions = {},
): Promise<{ claims: TokenClaims; exp: number }> {
  const verified = await verifySignedClaims(keys, token);
  if (verified.claims.once && !options.allowOnce) throw new TokenError('invalid', ONCE_TOKEN_REFUSED);
  return verified;
}

async function verifySignedClaims(
  keys: TokenKeys,
  token: string | undefined | null,
): Promise<{ claims: TokenClaims; exp: number }> {
  if (!token) throw new TokenError('missing', 'a token is required');
  try {
    const header = decodeProtectedHeader(token);
    const kid = typeof header.kid === 'string' ? header.kid : BOOTSTRAP_KID;
    const secret = verifyingSecret(keys, kid);
    if (secret === undefined) throw new TokenError('invalid', `token signing key "${kid}" is unknown or retired`);
    const { payload } = await jwtVerify(token, key(secret), {
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      algorithms: ['HS256'],
    });
    const claims = TokenClaims.safeParse(payload);
    // Every token we sign expires; one without `exp` was not signed by us.
    if (!claims.success || typeof payload.exp !== 'number')
      throw new TokenError('invalid', 'token claims are malformed');
    return { claims: claims.data, exp: payload.exp };
  } catch (err) {
    if (err instanceof TokenError) throw err;
    if (err instanceof errors.JWTExpired) throw new TokenError('expired', 'token has expired');
    throw new TokenError('invalid', 'token is invalid');
  }
}

/**
 * What an admin token also grants: watching and reading metrics. Never
 * publishing or commentating (an ops credential must not be able to put
 * media or a voice on air), nor the nodes' own role.
 */
const ADMIN_ALSO: readonly Role[] = ['viewer', 'metrics'];

/** Does a token with these claims grant `role` on `stream`? */
export function grants(claims: TokenClaims, role: Role | Role[], stream: string): boolean {
  const roles = Array.isArray(role) ? role : [role];
  const roleOk = roles.includes(claims.role) || (claims.role === 'admin' && roles.some((r) => ADMIN_ALSO.includes(r)));
  const streamOk = claims.stream === ANY_STREAM || claims.stream === stream;
  return roleOk && streamOk;
}
