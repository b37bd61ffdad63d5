import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/** A player that fetched nothing for this long has stopped (an LL-HLS player reloads every part, ~1 s). */
export const HLS_PLAYER_WINDOW_MS = 10_000;

/** `/hls/<stream>/t/<token>/…`: the files a playing HLS player fetches over and over. */
const PLAYER_FILE = /^\/hls\/([A-Za-z0-9_-]{1,64})\/t\/([^/?]+)\//;

/**
 * HLS viewers per stream on this node: distinct players seen in the last
 * ~10 s. HLS has no session, so a player is what its requests share: the
 * token in the path, the client's address and its user agent (hashed — no
 * address is kept). Two tabs of one browser with one token count once.
 */
export class HlsPlayers {
  readonly #lastSeen = new Map<string, Map<string, number>>();
  readonly #windowMs: number;

  constructor(windowMs = HLS_PLAYER_WINDOW_MS) {
    this.#windowMs = windowMs;
  }

  seen(stream: string, player: string, now = Date.now()): void {
    const players = this.#lastSeen.get(stream) ?? new Map<string, number>();
    this.#lastSeen.set(stream, players);
    players.set(player, now);
  }

  /** Players per stream seen within the window (forgetting the older ones). */
  counts(now = Date.now()): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [stream, players] of this.#lastSeen) {
      for (const [player, at] of players) if (now - at > this.#windowMs) players.delete(player);
      if (players.size === 0) this.#lastSeen.delete(stream);
      else out[stream] = players.size;
    }
    return out;
  }

  /** Distinct players of any stream seen within the last `windowMs` (a draining node's "still here"). */
  recent(windowMs: number, now = Date.now()): number {
    let n = 0;
    for (const players of this.#lastSeen.values()) for (const at of players.values()) if (now - at <= windowMs) n++;
    return n;
  }

  /**
   * Count every answered player file of the HLS routes registered after this
   * in `scope` (a hook, so the routes themselves need not know).
   */
  watch(scope: FastifyInstance): void {
    scope.addHook('onResponse', async (request, reply) => {
      // A redirect (a draining relay sending a player elsewhere) is not a player here.
      if (reply.statusCode >= 300) return;
      const m = PLAYER_FILE.exec(request.raw.url ?? '');
      if (!m) return;
      const player = createHash('sha256')
        .update(`${m[2]}\n${request.ip}\n${request.headers['user-agent'] ?? ''}`)
        .digest('base64url')
        .slice(0, 16);
      this.seen(m[1]!, player);
    });
  }
}
