/*
 * An HLS session's scores. HLS has no DataChannel, so the node keeps a score
 * log per stream (`scores.json`: the updates of the rewind window and the
 * anchors tying segments to the stream's mediaTime) and the session follows
 * it with blocking requests. Kept apart from HlsSession because it is the one
 * part of the session that runs beside hls.js rather than through it.
 */
import { HLS_DRAINING_HEADER, HlsScores, type HlsTimelineAnchor, hlsScoresPath } from '@matchmesh/protocol';
import type { ReceivedScore, ScoreFeed } from './ScoreFeed.ts';

/** How long one blocking score-log request may be held by the node. */
const SCORES_WAIT_MS = 5000;

export type ScoreLogFollower = {
  /** HTTP base URL of the relay serving HLS. */
  nodeUrl: string;
  stream: string;
  /** The session credential now (read at each request: the page may renew it). */
  token: () => string;
  scoreFeed: ScoreFeed;
  fetch: typeof fetch;
  /** Pause before asking again after a failed request (or a node that does not block). */
  retryMs: number;
  /** The session has ended: no further request. */
  closed: () => boolean;
  /** The log's timeline anchors, at each answer (they place frames on the stream's timeline). */
  timeline: (anchors: HlsTimelineAnchor[]) => void;
  /** An update the feed accepted as new. */
  score: (score: ReceivedScore) => void;
  /** The relay's drain header of each answer (null: not draining). */
  drainHeader: (target: string | null) => void;
};

/**
 * Follows the score log while the session lives: the first request takes
 * the whole window (history for a rewind), then each request blocks on the
 * node until a newer update exists (`wait`), so an update reaches the
 * player about as fast as on WebRTC — well before the HLS picture shows
 * its frame. Returns the function that stops it.
 */
export function followScoreLog(f: ScoreLogFollower): () => void {
  const base = f.nodeUrl.replace(/\/+$/, '');
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let first = true;
  let since = 0;
  const poll = async () => {
    if (f.closed()) return;
    let ok = false;
    const sinceBefore = since;
    const startedAt = Date.now();
    try {
      const path = first
        ? hlsScoresPath(f.stream, f.token())
        : hlsScoresPath(f.stream, f.token(), since, SCORES_WAIT_MS);
      const res = await f.fetch(`${base}${path}`, { cache: 'no-store', signal: abort.signal });
      f.drainHeader(res.headers.get(HLS_DRAINING_HEADER));
      if (res.ok) {
        const parsed = HlsScores.safeParse(await res.json());
        if (parsed.success) {
          ok = true;
          first = false;
          f.timeline(parsed.data.timeline);
          // Older updates of the window (before this viewer joined) serve a rewind; newer ones go live.
          f.scoreFeed.backfill(parsed.data.updates);
          for (const update of parsed.data.updates) {
            const result = f.scoreFeed.push(update);
            if (result.accepted) f.score(result.score);
          }
          since = Math.max(since, parsed.data.latestSeq);
        }
      }
    } catch {
      // Next attempt after a pause.
    }
    if (f.closed()) return;
    // A node that answers at once with nothing new (it does not block) is polled, not hammered.
    const idle = ok && !first && since === sinceBefore && Date.now() - startedAt < 100;
    if (ok && !idle) void poll();
    else timer = setTimeout(() => void poll(), f.retryMs);
  };
  void poll();
  return () => {
    clearTimeout(timer);
    abort.abort();
  };
}
