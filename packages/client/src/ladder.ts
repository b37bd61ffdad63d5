import { backoffDelay } from '@matchmesh/protocol';
import { hlsMoveRows, swapHlsEarly } from './ladderHlsMove.ts';
import { close, onFailure, place, promote, rewindOntoHls, scheduleUpgrade, tryUpgrade } from './ladderMoves.ts';
import { type Handler, type Row, Step } from './ladderStep.ts';
import type { LadderEvent, LadderEventType, LadderPolicy, LadderState, Rung, Transition } from './ladderTypes.ts';

/*
 * The delivery ladder as a table: rung × event → next state + effects.
 * `transition` is pure; the Player's LadderDriver owns the sessions, timers
 * and video elements and carries out the effects in order. Events about a
 * session the player no longer holds (a stale standby, an old session) are
 * dropped by the driver before they get here: the table decides, the driver
 * matches objects.
 *
 * The vocabulary (rungs, state, events, effects) is in ladderTypes.ts, the
 * transition builder in ladderStep.ts, the moves rows share in ladderMoves.ts.
 */

export { type Row, Step } from './ladderStep.ts';
export {
  type Effect,
  initialLadder,
  type LadderEvent,
  type LadderEventType,
  type LadderPolicy,
  type LadderState,
  RUNGS,
  type Rung,
  type Surface,
  type Transition,
} from './ladderTypes.ts';

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
