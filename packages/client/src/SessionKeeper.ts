import { type EdgesResponse, renewDelayMs, SESSION_PATH, SessionCredential } from '@matchmesh/protocol';
import { TypedEmitter } from './emitter.ts';

export type SessionKeeperEvents = {
  /** A renewed credential: use its token for every request from now on. */
  renewed: [SessionCredential];
  /** A renewal failed (it is retried while the credential still lives). */
  warning: [Error];
};

export class SessionError extends Error {
  override readonly name = 'SessionError';
  constructor(
    readonly status: number,
    message: string,
    /** Seconds the node asked to wait (`Retry-After` of a 503), if any. */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

/** A 503 at the exchange (the node cannot check a single-use token now) is tried again this many times. */
const OPEN_ATTEMPTS = 10;

/** Pause before retrying a failed renewal (while the current credential lives). */
const RETRY_MS = 2000;

/** The exchange's request (`bootstrap`: the stream whose placement data the answer should carry). */
export function sessionRequest(bearer: string, bootstrap?: string): RequestInit {
  return bootstrap
    ? {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bootstrap }),
      }
    : { method: 'POST', headers: { authorization: `Bearer ${bearer}` } };
}

async function postSession(
  nodeUrl: string,
  bearer: string,
  fetchImpl: typeof fetch,
  options: { bootstrap?: string; sent?: Promise<Response> } = {},
): Promise<SessionCredential> {
  const res = await (options.sent ??
    fetchImpl(new URL(SESSION_PATH, nodeUrl), sessionRequest(bearer, options.bootstrap)));
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    const why = typeof body.detail === 'string' ? body.detail : `HTTP ${res.status}`;
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new SessionError(res.status, why, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
  }
  const parsed = SessionCredential.safeParse(body);
  if (!parsed.success) throw new SessionError(res.status, 'the node answered a malformed session credential');
  return parsed.data;
}

/**
 * A page's session credential: the URL token exchanged once at load
 * (`SessionKeeper.open`), then renewed at two thirds of each credential's
 * life until the URL token's own expiry. Everything the page sends uses
 * `token`, which is always the newest credential; 'renewed' says when it
 * changed (the HLS player rewrites its URLs then).
 */
export class SessionKeeper extends TypedEmitter<SessionKeeperEvents> {
  /** The placement data the first exchange brought (asked with `bootstrap`), null when none. */
  readonly bootstrap: EdgesResponse | null;
  #credential: SessionCredential;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  private constructor(
    readonly nodeUrl: string,
    credential: SessionCredential,
    private readonly fetchImpl: typeof fetch,
  ) {
    super();
    this.bootstrap = credential.bootstrap ?? null;
    // Renewals answer without it; only the first one is worth keeping.
    const { bootstrap: _, ...rest } = credential;
    this.#credential = rest;
    this.#schedule(renewDelayMs(credential));
  }

  /**
   * Exchange `urlToken` at `nodeUrl` (POST /api/v1/session); rejects with
   * SessionError (status, detail). A 503 (Redis cannot say whether a
   * single-use token was spent) is retried after its Retry-After: the link is
   * still good, the cluster is just briefly unable to prove it.
   *
   * `bootstrap`: ask for that stream's placement data in the same answer
   * (`keeper.bootstrap`). `sent`: the exchange already sent by the page's
   * inline script while the bundle loaded (its answer is read as the first
   * attempt's).
   */
  static async open(
    nodeUrl: string,
    urlToken: string,
    fetchImpl: typeof fetch = fetch,
    options: { bootstrap?: string; sent?: Promise<Response> } = {},
  ): Promise<SessionKeeper> {
    for (let attempt = 1; ; attempt++) {
      try {
        const sent = attempt === 1 ? options.sent : undefined;
        const credential = await postSession(nodeUrl, urlToken, fetchImpl, {
          ...(options.bootstrap ? { bootstrap: options.bootstrap } : {}),
          ...(sent ? { sent } : {}),
        });
        return new SessionKeeper(nodeUrl, credential, fetchImpl);
      } catch (err) {
        if (!(err instanceof SessionError) || err.status !== 503 || attempt >= OPEN_ATTEMPTS) throw err;
        await new Promise((resolve) => setTimeout(resolve, (err.retryAfterS ?? 2) * 1000));
      }
    }
  }

  get token(): string {
    return this.#credential.token;
  }

  get credential(): SessionCredential {
    return this.#credential;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(delayMs: number): void {
    // The URL token's expiry ends the session: nothing left to renew for.
    if (this.#closed || this.#credential.expiresAt >= this.#credential.renewableUntil) return;
    this.#timer = setTimeout(() => void this.#renew(), delayMs);
  }

  async #renew(): Promise<void> {
    try {
      const next = await postSession(this.nodeUrl, this.#credential.token, this.fetchImpl);
      if (this.#closed) return;
      this.#credential = next;
      this.emit('renewed', next);
      this.#schedule(renewDelayMs(next));
    } catch (err) {
      if (this.#closed) return;
      this.emit('warning', err instanceof Error ? err : new Error(String(err)));
      if (Date.now() + RETRY_MS < this.#credential.expiresAt) this.#schedule(RETRY_MS);
    }
  }
}
