import { z } from 'zod';
import { EdgesResponse } from './mesh.ts';
import { Role } from './tokens.ts';

/**
 * Session credentials: a page opened with a token in its URL exchanges it at
 * once for a short-lived credential and uses that for everything else, so
 * the URL token (which lands in history, logs and referrers) can be
 * single-use, and what a leaked request or HLS URL carries dies within the
 * session TTL.
 *
 * `POST /api/v1/session` with `Authorization: Bearer <token>`:
 * - a viewer or commentator URL token → a new session credential;
 * - a session credential → the same session, renewed (never past the URL token's expiry).
 */
export const SESSION_PATH = '/api/v1/session';

/** Roles a URL token may be exchanged for a session with (the pages that play). */
export const SESSION_ROLES = ['viewer', 'commentator'] as const satisfies readonly Role[];

/**
 * The exchange's optional body. `bootstrap`: the stream the page is about to
 * play — the answer then also carries that stream's placement data (relays
 * per region with their load, the latest score, router capabilities), so the
 * page's first request gives the player everything it needs to join. Not a
 * valid StreamId: the credential is answered without it (the page's address
 * is the viewer's to mistype; the exchange must not fail for it).
 */
export const SessionRequest = z.object({ bootstrap: z.string().max(64).optional() }).strict();
export type SessionRequest = z.infer<typeof SessionRequest>;

export const SessionCredential = z.object({
  /** The credential: a JWT of the node's key ring, claims `ses: true`, `sub` = session id, `until`. */
  token: z.string().min(1),
  sessionId: z.string().min(1).max(128),
  role: Role,
  stream: z.string().min(1).max(64),
  /** When it expires (epoch ms). */
  expiresAt: z.number().int(),
  /** The last moment any renewal can reach (the URL token's expiry, epoch ms). */
  renewableUntil: z.number().int(),
  /** The `bootstrap` stream's edges list (absent when not asked, not granted, or Redis cannot say). */
  bootstrap: EdgesResponse.optional(),
});
export type SessionCredential = z.infer<typeof SessionCredential>;

/** When a client renews: at two thirds of the credential's remaining life (a third left for retries). */
export function renewDelayMs(credential: Pick<SessionCredential, 'expiresAt'>, now = Date.now()): number {
  return Math.max(1_000, Math.floor(((credential.expiresAt - now) * 2) / 3));
}
