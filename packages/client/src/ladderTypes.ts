import type { SessionFailure } from './failure.ts';
import type { PlayerPath } from './PlayerTypes.ts';
import type { SessionState } from './SessionLifecycle.ts';

/*
 * The ladder's vocabulary: its rungs, its state, the events it takes and the
 * effects it asks for. The table (ladder.ts) decides; LadderDriver carries
 * the effects out. Kept apart so both sides, and the tests, read one list.
 */

/** Where the player is on the ladder. */
export type Rung =
  /** Not started. */
  | 'idle'
  /** Waiting for a placement to open a WebRTC session (first join, retry, failover). */
  | 'placing'
  /** A WebRTC session is the current one (connecting or playing; a drain move may be under way). */
  | 'webrtc'
  /** Nothing playing; a retry is scheduled. */
  | 'waiting'
  /** HLS plays (fallback or rewind); WebRTC is retried in the background unless rewound. */
  | 'hls'
  /** The current session was closed (the stream ending) and nothing replaced it. */
  | 'ended'
  /** Given up (a fatal error or maxAttempts). */
  | 'failed'
  /** Player.close(). */
  | 'closed';

export const RUNGS: readonly Rung[] = ['idle', 'placing', 'webrtc', 'waiting', 'hls', 'ended', 'failed', 'closed'];

export type LadderState = {
  rung: Rung;
  /** What the player reports ('state' events are sent only when one of these changes). */
  status: SessionState;
  path: PlayerPath;
  reason: string;
  /** Consecutive failed attempts (the retry backoff's exponent). */
  attempt: number;
  /** Background WebRTC tries since HLS started (even: TCP, odd: UDP). */
  upgradeAttempt: number;
  /** The current session reached 'connected': its loss is a failover, not a retry. */
  played: boolean;
  /** A second session being prepared: a drain move, an upgrade from HLS, or an HLS drain move (or reload). */
  standby: 'none' | 'move' | 'upgrade' | 'hls-move';
  /** The 'hls-move' standby is a reload on the same relay (other commentary languages), not a move. */
  hlsReload: boolean;
  /** Seconds behind live the viewer rewound to (0: live). */
  behindLive: number;
  /** Why HLS plays (the reason of its 'state' events), and the failure or request behind it. */
  hlsReason: string;
  hlsWhy: string;
  moves: number;
  failovers: number;
};

export type LadderPolicy = {
  retry: { initialDelayMs: number; maxDelayMs: number };
  maxAttempts: number;
  upgrade: { initialDelayMs: number; maxDelayMs: number };
  hlsFallback: boolean;
  /** The page asked for WebRTC over TCP only. */
  forceTcp: boolean;
};

/** What the page gave the player to show video in, when a decision needs it. */
export type Surface = { attached: boolean; hlsElement: boolean };

export type LadderEvent =
  | { type: 'start' }
  /** A placement for the next WebRTC session arrived (placing). */
  | { type: 'placed' }
  | { type: 'session-connecting'; reason: string }
  | { type: 'session-connected'; reason: string }
  | { type: 'session-closed'; reason: string }
  /** The current session failed; `standbyOpen`: a drain move's session is still alive. */
  | {
      type: 'session-failed';
      failure: SessionFailure;
      reason: string;
      error?: Error;
      /** The drain move's session, when one is under way and still alive. */
      standby: { connected: boolean; reason: string } | null;
      surface: Surface;
    }
  /** No new decoded frame on the playing session for the stall limit. */
  | { type: 'stalled'; surface: Surface }
  | { type: 'drain'; reason: string }
  /** Placement for a drain move arrived; `sameNode`: nowhere else to go. */
  | { type: 'move-placed'; sameNode: boolean; reason: string }
  /** The move's session decoded a frame (or the wait timed out: better than staying). */
  | { type: 'move-ready'; connected: boolean; sessionReason: string }
  /** The move's session failed; `current`: it is still the player's standby. */
  | { type: 'move-failed'; message: string; current: boolean }
  | { type: 'hls-connecting'; reason: string }
  | { type: 'hls-connected' }
  /** The HLS session failed or closed; `moving`: an HLS drain move's session is alive (connected or not). */
  | { type: 'hls-failed'; reason: string; moving?: { connected: boolean } | null }
  /** The playing HLS session's relay drains; `target`: the relay it names (another of its region). */
  | { type: 'hls-drain'; target: string }
  /** Placement for an HLS drain move arrived; `sameNode`: nowhere else to go. */
  | { type: 'hls-move-placed'; sameNode: boolean; target: string }
  /** The HLS relay lists other commentary languages than the playing hls.js knows (it reads the playlist once). */
  | { type: 'hls-languages' }
  /** The HLS move's session presents frames in the spare element (or, without one, is ready to take the old one's). */
  | { type: 'hls-move-ready'; connected: boolean }
  | { type: 'retry-due' }
  | { type: 'upgrade-due' }
  | { type: 'upgrade-placed'; forceTcp: boolean }
  /** The upgrade's session decoded a frame; `painted`: the hidden element showed it. */
  | { type: 'upgrade-rendered'; forceTcp: boolean; painted: boolean }
  /** The upgrade's session failed or was superseded; `current`: it is still the player's standby. */
  | { type: 'upgrade-failed'; current: boolean }
  | { type: 'rewind'; target: number; surface: Surface }
  /** The HLS element seeked to `behind` seconds behind live. */
  | { type: 'rewound'; target: number; behind: number }
  | { type: 'go-live' }
  | { type: 'close'; reason: string };

