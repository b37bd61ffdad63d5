import { backoffDelay } from '@matchmesh/protocol';
import { isFatal, isNotLive, isSignalingLoss, isTransportFailure, type SessionFailure } from './failure.ts';
import { hlsMoveRows, swapHlsEarly } from './ladderHlsMove.ts';
import type { PlayerPath } from './PlayerTypes.ts';
import type { SessionState } from './SessionLifecycle.ts';

/*
 * The delivery ladder as a table: rung × event → next state + effects.
 * `transition` is pure; the Player's LadderDriver owns the sessions, timers
 * and video elements and carries out the effects in order. Events about a
 * session the player no longer holds (a stale standby, an old session) are
 * dropped by the driver before they get here: the table decides, the driver
 * matches objects.
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

/** Builds one transition: state updates and effects, in order. */
export class Step {
  next: LadderState;
  readonly effects: Effect[] = [];

  constructor(
    state: LadderState,
    readonly policy: LadderPolicy,
  ) {
    this.next = { ...state };
  }

  set(patch: Partial<LadderState>): this {
    this.next = { ...this.next, ...patch };
    return this;
  }

  do(...effects: Effect[]): this {
    this.effects.push(...effects);
    return this;
  }

  /** A 'state' event (the Player sends it only when state, path or reason changes). */
  report(state: SessionState, path: PlayerPath, reason: string, error?: Error): this {
    this.next = { ...this.next, status: state, path, reason };
    return this.do(error ? { do: 'report', state, path, reason, error } : { do: 'report', state, path, reason });
  }

  done(): Transition {
    return { next: this.next, effects: this.effects };
  }
}

type Handler<T extends LadderEventType> = (s: Step, event: Extract<LadderEvent, { type: T }>) => void;
export type Row = { [T in LadderEventType]?: Handler<T> };

// ---------------------------------------------------------------- the moves the rows share

/** Look for a relay and open a WebRTC session there. */
function place(s: Step, leaving: boolean): void {
  const { attempt, path } = s.next;
  s.set({ rung: 'placing' })
    .report('connecting', path, attempt === 0 ? 'placing' : `placing (${attempt})`)
    .do({ do: 'place', leaving });
}

/** Start HLS: a fallback (WebRTC is retried in the background) or a rewind. */
function startHls(s: Step, why: string, fallback: boolean, surface: Surface): void {
  if (!surface.hlsElement) {
    s.set({ rung: 'failed' }).report('failed', 'none', `${why}; no video element for HLS`);
    return;
  }
  const reason = fallback ? `fallback: ${why}` : why;
  s.set({ rung: 'hls', hlsReason: reason, hlsWhy: why })
    .do({ do: 'open-hls' })
    .report('connecting', 'hls', reason)
    .do({ do: 'start-hls' })
    .set({ upgradeAttempt: 0 });
  if (fallback) scheduleUpgrade(s);
}

function scheduleUpgrade(s: Step): void {
  // A viewer watching a replay stays on it until they go live.
  if (s.next.behindLive > 0) return;
  s.do({ do: 'schedule-upgrade', delayMs: backoffDelay(s.policy.upgrade, s.next.upgradeAttempt) });
}

/** While on HLS: a WebRTC session in the background, TCP first, then UDP, alternating. */
function tryUpgrade(s: Step): void {
  if (s.next.standby !== 'none') return;
  const forceTcp = s.next.upgradeAttempt % 2 === 0 || s.policy.forceTcp;
  s.set({ upgradeAttempt: s.next.upgradeAttempt + 1 }).do({ do: 'place-upgrade', forceTcp });
}

/** The current session failed (it is already dropped): give up, fail over, fall back to HLS, or retry. */
function onFailure(s: Step, failure: SessionFailure, reason: string, error: Error | undefined, surface: Surface): void {
  const { policy } = s;
  const played = s.next.played;
  const attempt = s.next.attempt + 1;
  s.set({ attempt });
  if (isFatal(failure) || attempt >= policy.maxAttempts) {
    s.set({ rung: 'failed' }).report('failed', 'none', reason, error);
    return;
  }
  // A node that was playing and whose signaling went away (killed, restarted)
  // is left for another relay of the region, at once: the viewer was watching.
  if (played && isSignalingLoss(failure)) {
    s.do({ do: 'avoid' })
      .set({ failovers: s.next.failovers + 1 })
      .report('connecting', 'none', `${reason}; failing over`, error);
    place(s, true);
    return;
  }
  // The node lost a stream the viewer was watching (its worker died and took
  // the router along; a fan-out worker's crash ends only its viewers'
  // outlet): the node serves it again from a live worker at once, so rejoin
  // now, without blaming the node. Only the first failure since playing: a
  // stream that is really over answers not_found, and that waits with backoff.
  if (played && attempt === 1 && failure.kind === 'stream-ended') {
    s.report('connecting', 'none', `${reason}; rejoining`, error);
    place(s, false);
    return;
  }
  // WebRTC cannot get through to this viewer: HLS now, WebRTC again later.
  if (policy.hlsFallback && isTransportFailure(failure) && surface.attached) {
    startHls(s, reason, true, surface);
    return;
  }
  // A stream that is not live yet is not the node's fault: every node would say so.
  if (!isNotLive(failure)) s.do({ do: 'avoid' });
  const delay = backoffDelay(policy.retry, attempt - 1);
  s.set({ rung: 'waiting' })
    .report('connecting', 'none', `${reason}; retry in ${Math.round(delay / 100) / 10}s`, error)
    .do({ do: 'schedule-retry', delayMs: delay });
}

