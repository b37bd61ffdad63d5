import { describe, expect, it } from 'vitest';
import {
  type Effect,
  initialLadder,
  LADDER,
  type LadderEvent,
  type LadderPolicy,
  type LadderState,
  RUNGS,
  type Rung,
  type Surface,
  transition,
} from '../src/ladder.ts';

// Every row of the ladder's table (rung × event) has at least one case here; the
// first test fails when a row is added without one. Each case pins the next
// state's fields it is about and the whole list of effects, in order.

const policy: LadderPolicy = {
  retry: { initialDelayMs: 500, maxDelayMs: 10_000 },
  maxAttempts: Number.POSITIVE_INFINITY,
  upgrade: { initialDelayMs: 1000, maxDelayMs: 8000 },
  hlsFallback: true,
  forceTcp: false,
};
const page: Surface = { attached: true, hlsElement: true };
const noPage: Surface = { attached: false, hlsElement: false };

type Case = {
  name: string;
  state?: Partial<LadderState>;
  policy?: Partial<LadderPolicy>;
  event: LadderEvent;
  next: Partial<LadderState>;
  effects: Effect[];
};

const at = (rung: Rung, extra: Partial<LadderState> = {}): Partial<LadderState> => ({ rung, ...extra });
const r = (
  s: 'connecting' | 'connected' | 'failed' | 'closed',
  path: 'webrtc' | 'hls' | 'none',
  reason: string,
  error?: Error,
): Effect => (error ? { do: 'report', state: s, path, reason, error } : { do: 'report', state: s, path, reason });
const iceFailed = (extra: Partial<Extract<LadderEvent, { type: 'session-failed' }>> = {}): LadderEvent => ({
  type: 'session-failed',
  failure: { kind: 'ice-failed' },
  reason: 'ice-failed',
  standby: null,
  surface: page,
  ...extra,
});
const boom = new Error('x');
const closeAll = (reason: string): Effect[] => [{ do: 'close-all', reason }, r('closed', 'none', reason)];
const moveFailed: Case = {
  name: 'a drain move failed: warned, the standby forgotten',
  state: { standby: 'move' },
  event: { type: 'move-failed', message: 'drain move failed', current: true },
  next: { standby: 'none' },
  effects: [{ do: 'warn', message: 'drain move failed' }],
};
const rewindFrom = (rung: Rung, path: 'webrtc' | 'none'): Case => ({
  name: `rewind from ${rung}: WebRTC side closed, HLS from the relay, behind live`,
  state: { path, upgradeAttempt: 3 },
  event: { type: 'rewind', target: 10, surface: page },
  next: { rung: 'hls', behindLive: 10, hlsReason: 'rewind', upgradeAttempt: 0, standby: 'none' },
  effects: [
    { do: 'cancel-upgrade' },
    { do: 'cancel-retry' },
    { do: 'stop-stall' },
    { do: 'close-standby', reason: 'rewind' },
    { do: 'drop-session', sync: false },
    { do: 'close-session', reason: 'rewind' },
    { do: 'open-hls' },
    r('connecting', 'hls', 'rewind'),
    { do: 'start-hls' },
  ],
});

