import type { RtpCapabilities } from '@matchmesh/protocol';
import { failureOf, type SessionFailure } from './failure.ts';
import { HlsSession } from './HlsSession.ts';
import type { LadderEvent, LadderState, Surface } from './ladder.ts';
import type { EffectSubject } from './ladderTasks.ts';
import type { PlayerEvents, PlayerOptions } from './PlayerTypes.ts';
import type { HlsWarmer } from './probes.ts';
import type { ScoreFeed } from './ScoreFeed.ts';
import { type SessionStateChange, WebRtcSession } from './WebRtcSession.ts';

/*
 * The sessions the ladder's driver holds, made and wired: a WebRTC or HLS
 * session with the player's options, whose reports come back to the driver
 * as ladder events. Only the sessions the driver holds now speak to the
 * ladder; a standby's or an old session's reports stop here.
 */

/** The Player's own emit: the driver reports through the Player's events. */
export type PlayerEmit = <K extends keyof PlayerEvents>(event: K, ...args: PlayerEvents[K]) => void;

/** What the session factories need of the ladder's interpreter (LadderDriver). */
export interface SessionHost {
  readonly options: Readonly<PlayerOptions>;
  readonly ladder: LadderState;
  readonly closed: boolean;
  readonly session: WebRtcSession | null;
  readonly standby: WebRtcSession | null;
  readonly hls: HlsSession | null;
  readonly hlsStandby: HlsSession | null;
  readonly scores: ScoreFeed;
  readonly warmer: HlsWarmer;
  readonly hlsReloads: HlsReloads;
  /** The nodes' router capabilities as last heard: a new session loads its Device early. */
  readonly caps: RtpCapabilities | undefined;
  readonly emit: PlayerEmit;
  dispatch(event: LadderEvent, about?: EffectSubject): void;
  learnCapabilities(caps: RtpCapabilities | undefined): void;
  surfaceFacts(): Surface;
  syncVideo(): void;
}

/**
 * Each HLS session a reload made, with the languages it was made for: if hls.js still reads the playlist
 * differently (a rendition it leaves out), that session does not reload again for them — no loop. A
 * reload that failed leaves the old session current, which asks again at its next poll.
 */
export class HlsReloads {
  /** The languages the HLS reload under way is made for (see newHlsSession). */
  pendingFor: string | undefined;
  readonly madeFor = new WeakMap<HlsSession, string>();
}

/** A WebRTC session on `nodeUrl`, wired to the player (not started). */
export function newWebRtcSession(host: SessionHost, nodeUrl: string, forceTcp: boolean): WebRtcSession {
  const {
    retry: _r,
    placement: _p,
    region: _g,
    avoidNodeMs: _a,
    moveFrameTimeoutMs: _m,
    hlsFallback: _h,
    stallTimeoutMs: _s,
    upgradeRetry: _u,
    hlsFactory: _f,
    bootstrap: _b,
    ...sessionOptions
  } = host.options;
  const session = new WebRtcSession({
    // Not connected in 4 s is a failure worth falling back from (HLS within 3 s of it).
    iceTimeoutMs: 4000,
    ...sessionOptions,
    ...(host.caps ? { routerRtpCapabilities: host.caps } : {}),
    nodeUrl,
    forceTcp,
    scoreFeed: host.scores,
  });
  session.on('score', (score) => host.emit('score', score));
  session.on('warning', (error) => host.emit('warning', error));
  session.on('layers', (layers) => {
    if (session === host.session) host.emit('layers', layers);
  });
  session.on('tracks', () => {
    if (session === host.session) host.syncVideo();
  });
  session.on('drain', (reason, target) => {
    // Only the playing session's node matters; a standby's drain is its own problem.
    if (session === host.session && !host.closed) {
      host.dispatch({ type: 'drain', reason }, { session, reason, ...(target ? { target } : {}) });
    }
  });
  session.on('state', (change) => {
    host.learnCapabilities(session.routerRtpCapabilities ?? undefined);
    onSessionState(host, session, change);
  });
  host.warmer.warmIfSlow(session, nodeUrl);
  return session;
}

function onSessionState(host: SessionHost, session: WebRtcSession, change: SessionStateChange): void {
  if (host.closed) return;
  // A standby only matters once promoted; its failure is handled where it was started.
  if (session === host.standby || session !== host.session) return;
  switch (change.state) {
    case 'connecting':
      host.dispatch({ type: 'session-connecting', reason: change.reason }, { session });
      break;
    case 'connected':
      host.dispatch({ type: 'session-connected', reason: change.reason }, { session });
      break;
    case 'closed':
      host.dispatch({ type: 'session-closed', reason: change.reason }, { session });
      break;
    case 'failed': {
      const standby = host.standby;
      const failure: SessionFailure = change.failure ?? failureOf(change.error ?? new Error(change.reason));
      host.dispatch(
        {
          type: 'session-failed',
          failure,
          reason: change.reason,
          ...(change.error ? { error: change.error } : {}),
          standby:
            standby && !standby.closed && !host.hls
              ? { connected: standby.state === 'connected', reason: standby.reason }
              : null,
          surface: host.surfaceFacts(),
        },
        { session },
      );
      break;
    }
  }
}

/**
 * An HLS session on `nodeUrl` with the session credential of the moment,
 * feeding the shared ScoreFeed; only the current one's state and drain
 * notices reach the ladder (a move's session is watched by its task).
 */
export function newHlsSession(host: SessionHost, nodeUrl: string): HlsSession {
  const { options, hlsReloads } = host;
  const hls = new HlsSession({
    nodeUrl,
    stream: options.stream,
    token: options.token,
    scoreFeed: host.scores,
    ...(options.hlsFactory ? { hlsFactory: options.hlsFactory } : {}),
    ...(options.hlsLanguagesPollMs ? { languagesPollMs: options.hlsLanguagesPollMs } : {}),
    // The viewer's language picks the HLS audio rendition too.
    ...(options.language ? { language: options.language } : {}),
  });
  if (host.ladder.hlsReload && hlsReloads.pendingFor !== undefined) hlsReloads.madeFor.set(hls, hlsReloads.pendingFor);
  hls.on('score', (score) => host.emit('score', score));
  hls.on('warning', (error) => host.emit('warning', error));
  hls.on('state', (change) => {
    if (hls !== host.hls || host.closed) return;
    if (change.state === 'connected') host.dispatch({ type: 'hls-connected' });
    else if (change.state === 'connecting') host.dispatch({ type: 'hls-connecting', reason: change.reason });
    else {
      const next = host.hlsStandby;
      const moving = next && !next.closed ? { connected: next.state === 'connected' } : null;
      host.dispatch({ type: 'hls-failed', reason: change.reason, moving });
    }
  });
  hls.on('draining', (target) => {
    if (hls === host.hls && !host.closed) host.dispatch({ type: 'hls-drain', target }, { hls, nodeUrl: target });
  });
  hls.on('languages', (languages) => {
    const key = languages.join();
    if (hls !== host.hls || host.closed || key === hlsReloads.madeFor.get(hls)) return;
    hlsReloads.pendingFor = key;
    host.dispatch({ type: 'hls-languages' }, { hls, nodeUrl: hls.options.nodeUrl });
  });
  return hls;
}