function close(s: Step, event: { reason: string }): void {
  s.set({ rung: 'closed', standby: 'none' })
    .do({ do: 'close-all', reason: event.reason })
    .report('closed', 'none', event.reason);
}

/** Rewind from a rung without HLS: the WebRTC side closes (nobody needs live while watching a replay). */
function rewindOntoHls(s: Step, event: Extract<LadderEvent, { type: 'rewind' }>): void {
  s.do({ do: 'cancel-upgrade' }, { do: 'cancel-retry' }, { do: 'stop-stall' });
  s.do({ do: 'close-standby', reason: 'rewind' })
    .set({ standby: 'none' })
    .do({ do: 'drop-session', sync: false }, { do: 'close-session', reason: 'rewind' });
  startHls(s, 'rewind', false, event.surface);
  s.set({ behindLive: event.target });
}

// ---------------------------------------------------------------- rows shared by several rungs

const sessionRows: Row = {
  'session-connecting': (s, e) => {
    s.report('connecting', 'webrtc', e.reason);
  },
  'session-connected': (s, e) => {
    s.set({ attempt: 0, played: true }).do({ do: 'watch-stall' }).report('connected', 'webrtc', e.reason);
  },
  'session-closed': (s, e) => {
    // Only the stream ending (or our own close) closes a session.
    s.set({ rung: 'ended' }).do({ do: 'drop-session', sync: true }).report('closed', 'none', e.reason);
  },
  'session-failed': (s, e) => {
    // The node went away while we were moving off it: the standby takes over now.
    if (s.next.standby === 'move' && e.standby) {
      promote(s, 'moved early', false, e.standby);
      return;
    }
    s.do({ do: 'drop-session', sync: true });
    onFailure(s, e.failure, e.reason, e.error, e.surface);
  },
  stalled: (s, e) => {
    s.do({ do: 'stop-stall' }, { do: 'drop-session', sync: false }, { do: 'close-session', reason: 'no-frames' });
    onFailure(s, { kind: 'no-frames' }, 'no-frames', undefined, e.surface);
  },
  drain: (s) => {
    if (s.next.standby !== 'none') return;
    s.do({ do: 'place-move' });
  },
  'move-placed': (s, e) => {
    if (e.sameNode) {
      s.do({ do: 'warn', message: `node draining (${e.reason}) but no other relay to move to` });
      return;
    }
    s.set({ standby: 'move' }).do({ do: 'open-move' }).report(s.next.status, s.next.path, `moving: ${e.reason}`);
  },
  'move-ready': (s, e) => {
    promote(s, 'moved', true, { connected: e.connected, reason: e.sessionReason });
  },
};

/** The standby session becomes the current one (make before break). */
function promote(s: Step, why: string, closeOld: boolean, standby: { connected: boolean; reason: string }): void {
  s.set({ standby: 'none', rung: 'webrtc', moves: s.next.moves + 1, played: standby.connected })
    .do({ do: 'promote', why, closeOld })
    .report(
      standby.connected ? 'connected' : 'connecting',
      'webrtc',
      standby.connected ? `playing (${why})` : standby.reason,
    );
}

/** In every open rung: closing, and a drain move's failure (reported wherever the player is by then). */
const closeRow: Row = {
  close: close,
  'move-failed': (s, e) => {
    if (e.current) s.set({ standby: 'none' });
    s.do({ do: 'warn', message: e.message });
  },
};
/** Rungs without HLS can rewind onto it (the relay's HLS window). */
const rewindRow: Row = { rewind: rewindOntoHls };

// ---------------------------------------------------------------- the table

/**
 * rung × event → handler. An event missing from a rung's row is ignored
 * there (it belongs to another rung, or arrived after the player moved on).
 */
