import { z } from 'zod';
import { LanguageTag } from './language.ts';

/**
 * Roles carried in a token. `node` is the credential nodes use between
 * themselves; it never leaves the cluster. `metrics` reads /metrics and
 * nothing else (the Prometheus scrape token, which lives for a year in a
 * file: it must not be able to act).
 */
export const Role = z.enum(['publisher', 'viewer', 'commentator', 'admin', 'node', 'metrics']);
export type Role = z.infer<typeof Role>;

/** `*` as stream grants the role on every stream (admin and node tokens). */
export const ANY_STREAM = '*';

export const TokenClaims = z.object({
  role: Role,
  /** The stream the token is for, or `*`. */
  stream: z.string().min(1).max(64),
  /** Who holds the token (free text, shows up in logs). */
  sub: z.string().max(128).optional(),
  /**
   * Commentators: the language they commentate in (BCP 47). They join that language's booth and their voice
   * is mixed into that language's track only; absent: the stream's default language.
   */
  lang: LanguageTag.optional(),
  /**
   * Commentators' session credentials: the holder's name (the URL token's `sub`, since the credential's `sub`
   * is its session id) — what the other commentators' talkback list shows.
   */
  name: z.string().max(128).optional(),
  /** Publishers only: allowed to publish as the stream's backup ingest. */
  backup: z.boolean().optional(),
  /** JWT id: names a single-use token (its one exchange is recorded under it). */
  jti: z.string().min(8).max(64).optional(),
  /**
   * A single-use URL token: only exchanged for a session credential
   * (POST /api/v1/session), once; every other route refuses it.
   */
  once: z.literal(true).optional(),
  /** A session credential (what a URL token is exchanged for); `sub` is its session id. */
  ses: z.literal(true).optional(),
  /** Session credentials: the URL token's expiry (epoch s); no renewal reaches past it. */
  until: z.number().int().positive().optional(),
});
export type TokenClaims = z.infer<typeof TokenClaims>;

/** JWT issuer/audience so a token from another system is never accepted. */
export const TOKEN_ISSUER = 'matchmesh';
export const TOKEN_AUDIENCE = 'matchmesh';
