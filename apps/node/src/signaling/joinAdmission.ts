import {
  canonicalLanguage,
  DEFAULT_COMMENTARY_LANGUAGE,
  grants,
  type SignalingRequestData,
  type TokenClaims,
  TokenError,
  type TokenKeys,
  verifyToken,
} from '@matchmesh/protocol';
import { SignalingFailure } from './SignalingFailure.ts';

/** Who a join is from and which languages it concerns, once its token allowed it. */
export interface JoinAdmission {
  claims: TokenClaims;
  /** The node's default commentary language (canonical BCP 47). */
  defaultLanguage: string;
  /** The language the peer asked for (canonical), null for the venue sound, undefined: none asked. */
  asked: string | null | undefined;
  /** A commentator's language: their token's, else the default; undefined for a viewer. */
  commentaryLanguage: string | undefined;
}

/**
 * The first step of a join, before anything is looked up or built: the token
 * must verify and grant the role on the stream, and a commentator may talk
 * only in their token's language. Throws the SignalingFailure the peer gets.
 */
export async function admitJoin(
  tokenSecret: TokenKeys,
  nodeDefaultLanguage: string | undefined,
  data: SignalingRequestData<'join'>,
): Promise<JoinAdmission> {
  let claims: TokenClaims;
  try {
    claims = await verifyToken(tokenSecret, data.token);
  } catch (err) {
    throw new SignalingFailure('unauthorized', err instanceof TokenError ? err.message : 'token is invalid');
  }
  const allowed = data.role === 'commentator' ? ['commentator' as const] : ['viewer' as const, 'commentator' as const];
  if (!grants(claims, allowed, data.stream)) {
    throw new SignalingFailure('forbidden', `token does not grant ${data.role} on stream "${data.stream}"`);
  }
  const defaultLanguage = canonicalLanguage(nodeDefaultLanguage ?? DEFAULT_COMMENTARY_LANGUAGE) ?? 'en';
  const asked = data.lang ? canonicalLanguage(data.lang) : data.lang;
  let commentaryLanguage: string | undefined;
  if (data.role === 'commentator') {
    // The token names the booth: a commentator of one language cannot talk on another's track.
    commentaryLanguage = (claims.lang && canonicalLanguage(claims.lang)) || defaultLanguage;
    if (asked !== undefined && asked !== commentaryLanguage) {
      throw new SignalingFailure(
        'forbidden',
        `token grants commentary in "${commentaryLanguage}", not "${asked ?? 'venue sound'}"`,
      );
    }
  }
  return { claims, defaultLanguage, asked, commentaryLanguage };
}