export const LADDER: { readonly [R in Rung]: Row } = {
  idle: {
    start: (s) => place(s, false),
    ...rewindRow,
    ...closeRow,
  },
  placing: {
    placed: (s) => {
      const attempt = s.next.attempt;
      s.set({ rung: 'webrtc', played: false })
        .do({ do: 'open-session' })
        .report('connecting', 'webrtc', attempt === 0 ? 'connecting' : `reconnecting (${attempt})`)
        .do({ do: 'start-session' });
    },
    ...rewindRow,
    ...closeRow,
  },
  webrtc: {
    ...sessionRows,
    ...rewindRow,
    ...closeRow,
  },
  waiting: {
    'retry-due': (s) => place(s, false),
    ...rewindRow,
    ...closeRow,
  },
  hls: {
    'hls-connecting': (s, e) => {
      s.report('connecting', 'hls', `${s.next.hlsReason}; ${e.reason}`);
    },
    'hls-connected': (s) => {
      s.report('connected', 'hls', s.next.hlsReason);
    },
    'hls-failed': (s, e) => {
      // The relay we were moving off went away first: the move's session takes over now.
      if (s.next.standby === 'hls-move' && e.moving) {
        swapHlsEarly(s, e.moving.connected);
        return;
      }
      // HLS did not work either: back to retrying WebRTC with backoff (and to live).
      s.set({ behindLive: 0 }).do(
        { do: 'drop-hls' },
        { do: 'cancel-upgrade' },
        { do: 'close-standby', reason: 'hls failed' },
      );
      // One step further than the WebRTC retry: HLS failing too means more than a blip.
      const delay = backoffDelay(s.policy.retry, s.next.attempt + 1);
      s.set({ rung: 'waiting', standby: 'none' })
        .report('connecting', 'none', `${s.next.hlsWhy}; hls ${e.reason}; retry in ${delay / 1000}s`)
        .do({ do: 'schedule-retry', delayMs: delay });
    },
    'upgrade-due': (s) => {
      // An HLS drain move is under way: WebRTC is tried once it is done.
      if (s.next.standby === 'hls-move') scheduleUpgrade(s);
      else tryUpgrade(s);
    },
    'upgrade-placed': (s, e) => {
      s.set({ standby: 'upgrade' }).do({ do: 'open-upgrade', forceTcp: e.forceTcp });
    },
    'upgrade-rendered': (s, e) => {
      // Swap only once the WebRTC picture is painted (no stale frame on screen); a browser that
      // never reports the hidden element's frames is not kept on HLS for ever: from the third try, swap anyway.
      if (s.next.behindLive > 0 || (!e.painted && s.next.upgradeAttempt < 3)) {
        s.set({ standby: 'none' }).do({ do: 'close-standby', reason: 'upgrade failed' });
        scheduleUpgrade(s);
        return;
      }
      s.set({ rung: 'webrtc', standby: 'none', attempt: 0, played: true })
        .do({ do: 'cancel-upgrade' }, { do: 'finish-upgrade' }, { do: 'watch-stall' })
        .report('connected', 'webrtc', `upgraded from hls (${e.forceTcp ? 'tcp' : 'udp'})`);
    },
    'upgrade-failed': (s, e) => {
      if (e.current) s.set({ standby: 'none' }).do({ do: 'close-standby', reason: 'upgrade failed' });
      scheduleUpgrade(s);
    },
    rewind: (s, e) => {
      s.do({ do: 'cancel-upgrade' }).set({ behindLive: e.target });
    },
    rewound: (s, e) => {
      // A later rewind or going live has moved on meanwhile.
      if (s.next.behindLive !== e.target) return;
      s.set({ behindLive: e.behind }).report('connected', 'hls', `rewind: ${Math.round(e.behind)} s behind live`);
    },
    'go-live': (s) => {
      if (s.next.behindLive === 0) return;
      s.set({ behindLive: 0 }).do({ do: 'seek-live' }).report(s.next.status, 'hls', 'going live');
      s.set({ upgradeAttempt: 1 }); // UDP first
      tryUpgrade(s);
    },
    ...hlsMoveRows,
    ...closeRow,
  },
  ended: {
    // A drain move under way when the old session closed still completes.
    'move-ready': sessionRows['move-ready'],
    ...rewindRow,
    ...closeRow,
  },
  failed: {
    ...rewindRow,
    ...closeRow,
  },
  closed: {},
};

/** The ladder's one step: what `event` does in `state`, under `policy`. Pure. */
export function transition(state: LadderState, event: LadderEvent, policy: LadderPolicy): Transition {
  const handler = LADDER[state.rung][event.type] as Handler<LadderEventType> | undefined;
  const step = new Step(state, policy);
  // Narrowed by the table's type: the handler stored under a type takes that type's event.
  handler?.(step, event as never);
  return step.done();
}
