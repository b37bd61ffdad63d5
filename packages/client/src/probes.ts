import type { Unsubscribe } from './emitter.ts';
import type { SessionState, SessionStateChange } from './SessionLifecycle.ts';

/*
 * What the Player watches a running session with: has it decoded a frame yet,
 * has it stopped decoding (stall), is its HLS fallback warm, does HLS play.
 * Each probe reports; what a result means for the ladder is LadderDriver's
 * and ladder.ts's business.
 */

/** A session whose decoded frames can be counted (a WebRtcSession). */
export type ProbedSession = {
  readonly state: SessionState;
  readonly reason: string;
  readonly closed: boolean;
  stats(): Promise<{ framesDecoded?: number }>;
};

/** A session whose state changes can be followed (a WebRtcSession or an HlsSession). */
export type StatefulSession = {
  readonly state: SessionState;
  readonly closed: boolean;
  on(event: 'state', listener: (change: SessionStateChange) => void): Unsubscribe;
};

/** How often firstFrame asks for stats: a move or an upgrade switches within this of the first frame. */
const FIRST_FRAME_POLL_MS = 40;

/**
 * Resolves once `session` has decoded a video frame. After `timeoutMs` it
 * resolves anyway (a drain move: better than staying on a draining node), or
 * throws when `strict` (an upgrade from HLS must show a picture). Throws if
 * the session ends first.
 */
export async function firstFrame(session: ProbedSession, timeoutMs: number, strict = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!session.closed && Date.now() < deadline) {
    if (session.state === 'connected') {
      const stats = await session.stats();
      if ((stats.framesDecoded ?? 0) > 0) return;
    }
    await new Promise((resolve) => setTimeout(resolve, FIRST_FRAME_POLL_MS));
  }
  if (session.closed) throw new Error(`session ${session.state}: ${session.reason}`);
  if (strict) throw new Error('no decoded frame');
}

/** Resolves true once `session` plays (state 'connected'), false if it fails or closes first. */
export function untilPlaying(session: StatefulSession): Promise<boolean> {
  if (session.state === 'connected') return Promise.resolve(true);
  if (session.closed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const off = session.on('state', (change) => {
      if (change.state === 'connecting') return;
      off();
      resolve(change.state === 'connected');
    });
  });
}

/** How often the stall watch reads the decoded-frame count. */
const STALL_CHECK_MS = 250;

export type StallHandlers = {
  /** Still the session that matters? (false: the watch ends quietly) */
  current(): boolean;
  /** No new frame for half the limit: a fallback may be coming. */
  slow(): void;
  /** No new frame for the whole limit. */
  stalled(): void;
};

/**
 * "No decoded video frame for `limitMs` while connected": one watch at a
 * time (a new watch replaces the old one). Before the first decoded frame
 * nothing counts — ICE and keyframe timeouts are in charge then.
 */
export class StallWatch {
  #timer: ReturnType<typeof setInterval> | undefined;

  watch(session: ProbedSession, limitMs: number, on: StallHandlers): void {
    clearInterval(this.#timer);
    let frames = -1;
    let since = Date.now();
    this.#timer = setInterval(async () => {
      if (!on.current() || session.closed) {
        clearInterval(this.#timer);
        return;
      }
      const decoded = (await session.stats()).framesDecoded ?? 0;
      if (decoded !== frames || decoded === 0) {
        if (decoded !== frames) since = Date.now();
        frames = decoded;
        if (decoded === 0) since = Date.now();
        return;
      }
      if (Date.now() - since >= limitMs / 2) on.slow();
      if (Date.now() - since < limitMs || !on.current()) return;
      on.stalled();
    }, STALL_CHECK_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * WebRTC not connected this long after a session started, or no new frame
 * for half the stall limit: ask the relay for its HLS playlist, so that its
 * packager is already running (it starts on the first request) if the
 * fallback comes — the switch then costs a playlist load, not a cold start.
 */
export const HLS_WARM_AFTER_MS = 1500;
/** One warming request per relay per this long: the packager keeps running between them. */
export const HLS_WARM_EVERY_MS = 30_000;

/** Starts a relay's HLS packager ahead of a possible fallback (see HLS_WARM_AFTER_MS). */
export class HlsWarmer {
  /** When the HLS packager of a relay was last warmed (by node URL). */
  readonly #warmed = new Map<string, number>();
  readonly #playlistUrl: (nodeUrl: string) => string;
  readonly #enabled: () => boolean;

  /** `playlistUrl`: the relay's HLS playlist; `enabled`: false while warming is pointless (no fallback, closed). */
  constructor(playlistUrl: (nodeUrl: string) => string, enabled: () => boolean) {
    this.#playlistUrl = playlistUrl;
    this.#enabled = enabled;
  }

  /** Requests the playlist of `nodeUrl` unless that was done in the last HLS_WARM_EVERY_MS. */
  warm(nodeUrl: string): void {
    if (!this.#enabled()) return;
    const now = Date.now();
    if (now - (this.#warmed.get(nodeUrl) ?? Number.NEGATIVE_INFINITY) < HLS_WARM_EVERY_MS) return;
    this.#warmed.set(nodeUrl, now);
    fetch(this.#playlistUrl(nodeUrl), { cache: 'no-store' })
      .then((res) => res.body?.cancel())
      .catch(() => {
        // Only a hint: the fallback itself reports real failures.
      });
  }

  /** Warms `nodeUrl` if `session` is still connecting HLS_WARM_AFTER_MS from now. */
  warmIfSlow(session: StatefulSession, nodeUrl: string): void {
    const timer = setTimeout(() => {
      if (!session.closed && session.state !== 'connected') this.warm(nodeUrl);
    }, HLS_WARM_AFTER_MS);
    const off = session.on('state', (change) => {
      if (change.state === 'connecting') return;
      clearTimeout(timer);
      off();
    });
  }
}
