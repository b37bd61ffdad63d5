/*
 * hls.js reads the multivariant playlist once, so the audio group (venue
 * only + one rendition per commentary language) it knows is the one of the
 * session's start. These helpers let an HLS session notice when the relay's
 * multivariant playlist lists other languages than hls.js plays from: the
 * player then reloads HLS make-before-break (a second hls.js on the same
 * relay, swapped in once it plays in step: see ladderHlsMove.ts).
 */

/** The LANGUAGE of each audio rendition (EXT-X-MEDIA TYPE=AUDIO) of a multivariant playlist, lower case, sorted. */
export function multivariantLanguages(playlist: string): string[] {
  const langs = new Set<string>();
  for (const line of playlist.split(/\r?\n/)) {
    if (!line.startsWith('#EXT-X-MEDIA:') || !/TYPE=AUDIO(,|$)/.test(line)) continue;
    const lang = /(?:^|[:,])LANGUAGE="([^"]+)"/.exec(line)?.[1];
    if (lang) langs.add(lang.toLowerCase());
  }
  return [...langs].sort();
}

/** The two language lists name the same languages (either order, any case). */
export function sameLanguages(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a.map((l) => l.toLowerCase()))].sort();
  const y = [...new Set(b.map((l) => l.toLowerCase()))].sort();
  return x.length === y.length && x.every((l, i) => l === y[i]);
}

export type LanguageWatch = {
  /** The multivariant playlist's URL now (the token may be renewed meanwhile). */
  url: () => string;
  /** The languages hls.js plays from now; null while it has not read the playlist yet (nothing to compare). */
  current: () => readonly string[] | null;
  /** The playlist lists other languages: called again at each poll while they differ. */
  changed: (languages: string[]) => void;
  intervalMs: number;
  fetch: typeof fetch;
};

/**
 * Reads the multivariant playlist every `intervalMs` (a few hundred bytes,
 * a cheap answer of the relay) and compares its languages with hls.js's.
 * Returns the stop function.
 */
export function watchLanguages(w: LanguageWatch): () => void {
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const poll = async () => {
    try {
      const current = w.current();
      if (current !== null) {
        const res = await w.fetch(w.url(), { cache: 'no-store', signal: abort.signal });
        if (res.ok) {
          const listed = multivariantLanguages(await res.text());
          if (!stopped && !sameLanguages(listed, w.current() ?? listed)) w.changed(listed);
        }
      }
    } catch {
      // The next poll tries again (a relay that went away is the ladder's business).
    }
    if (!stopped) timer = setTimeout(() => void poll(), w.intervalMs);
  };
  timer = setTimeout(() => void poll(), w.intervalMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
    abort.abort();
  };
}
