import { randomBytes } from 'node:crypto';
import type { OnceTokenStore } from '@matchmesh/cluster';
import {
  type EdgesResponse,
  grants,
  SESSION_PATH,
  SESSION_ROLES,
  SessionCredential,
  SessionRequest,
  StreamId,
  signToken,
  type TokenClaims,
  TokenError,
  type TokenKeys,
  verifyTokenExpiry,
} from '@matchmesh/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';

export interface SessionDeps {
  tokenSecret: TokenKeys;
  /** Where single-use tokens' exchanges are recorded (Redis, cluster-wide). */
  onceTokens: () => Pick<OnceTokenStore, 'consume'>;
  /** A session credential's lifetime (MM_SESSION_TTL_S). */
  ttlS: number;
  nodeId: string;
  log: Logger;
  /**
   * A stream's edges list for a page's bootstrap (placement data, latest
   * score, router capabilities); rejects when the registry cannot be read
   * (the credential is answered without it: the player then asks itself).
   */
  bootstrap?(stream: string): Promise<EdgesResponse>;
}

/** The header only: this route exists to take tokens out of URLs, so it reads none from one. */
function headerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim())?.[1] : undefined;
}

const unauthorized = (detail: string) => new HttpProblem(401, 'Unauthorized', detail, { 'WWW-Authenticate': 'Bearer' });

/**
 * `POST /api/v1/session`: exchange a viewer or commentator token (the one in
 * the page's URL) for a short-lived session credential, or renew a session
 * credential. The credential has the same role and stream, its session id as
 * `sub`, `ses: true`, and `until`: the URL token's expiry, past which no
 * renewal goes. A single-use token (`once`) is exchanged once, cluster-wide:
 * its jti is recorded in Redis (409 on a second exchange, 503 when Redis
 * cannot say: fail closed).
 */
export async function registerSession(app: FastifyInstance, deps: SessionDeps): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().post(
    SESSION_PATH,
    {
      // The token is the request; the body at most names the stream to bootstrap.
      bodyLimit: 256,
      schema: {
        body: SessionRequest.nullish(),
        response: { 200: SessionCredential, ...problemResponses },
      },
    },
    async (request) => {
      let verified: { claims: TokenClaims; exp: number };
      try {
        verified = await verifyTokenExpiry(deps.tokenSecret, headerToken(request), { allowOnce: true });
      } catch (err) {
        throw unauthorized(err instanceof TokenError ? err.message : 'token is invalid');
      }
      const { claims, exp } = verified;
      if (!(SESSION_ROLES as readonly string[]).includes(claims.role)) {
        throw new HttpProblem(403, 'Forbidden', `only ${SESSION_ROLES.join(' and ')} tokens open a session`);
      }
      const renewal = claims.ses === true;
      if (renewal && (!claims.sub || claims.until === undefined)) throw unauthorized('session credential is malformed');
      // The placement data is read while the single-use check runs: both wait on Redis.
      const wanted = StreamId.safeParse(request.body?.bootstrap).data;
      const bootstrap =
        wanted && deps.bootstrap && grants(claims, ['viewer', 'commentator'], wanted)
          ? deps.bootstrap(wanted).catch((err: unknown) => {
              deps.log.warn({ err: (err as Error).message, stream: wanted }, 'no bootstrap for the session');
              return undefined;
            })
          : undefined;
      if (claims.once) await consumeOnce(deps, claims, exp);

      const nowS = Math.floor(Date.now() / 1000);
      const sessionId = renewal ? claims.sub! : `s-${randomBytes(9).toString('base64url')}`;
      const until = renewal ? claims.until! : exp;
      // Never past the URL token's expiry; verification guarantees until > now.
      const ttl = Math.max(1, Math.min(deps.ttlS, until - nowS));
      const token = await signToken(deps.tokenSecret, {
        role: claims.role,
        stream: claims.stream,
        // A commentator's session keeps the booth's language.
        ...(claims.lang ? { lang: claims.lang } : {}),
        // …and the holder's name, which the other commentators' talkback list shows (a renewal keeps it).
        ...(claims.role === 'commentator' && (renewal ? claims.name : claims.sub)
          ? { name: renewal ? claims.name : claims.sub }
          : {}),
        sub: sessionId,
        ses: true,
        until,
        ttl,
      });
      deps.log.info(
        {
          session: sessionId,
          stream: claims.stream,
          role: claims.role,
          holder: renewal ? undefined : claims.sub,
          renewal,
        },
        renewal ? 'session credential renewed' : 'session opened',
      );
      const edges = await bootstrap;
      return {
        token,
        sessionId,
        role: claims.role,
        stream: claims.stream,
        expiresAt: (nowS + ttl) * 1000,
        renewableUntil: until * 1000,
        ...(edges ? { bootstrap: edges } : {}),
      };
    },
  );
}

async function consumeOnce(deps: SessionDeps, claims: TokenClaims, exp: number): Promise<void> {
  if (!claims.jti) throw unauthorized('single-use token has no jti');
  let first: boolean;
  try {
    first = await deps.onceTokens().consume(claims.jti, exp, deps.nodeId);
  } catch (err) {
    deps.log.warn({ err: (err as Error).message }, 'single-use token check failed; refusing the exchange');
    throw new HttpProblem(
      503,
      'Service Unavailable',
      'cannot check whether this single-use token was already used; try again shortly',
      { 'Retry-After': '2' },
    );
  }
  if (!first) {
    throw new HttpProblem(
      409,
      'Conflict',
      'this single-use token was already exchanged for a session; ask for a new link',
    );
  }
}