export type LadderEventType = LadderEvent['type'];

export type Effect =
  | { do: 'report'; state: SessionState; path: PlayerPath; reason: string; error?: Error }
  /** Ask the placer for a relay; `leaving`: the session being left (avoid it). Answer: 'placed'. */
  | { do: 'place'; leaving: boolean }
  /** Open a WebRTC session on the placement as the current one. */
  | { do: 'open-session' }
  /** Start it (its progress comes back as session events). */
  | { do: 'start-session' }
  /** Forget the current session (`sync`: show no stream). */
  | { do: 'drop-session'; sync: boolean }
  | { do: 'close-session'; reason: string }
  | { do: 'watch-stall' }
  | { do: 'stop-stall' }
  /** Pick the session's relay only as a last resort for a while. */
  | { do: 'avoid' }
  | { do: 'schedule-retry'; delayMs: number }
  | { do: 'cancel-retry' }
  /** Placement for a drain move (avoid and settle on the draining node first). Answer: 'move-placed'. */
  | { do: 'place-move' }
  | { do: 'open-move' }
  /** The standby becomes the current session; the old one closes (`why`). */
  | { do: 'promote'; why: string; closeOld: boolean }
  | { do: 'place-upgrade'; forceTcp: boolean }
  | { do: 'open-upgrade'; forceTcp: boolean }
  /** The upgrade's session becomes current; HLS closes. */
  | { do: 'finish-upgrade' }
  | { do: 'close-standby'; reason: string }
  /** Create the HLS session and show its element. */
  | { do: 'open-hls' }
  | { do: 'start-hls' }
  | { do: 'drop-hls' }
  /** Placement for an HLS drain move (the draining relay avoided). Answer: 'hls-move-placed'. */
  | { do: 'place-hls-move' }
  /** A second HLS session on the placement, in the spare element. Answer: 'hls-move-ready' or 'move-failed'. */
  | { do: 'open-hls-move' }
  /** The HLS move's session becomes the current one and its element is shown; the old one closes (`why`). */
  | { do: 'swap-hls'; why: string }
  | { do: 'seek-live' }
  | { do: 'schedule-upgrade'; delayMs: number }
  | { do: 'cancel-upgrade' }
  | { do: 'warn'; message: string }
  /** Close everything (sessions, HLS, timers) and detach the video. */
  | { do: 'close-all'; reason: string };

export type Transition = { next: LadderState; effects: Effect[] };

export function initialLadder(): LadderState {
  return {
    rung: 'idle',
    status: 'connecting',
    path: 'none',
    reason: 'idle',
    attempt: 0,
    upgradeAttempt: 0,
    played: false,
    standby: 'none',
    hlsReload: false,
    behindLive: 0,
    hlsReason: '',
    hlsWhy: '',
    moves: 0,
    failovers: 0,
  };
}
