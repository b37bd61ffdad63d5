import { SessionKeeper } from '@matchmesh/client';
import { useEffect, useState } from 'react';

/**
 * One exchange per URL token for the page's life: a second render (React's
 * StrictMode runs effects twice in development) must not spend a single-use
 * token again.
 */
const exchanges = new Map<string, Promise<SessionKeeper>>();

/**
 * Where this tab keeps its session credential: a reload (F5, a crashed tab
 * restored) finds it there once the URL token has left the address bar.
 * sessionStorage: this tab only, gone with it; keyed by the page's address
 * without the token, so two matches in two tabs keep theirs apart.
 */
function storageKey(): string {
  const url = new URL(window.location.href);
  url.searchParams.delete('token');
  return `mm-session:${url.pathname}${url.search}`;
}

function remember(token: string): void {
  try {
    window.sessionStorage.setItem(storageKey(), token);
  } catch {
    // Storage refused (a private mode's quota): a reload then needs the link again.
  }
}

/** The page's token: the link's `token=`, else the session credential this tab kept across a reload. */
export function pageToken(): string {
  const fromUrl = new URLSearchParams(window.location.search).get('token');
  if (fromUrl) return fromUrl;
  try {
    return window.sessionStorage.getItem(storageKey()) ?? '';
  } catch {
    return '';
  }
}

/** The address bar without `token=`: the URL token is spent, and must not stay in history or bookmarks. */
function dropUrlToken(): void {
  const url = new URL(window.location.href);
  if (!url.searchParams.has('token')) return;
  url.searchParams.delete('token');
  window.history.replaceState(window.history.state, '', url);
}

/** The exchange index.html's inline script sent while the bundle loaded (for `token`, asking `stream`'s bootstrap). */
type EarlyExchange = { token: string; stream: string; sent: Promise<Response> };

/** The inline script's exchange, once, when it is for this token (else undefined: exchange here). */
function takeEarlyExchange(urlToken: string): EarlyExchange | undefined {
  const w = window as { __mmBoot?: EarlyExchange };
  const early = w.__mmBoot;
  w.__mmBoot = undefined;
  return early && early.token === urlToken ? early : undefined;
}

export type SessionView = { session: SessionKeeper | null; error: string | null };

/**
 * Exchange the page's URL token for a session credential (POST
 * /api/v1/session at the page's own origin), take the token out of the
 * address bar, and keep the credential renewed: everything the page sends
 * then carries the session credential, never the URL token. After a reload
 * the kept credential is what is "exchanged" (a renewal). `bootstrap`: the
 * stream to play — the answer then carries its placement data
 * (`session.bootstrap`), and the watch page's inline script has usually sent
 * this very request already, while the bundle loaded.
 */
export function useSession(urlToken: string, bootstrap?: string): SessionView {
  const [view, setView] = useState<SessionView>({ session: null, error: null });
  useEffect(() => {
    if (!urlToken) return;
    let current = true;
    let exchange = exchanges.get(urlToken);
    if (!exchange) {
      const early = takeEarlyExchange(urlToken);
      const stream = early?.stream ?? bootstrap;
      exchange = SessionKeeper.open(window.location.origin, urlToken, fetch, {
        ...(stream ? { bootstrap: stream } : {}),
        ...(early ? { sent: early.sent } : {}),
      });
      exchanges.set(urlToken, exchange);
    }
    exchange.then(
      (session) => {
        dropUrlToken();
        remember(session.token);
        session.on('renewed', (credential) => remember(credential.token));
        if (current) setView({ session, error: null });
      },
      (err: Error) => {
        if (current) setView({ session: null, error: `This link cannot be opened: ${err.message}` });
      },
    );
    return () => {
      current = false;
    };
  }, [urlToken, bootstrap]);
  return view;
}
