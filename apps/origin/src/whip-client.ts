import { LAST_SCORE_HEADER, Problem, parseScorePosition, type ScorePosition } from '@matchmesh/protocol';

/*
 * The HTTP half of WHIP (RFC 9725): POST the offer, get the answer and the
 * session URL, DELETE it when done. No trickle (PATCH): we send a complete
 * offer, and the ingest is ICE-lite with all its candidates in the answer.
 */

export interface WhipAnswer {
  sdp: string;
  /** Absolute session URL (the Location header resolved against the POST URL). */
  sessionUrl: string;
  etag: string | undefined;
  /** Where the stream's scores stand on this ingest (`Matchmesh-Last-Score`), if it holds any. */
  lastScore: ScorePosition | undefined;
}

/** How the reconnect loop should treat a failure. */
export type RetryClass = 'backoff' | 'slow';

export class WhipHttpError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
    readonly body: string,
    /** From Retry-After, if the server sent one. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(
      `WHIP POST failed: ${status}${problem ? ` ${problem.title}${problem.detail ? `: ${problem.detail}` : ''}` : ''}`,
    );
    this.name = 'WhipHttpError';
  }

  /**
   * 409 (someone else is publishing this stream, possibly our own stale
   * session not yet reaped), 429 and 5xx are transient: back off and retry.
   * Other 4xx (bad token, unknown stream, malformed offer) will not fix
   * themselves quickly: retry slowly so a fixed config or token is picked up
   * without a restart, without hammering the ingest.
   */
  get retryClass(): RetryClass {
    if (this.status === 409 || this.status === 429 || this.status === 503 || this.status >= 500) return 'backoff';
    return 'slow';
  }
}

export function whipEndpoint(ingestUrl: string, stream: string): string {
  return new URL(`whip/${encodeURIComponent(stream)}`, ingestUrl.endsWith('/') ? ingestUrl : `${ingestUrl}/`).href;
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Redirects followed per offer (a draining ingest sends its publisher to another ingest: one hop). */
const MAX_REDIRECTS = 3;

export async function postOffer(
  endpoint: string,
  token: string,
  offerSdp: string,
  signal: AbortSignal,
): Promise<WhipAnswer> {
  // Redirects are followed here, not by fetch: fetch drops the Authorization header on a redirect to
  // another origin (another ingest is one), and RFC 9725 has the client send the offer again, token and all.
  let url = endpoint;
  let res: Response;
  for (let hops = 0; ; hops++) {
    res = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/sdp',
        accept: 'application/sdp',
      },
      body: offerSdp,
      signal,
      redirect: 'manual',
    });
    const location = res.headers.get('location');
    if (![301, 302, 303, 307, 308].includes(res.status) || !location || hops >= MAX_REDIRECTS) break;
    await res.arrayBuffer();
    url = new URL(location, url).href;
  }
  const body = await res.text();
  if (res.status !== 201) {
    let problem: Problem | undefined;
    if ((res.headers.get('content-type') ?? '').includes('json')) {
      try {
        const parsed = Problem.safeParse(JSON.parse(body));
        if (parsed.success) problem = parsed.data;
      } catch {
        // Not JSON after all; the raw body is kept on the error.
      }
    }
    throw new WhipHttpError(res.status, problem, body.slice(0, 2000), parseRetryAfter(res.headers.get('retry-after')));
  }
  const location = res.headers.get('location');
  if (!location) throw new Error('WHIP 201 without a Location header');
  if (!body.startsWith('v=0')) throw new Error('WHIP 201 body is not an SDP answer');
  return {
    sdp: body,
    // RFC 9725: Location may be relative; resolve against the URL we POSTed to
    // (after redirects).
    sessionUrl: new URL(location, url).href,
    etag: res.headers.get('etag') ?? undefined,
    lastScore: parseScorePosition(res.headers.get(LAST_SCORE_HEADER)),
  };
}

/** Best effort: a session we cannot delete expires on the ingest side anyway. */
export async function deleteSession(sessionUrl: string, token: string, timeoutMs: number): Promise<number | undefined> {
  try {
    const res = await fetch(sessionUrl, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}