const cases: Record<string, Case[]> = {
  'idle × start': [
    {
      name: 'places the first session',
      event: { type: 'start' },
      next: at('placing'),
      effects: [r('connecting', 'none', 'placing'), { do: 'place', leaving: false }],
    },
  ],
  'idle × rewind': [rewindFrom('idle', 'none')],
  'idle × close': [
    { name: 'closes', event: { type: 'close', reason: 'bye' }, next: at('closed'), effects: closeAll('bye') },
  ],
  'idle × move-failed': [moveFailed],
  'placing × placed': [
    {
      name: 'opens and starts the session (first attempt)',
      event: { type: 'placed' },
      next: at('webrtc', { played: false }),
      effects: [{ do: 'open-session' }, r('connecting', 'webrtc', 'connecting'), { do: 'start-session' }],
    },
    {
      name: 'says reconnecting on a retry',
      state: { attempt: 2, played: true },
      event: { type: 'placed' },
      next: at('webrtc', { played: false }),
      effects: [{ do: 'open-session' }, r('connecting', 'webrtc', 'reconnecting (2)'), { do: 'start-session' }],
    },
  ],
  'placing × rewind': [rewindFrom('placing', 'none')],
  'placing × close': [
    { name: 'closes', event: { type: 'close', reason: 'bye' }, next: at('closed'), effects: closeAll('bye') },
  ],
  'placing × move-failed': [moveFailed],
  'webrtc × session-connecting': [
    {
      name: 'reports the session progress',
      event: { type: 'session-connecting', reason: 'joining' },
      next: at('webrtc'),
      effects: [r('connecting', 'webrtc', 'joining')],
    },
  ],
  'webrtc × session-connected': [
    {
      name: 'resets the attempts, marks played, watches for stalls',
      state: { attempt: 3 },
      event: { type: 'session-connected', reason: 'playing' },
      next: at('webrtc', { attempt: 0, played: true }),
      effects: [{ do: 'watch-stall' }, r('connected', 'webrtc', 'playing')],
    },
  ],
  'webrtc × session-closed': [
    {
      name: 'the stream ended: nothing plays',
      event: { type: 'session-closed', reason: 'stream over' },
      next: at('ended'),
      effects: [{ do: 'drop-session', sync: true }, r('closed', 'none', 'stream over')],
    },
  ],
  'webrtc × session-failed': [
    {
      name: 'transport failure with a page: HLS from the same relay at once, upgrade scheduled',
      event: iceFailed(),
      next: at('hls', { attempt: 1, hlsReason: 'fallback: ice-failed', hlsWhy: 'ice-failed', upgradeAttempt: 0 }),
      effects: [
        { do: 'drop-session', sync: true },
        { do: 'open-hls' },
        r('connecting', 'hls', 'fallback: ice-failed'),
        { do: 'start-hls' },
        { do: 'schedule-upgrade', delayMs: 1000 },
      ],
    },
    {
      name: 'transport failure without a page: retry with backoff, node avoided',
      state: { attempt: 2 },
      event: iceFailed({ surface: noPage, error: boom }),
      next: at('waiting', { attempt: 3 }),
      effects: [
        { do: 'drop-session', sync: true },
        { do: 'avoid' },
        r('connecting', 'none', 'ice-failed; retry in 2s', boom),
        { do: 'schedule-retry', delayMs: 2000 },
      ],
    },
    {
      name: 'HLS fallback off: retry (the retry options give the delay)',
      policy: { hlsFallback: false, retry: { initialDelayMs: 20, maxDelayMs: 50 } },
      state: { attempt: 4 },
      event: iceFailed(),
      next: at('waiting', { attempt: 5 }),
      effects: [
        { do: 'drop-session', sync: true },
        { do: 'avoid' },
        r('connecting', 'none', 'ice-failed; retry in 0.1s'),
        { do: 'schedule-retry', delayMs: 50 },
      ],
    },
    {
      name: 'a fatal rejection: give up',
      event: iceFailed({
        failure: { kind: 'rejected', method: 'join', code: 'forbidden' },
        reason: 'join-forbidden',
        error: boom,
      }),
      next: at('failed', { attempt: 1 }),
      effects: [{ do: 'drop-session', sync: true }, r('failed', 'none', 'join-forbidden', boom)],
    },
    {
      name: 'an unsupported browser: give up',
      event: iceFailed({ failure: { kind: 'unsupported-browser' }, reason: 'unsupported-browser' }),
      next: at('failed'),
      effects: [{ do: 'drop-session', sync: true }, r('failed', 'none', 'unsupported-browser')],
    },
    {
      name: 'maxAttempts reached: give up',
      policy: { maxAttempts: 3 },
      state: { attempt: 2 },
      event: iceFailed(),
      next: at('failed', { attempt: 3 }),
      effects: [{ do: 'drop-session', sync: true }, r('failed', 'none', 'ice-failed')],
    },
    {
      name: "a full node ('full', every worker at capacity): leave it, retry placement",
      event: iceFailed({ failure: { kind: 'rejected', method: 'join', code: 'full' }, reason: 'join-full' }),
      next: at('waiting', { attempt: 1 }),
      effects: [
        { do: 'drop-session', sync: true },
        { do: 'avoid' },
        r('connecting', 'none', 'join-full; retry in 0.5s'),
        { do: 'schedule-retry', delayMs: 500 },
      ],
    },
    {
      name: "'unavailable' (Redis down on that node): the same",
      event: iceFailed({
        failure: { kind: 'rejected', method: 'join', code: 'unavailable' },
        reason: 'join-unavailable',
      }),
      next: at('waiting', { attempt: 1 }),
      effects: [
        { do: 'drop-session', sync: true },
        { do: 'avoid' },
        r('connecting', 'none', 'join-unavailable; retry in 0.5s'),
        { do: 'schedule-retry', delayMs: 500 },
      ],
    },
    {
      name: 'stream not live: retry without blaming the node',
      event: iceFailed({ failure: { kind: 'rejected', method: 'join', code: 'not_found' }, reason: 'join-not_found' }),
      next: at('waiting', { attempt: 1 }),
      effects: [
        { do: 'drop-session', sync: true },
        r('connecting', 'none', 'join-not_found; retry in 0.5s'),
        { do: 'schedule-retry', delayMs: 500 },
      ],
    },
    {
      name: 'a playing node lost its signaling: fail over at once, leaving it',
      state: { played: true, path: 'webrtc', status: 'connected' },
      event: iceFailed({ failure: { kind: 'signaling-closed', detail: 'gone' }, reason: 'signaling-closed: gone' }),
      next: at('placing', { attempt: 1, failovers: 1 }),
      effects: [
        { do: 'drop-session', sync: true },
        { do: 'avoid' },
        r('connecting', 'none', 'signaling-closed: gone; failing over'),
        r('connecting', 'none', 'placing (1)'),
        { do: 'place', leaving: true },
      ],
    },
    {
      name: 'the node went away mid-move: the live standby takes over',
      state: { standby: 'move', moves: 1 },
      event: iceFailed({ standby: { connected: true, reason: 'playing' } }),
      next: at('webrtc', { standby: 'none', moves: 2, played: true, attempt: 0 }),
      effects: [
        { do: 'promote', why: 'moved early', closeOld: false },
        r('connected', 'webrtc', 'playing (moved early)'),
      ],
    },
    {
      name: 'a fallback with no HLS element: failed',
      event: iceFailed({ surface: { attached: true, hlsElement: false } }),
      next: at('failed', { attempt: 1 }),
      effects: [{ do: 'drop-session', sync: true }, r('failed', 'none', 'ice-failed; no video element for HLS')],
    },
  ],
  'webrtc × stalled': [
    {
      name: 'no frames: the session is closed and counts as a transport failure',
      state: { played: true },
      event: { type: 'stalled', surface: page },
      next: at('hls', { attempt: 1, hlsReason: 'fallback: no-frames' }),
      effects: [
        { do: 'stop-stall' },
        { do: 'drop-session', sync: false },
        { do: 'close-session', reason: 'no-frames' },
        { do: 'open-hls' },
        r('connecting', 'hls', 'fallback: no-frames'),
        { do: 'start-hls' },
        { do: 'schedule-upgrade', delayMs: 1000 },
      ],
    },
  ],
  'webrtc × drain': [
    {
      name: 'looks for another relay',
      event: { type: 'drain', reason: 'shutdown' },
      next: at('webrtc'),
      effects: [{ do: 'place-move' }],
    },
    {
      name: 'a move under way: ignored',
      state: { standby: 'move' },
      event: { type: 'drain', reason: 'shutdown' },
      next: at('webrtc', { standby: 'move' }),
      effects: [],
    },
  ],
  'webrtc × move-placed': [
    {
      name: 'another relay: the standby opens',
      state: { status: 'connected', path: 'webrtc' },
      event: { type: 'move-placed', sameNode: false, reason: 'shutdown' },
      next: at('webrtc', { standby: 'move' }),
      effects: [{ do: 'open-move' }, r('connected', 'webrtc', 'moving: shutdown')],
    },
    {
      name: 'no other relay: a warning, stay',
      event: { type: 'move-placed', sameNode: true, reason: 'shutdown' },
      next: at('webrtc', { standby: 'none' }),
      effects: [{ do: 'warn', message: 'node draining (shutdown) but no other relay to move to' }],
    },
  ],
  'webrtc × move-ready': [
    {
      name: 'make before break: promote, close the old one',
      state: { standby: 'move' },
      event: { type: 'move-ready', connected: true, sessionReason: 'playing' },
      next: at('webrtc', { standby: 'none', moves: 1, played: true }),
      effects: [{ do: 'promote', why: 'moved', closeOld: true }, r('connected', 'webrtc', 'playing (moved)')],
    },
    {
      name: 'promoted before connected (frame wait timed out): its own reason',
      state: { standby: 'move' },
      event: { type: 'move-ready', connected: false, sessionReason: 'ice' },
      next: at('webrtc', { standby: 'none', moves: 1, played: false }),
      effects: [{ do: 'promote', why: 'moved', closeOld: true }, r('connecting', 'webrtc', 'ice')],
    },
  ],
  'webrtc × rewind': [rewindFrom('webrtc', 'webrtc')],
  'webrtc × close': [
    { name: 'closes', event: { type: 'close', reason: 'bye' }, next: at('closed'), effects: closeAll('bye') },
  ],
  'webrtc × move-failed': [
    moveFailed,
    {
      name: 'a superseded move failed: only the warning',
      state: { standby: 'move' },
      event: { type: 'move-failed', message: 'm', current: false },
      next: { standby: 'move' },
      effects: [{ do: 'warn', message: 'm' }],
    },
  ],
  'waiting × retry-due': [
    {
      name: 'places again, with the attempt in the reason',
      state: { attempt: 2 },
      event: { type: 'retry-due' },
      next: at('placing'),
      effects: [r('connecting', 'none', 'placing (2)'), { do: 'place', leaving: false }],
    },
  ],
  'waiting × rewind': [rewindFrom('waiting', 'none')],
  'waiting × close': [
    { name: 'closes', event: { type: 'close', reason: 'bye' }, next: at('closed'), effects: closeAll('bye') },
  ],
  'waiting × move-failed': [moveFailed],
  'hls × hls-connecting': [
    {
      name: 'reports HLS progress under its reason',
      state: { hlsReason: 'fallback: ice-failed' },
      event: { type: 'hls-connecting', reason: 'loading' },
      next: at('hls'),
      effects: [r('connecting', 'hls', 'fallback: ice-failed; loading')],
    },
  ],
  'hls × hls-connected': [
    {
      name: 'plays',
      state: { hlsReason: 'fallback: ice-failed' },
      event: { type: 'hls-connected' },
      next: at('hls'),
      effects: [r('connected', 'hls', 'fallback: ice-failed')],
    },
  ],
  'hls × hls-failed': [
    {
      name: 'HLS failed too: back to live WebRTC retries, one backoff step further',
      state: { attempt: 1, behindLive: 5, standby: 'upgrade', hlsWhy: 'ice-failed' },
      event: { type: 'hls-failed', reason: 'hls-timeout' },
      next: at('waiting', { behindLive: 0, standby: 'none' }),
      effects: [
        { do: 'drop-hls' },
        { do: 'cancel-upgrade' },
        { do: 'close-standby', reason: 'hls failed' },
        r('connecting', 'none', 'ice-failed; hls hls-timeout; retry in 2s'),
        { do: 'schedule-retry', delayMs: 2000 },
      ],
    },
    {
      name: 'capped by the retry options',
      state: { attempt: 9, hlsWhy: 'ice-failed' },
      event: { type: 'hls-failed', reason: 'hls-timeout' },
      next: at('waiting'),
      effects: [
        { do: 'drop-hls' },
        { do: 'cancel-upgrade' },
        { do: 'close-standby', reason: 'hls failed' },
        r('connecting', 'none', 'ice-failed; hls hls-timeout; retry in 10s'),
        { do: 'schedule-retry', delayMs: 10_000 },
      ],
    },
    {
      name: 'the relay being left failed before the HLS move was ready: the move takes over at once',
      state: { standby: 'hls-move', hlsReason: 'fallback: ice-failed', moves: 1 },
      event: { type: 'hls-failed', reason: 'hls-error: manifestLoadError', moving: { connected: false } },
      next: at('hls', { standby: 'none', moves: 2 }),
      effects: [{ do: 'swap-hls', why: 'moved early' }, r('connecting', 'hls', 'fallback: ice-failed (moved early)')],
    },
    {
      name: 'an HLS move whose session is gone does not save it: retries, the move closed with the standby',
      state: { standby: 'hls-move', attempt: 1, hlsWhy: 'ice-failed' },
      event: { type: 'hls-failed', reason: 'hls-timeout', moving: null },
      next: at('waiting', { standby: 'none' }),
      effects: [
        { do: 'drop-hls' },
        { do: 'cancel-upgrade' },
        { do: 'close-standby', reason: 'hls failed' },
        r('connecting', 'none', 'ice-failed; hls hls-timeout; retry in 2s'),
        { do: 'schedule-retry', delayMs: 2000 },
      ],
    },
  ],
  'hls × hls-drain': [
    {
      name: 'the HLS relay drains: placement for a move',
      event: { type: 'hls-drain', target: 'http://relay-b' },
      next: at('hls', { standby: 'none' }),
      effects: [{ do: 'place-hls-move' }],
    },
    {
      name: 'a move or a WebRTC upgrade already under way: nothing (the relay says it again)',
      state: { standby: 'upgrade' },
      event: { type: 'hls-drain', target: 'http://relay-b' },
      next: at('hls', { standby: 'upgrade' }),
      effects: [],
    },
  ],
  'hls × hls-move-placed': [
    {
      name: 'another relay: a second HLS session there, in the spare element',
      state: { status: 'connected', hlsReason: 'fallback: ice-failed' },
      event: { type: 'hls-move-placed', sameNode: false, target: 'http://relay-b' },
      next: at('hls', { standby: 'hls-move', hlsReload: false }),
      effects: [r('connected', 'hls', 'fallback: ice-failed; moving: relay draining'), { do: 'open-hls-move' }],
    },
    {
      name: 'nowhere else to go: warned, HLS stays',
      event: { type: 'hls-move-placed', sameNode: true, target: 'http://relay-a' },
      next: at('hls', { standby: 'none' }),
      effects: [{ do: 'warn', message: 'relay draining (to http://relay-a) but no other relay to move HLS to' }],
    },
  ],
  'hls × hls-languages': [
    {
      name: 'other languages on the relay: a second hls.js there, a reload (not a move)',
      state: { status: 'connected', hlsReason: 'fallback: ice-failed' },
      event: { type: 'hls-languages' },
      next: at('hls', { standby: 'hls-move', hlsReload: true }),
      effects: [
        r('connected', 'hls', 'fallback: ice-failed; reloading: commentary languages changed'),
        { do: 'open-hls-move' },
      ],
    },
    {
      name: 'a move under way reads the new playlist anyway: nothing',
      state: { standby: 'hls-move', hlsReload: false },
      event: { type: 'hls-languages' },
      next: at('hls', { standby: 'hls-move', hlsReload: false }),
      effects: [],
    },
  ],
  'hls × hls-move-ready': [
    {
      name: 'the reload plays: swapped in, not counted as a move',
      state: { standby: 'hls-move', hlsReload: true, hlsReason: 'fallback: ice-failed' },
      event: { type: 'hls-move-ready', connected: true },
      next: at('hls', { standby: 'none', hlsReload: false, moves: 0 }),
      effects: [
        { do: 'swap-hls', why: 'reloaded: languages changed' },
        r('connected', 'hls', 'fallback: ice-failed (reloaded: languages changed)'),
      ],
    },
    {
      name: 'the new relay presents frames: swapped in, counted as a move',
      state: { standby: 'hls-move', hlsReason: 'fallback: ice-failed' },
      event: { type: 'hls-move-ready', connected: true },
      next: at('hls', { standby: 'none', moves: 1 }),
      effects: [{ do: 'swap-hls', why: 'moved' }, r('connected', 'hls', 'fallback: ice-failed (moved)')],
    },
    {
      name: 'without a spare element: swapped before it plays (it starts in the old one’s element)',
      state: { standby: 'hls-move', hlsReason: 'rewind' },
      event: { type: 'hls-move-ready', connected: false },
      next: at('hls', { standby: 'none', moves: 1 }),
      effects: [{ do: 'swap-hls', why: 'moved' }, r('connecting', 'hls', 'rewind (moved)')],
    },
    {
      name: 'no move under way any more: nothing',
      event: { type: 'hls-move-ready', connected: true },
      next: at('hls', { standby: 'none', moves: 0 }),
      effects: [],
    },
  ],
  'hls × upgrade-due': [
    {
      name: 'TCP first (even tries)',
      event: { type: 'upgrade-due' },
      next: at('hls', { upgradeAttempt: 1 }),
      effects: [{ do: 'place-upgrade', forceTcp: true }],
    },
    {
      name: 'UDP on odd tries',
      state: { upgradeAttempt: 1 },
      event: { type: 'upgrade-due' },
      next: at('hls', { upgradeAttempt: 2 }),
      effects: [{ do: 'place-upgrade', forceTcp: false }],
    },
    {
      name: 'an upgrade already under way: nothing',
      state: { standby: 'upgrade', upgradeAttempt: 1 },
      event: { type: 'upgrade-due' },
      next: at('hls', { upgradeAttempt: 1 }),
      effects: [],
    },
    {
      name: 'an HLS move under way: tried again later',
      state: { standby: 'hls-move', upgradeAttempt: 1 },
      event: { type: 'upgrade-due' },
      next: at('hls', { upgradeAttempt: 1, standby: 'hls-move' }),
      effects: [{ do: 'schedule-upgrade', delayMs: 2000 }],
    },
  ],
  'hls × upgrade-placed': [
    {
      name: 'opens the background session',
      event: { type: 'upgrade-placed', forceTcp: true },
      next: at('hls', { standby: 'upgrade' }),
      effects: [{ do: 'open-upgrade', forceTcp: true }],
    },
  ],
  'hls × upgrade-rendered': [
    {
      name: 'painted: switch to WebRTC, HLS closes',
      state: { standby: 'upgrade', upgradeAttempt: 1, attempt: 2 },
      event: { type: 'upgrade-rendered', forceTcp: true, painted: true },
      next: at('webrtc', { standby: 'none', attempt: 0, played: true }),
      effects: [
        { do: 'cancel-upgrade' },
        { do: 'finish-upgrade' },
        { do: 'watch-stall' },
        r('connected', 'webrtc', 'upgraded from hls (tcp)'),
      ],
    },
    {
      name: 'not painted on an early try: stay on HLS, try again',
      state: { standby: 'upgrade', upgradeAttempt: 2 },
      event: { type: 'upgrade-rendered', forceTcp: false, painted: false },
      next: at('hls', { standby: 'none' }),
      effects: [
        { do: 'close-standby', reason: 'upgrade failed' },
        { do: 'schedule-upgrade', delayMs: 4000 },
      ],
    },
    {
      name: 'not painted from the third try: switch anyway',
      state: { standby: 'upgrade', upgradeAttempt: 3 },
      event: { type: 'upgrade-rendered', forceTcp: false, painted: false },
      next: at('webrtc'),
      effects: [
        { do: 'cancel-upgrade' },
        { do: 'finish-upgrade' },
        { do: 'watch-stall' },
        r('connected', 'webrtc', 'upgraded from hls (udp)'),
      ],
    },
    {
      name: 'the viewer rewound meanwhile: no switch, no new try',
      state: { standby: 'upgrade', upgradeAttempt: 1, behindLive: 10 },
      event: { type: 'upgrade-rendered', forceTcp: true, painted: true },
      next: at('hls', { standby: 'none' }),
      effects: [{ do: 'close-standby', reason: 'upgrade failed' }],
    },
  ],
  'hls × upgrade-failed': [
    {
      name: 'tries again later (upgrade backoff, capped)',
      state: { standby: 'upgrade', upgradeAttempt: 4 },
      event: { type: 'upgrade-failed', current: true },
      next: at('hls', { standby: 'none' }),
      effects: [
        { do: 'close-standby', reason: 'upgrade failed' },
        { do: 'schedule-upgrade', delayMs: 8000 },
      ],
    },
    {
      name: 'a superseded try: only the next schedule',
      state: { standby: 'upgrade', upgradeAttempt: 1 },
      event: { type: 'upgrade-failed', current: false },
      next: at('hls', { standby: 'upgrade' }),
      effects: [{ do: 'schedule-upgrade', delayMs: 2000 }],
    },
  ],
  'hls × rewind': [
    {
      name: 'further back on HLS: no upgrade meanwhile',
      state: { behindLive: 10 },
      event: { type: 'rewind', target: 20, surface: page },
      next: at('hls', { behindLive: 20 }),
      effects: [{ do: 'cancel-upgrade' }],
    },
  ],
  'hls × rewound': [
    {
      name: 'reports how far behind live',
      state: { behindLive: 10 },
      event: { type: 'rewound', target: 10, behind: 9.6 },
      next: at('hls', { behindLive: 9.6 }),
      effects: [r('connected', 'hls', 'rewind: 10 s behind live')],
    },
    {
      name: 'superseded by a later rewind: nothing',
      state: { behindLive: 20 },
      event: { type: 'rewound', target: 10, behind: 10 },
      next: at('hls', { behindLive: 20 }),
      effects: [],
    },
  ],
  'hls × go-live': [
    {
      name: 'seeks to live, UDP first',
      state: { behindLive: 10, status: 'connected', path: 'hls' },
      event: { type: 'go-live' },
      next: at('hls', { behindLive: 0, upgradeAttempt: 2 }),
      effects: [{ do: 'seek-live' }, r('connected', 'hls', 'going live'), { do: 'place-upgrade', forceTcp: false }],
    },
    { name: 'already live: nothing', event: { type: 'go-live' }, next: at('hls'), effects: [] },
  ],
  'hls × close': [
    { name: 'closes', event: { type: 'close', reason: 'bye' }, next: at('closed'), effects: closeAll('bye') },
  ],
  'hls × move-failed': [moveFailed],
  'ended × move-ready': [
    {
      name: 'a move under way still completes',
      state: { standby: 'move' },
      event: { type: 'move-ready', connected: true, sessionReason: 'playing' },
      next: at('webrtc', { standby: 'none', moves: 1 }),
      effects: [{ do: 'promote', why: 'moved', closeOld: true }, r('connected', 'webrtc', 'playing (moved)')],
    },
  ],
  'ended × rewind': [rewindFrom('ended', 'none')],
  'ended × close': [
    { name: 'closes', event: { type: 'close', reason: 'bye' }, next: at('closed'), effects: closeAll('bye') },
  ],
  'ended × move-failed': [moveFailed],
  'failed × rewind': [rewindFrom('failed', 'none')],
  'failed × close': [
    { name: 'closes', event: { type: 'close', reason: 'bye' }, next: at('closed'), effects: closeAll('bye') },
  ],
  'failed × move-failed': [moveFailed],
};

