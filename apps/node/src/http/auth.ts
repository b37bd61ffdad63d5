import { grants, type Role, type TokenClaims, TokenError, type TokenKeys, verifyToken } from '@matchmesh/protocol';
import type { FastifyRequest } from 'fastify';
import { HttpProblem } from './problem.ts';

/** The bearer token of a request: `Authorization: Bearer x`, or `?token=x` for players that cannot set headers. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    return match?.[1];
  }
  const query = request.query as Record<string, unknown> | undefined;
  const token = query?.token;
  return typeof token === 'string' && token.length > 0 ? token : undefined;
}

/** The request's token, verified (401 problem when it is missing, invalid or expired). */
export async function authenticate(secret: TokenKeys, request: FastifyRequest): Promise<TokenClaims> {
  try {
    return await verifyToken(secret, bearerToken(request));
  } catch (err) {
    const reason = err instanceof TokenError ? err.message : 'token is invalid';
    throw new HttpProblem(401, 'Unauthorized', reason, { 'WWW-Authenticate': 'Bearer' });
  }
}

/**
 * Verify the request's token and that it grants `role` on `stream`.
 * 401 when the token is missing/invalid/expired, 403 when it is valid but
 * for another role or stream. `secret` is the node's signing key ring (a
 * plain string in unit tests): the token's kid picks the key.
 */
export async function authorize(
  secret: TokenKeys,
  request: FastifyRequest,
  role: Role | Role[],
  stream: string,
): Promise<TokenClaims> {
  const claims = await authenticate(secret, request);
  if (!grants(claims, role, stream)) {
    const wanted = Array.isArray(role) ? role.join(' or ') : role;
    throw new HttpProblem(403, 'Forbidden', `token does not grant ${wanted} on stream "${stream}"`);
  }
  return claims;
}
