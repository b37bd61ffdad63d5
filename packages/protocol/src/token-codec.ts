import { errors, jwtVerify, SignJWT } from 'jose';
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
}

export async function signToken(secret: string, opts: SignOptions): Promise<string> {
  const claims = TokenClaims.parse({ role: opts.role, stream: opts.stream, sub: opts.sub, backup: opts.backup });
  const ttl = opts.ttl ?? '12h';
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(typeof ttl === 'number' ? Math.floor(Date.now() / 1000) + ttl : ttl)
    .sign(key(secret));
}

/** Verify signature, issuer, audience and expiry; return the validated claims. */
export async function verifyToken(secret: string, token: string | undefined | null): Promise<TokenClaims> {
  if (!token) throw new TokenError('missing', 'a token is required');
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      algorithms: ['HS256'],
    });
    const claims = TokenClaims.safeParse(payload);
    if (!claims.success) throw new TokenError('invalid', 'token claims are malformed');
    return claims.data;
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