const rows = RUNGS.flatMap((rung) => Object.keys(LADDER[rung]).map((event) => `${rung} × ${event}`));

describe('ladder table', () => {
  it('has a test case for every row, and no case for a row that does not exist', () => {
    expect(Object.keys(cases).sort()).toEqual([...rows].sort());
    console.log(`ladder: ${RUNGS.length} rungs, ${rows.length} rows, ${Object.values(cases).flat().length} cases`);
  });

  for (const [row, list] of Object.entries(cases)) {
    const rung = row.split(' × ')[0] as Rung;
    for (const c of list) {
      it(`${row}: ${c.name}`, () => {
        const state = { ...initialLadder(), ...c.state, rung };
        const { next, effects } = transition(state, c.event, { ...policy, ...c.policy });
        expect(effects).toEqual(c.effects);
        expect(next).toMatchObject(c.next);
      });
    }
  }

  it('ignores an event that has no row in the rung (state unchanged, no effects)', () => {
    for (const rung of RUNGS) {
      const state = { ...initialLadder(), rung };
      const { next, effects } = transition(state, { type: 'upgrade-due' }, policy);
      if (rung === 'hls') continue;
      expect(effects).toEqual([]);
      expect(next).toEqual(state);
    }
    const closed = { ...initialLadder(), rung: 'closed' as const };
    expect(transition(closed, { type: 'close', reason: 'again' }, policy)).toEqual({ next: closed, effects: [] });
  });

  it('is pure: the given state is not changed', () => {
    const state = { ...initialLadder(), rung: 'webrtc' as const, attempt: 1 };
    const copy = structuredClone(state);
    transition(state, iceFailed(), policy);
    expect(state).toEqual(copy);
  });
});
