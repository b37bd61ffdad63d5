import type { RelayAlternative } from '@matchmesh/protocol';
import type { HlsSession } from './HlsSession.ts';
import type { LadderEvent, LadderState } from './ladder.ts';
import type { Placement } from './Placement.ts';
import type { NodeRef, Placer } from './Placer.ts';
import type { PlayerOptions } from './PlayerTypes.ts';
import { firstFrame } from './probes.ts';
import type { VideoSurface } from './VideoSurface.ts';
import type { WebRtcSession } from './WebRtcSession.ts';

/*
 * The asynchronous work behind some of the ladder's effects: a placement, a
 * session start, a drain move, a WebRTC try in the background while on HLS.
 * Each ends by reporting back to the ladder as an event ('placed',
 * 'move-ready', 'upgrade-failed'...). Meanwhile the player may have moved on
 * (another session, HLS gone, closed): every task checks that what it worked
 * for is still current before it reports.
 */

/** The objects a ladder event is about (the table itself only sees data). */
export type EffectSubject = {
  /** The session the event came from (failed, stalled, draining, being left). */
  session?: WebRtcSession | null;
  /** Where HLS should play from (a rewind: the relay of the picture now). */
  nodeUrl?: string;
  /** A placement that arrived. */
  placement?: Placement;
  /** A drain's reason. */
  reason?: string;
  /** A rebalancing move's relay (the node named it: no placement, and the node left is not avoided). */
  target?: RelayAlternative;
  /** The HLS session an event is about (the one whose relay drains). */
  hls?: HlsSession | null;
};

/** What the tasks need of the ladder's interpreter (LadderDriver). */
export interface TaskHost {
  readonly options: Readonly<PlayerOptions>;
  readonly placer: Placer;
  readonly surface: VideoSurface;
  readonly ladder: LadderState;
  readonly closed: boolean;
  readonly session: WebRtcSession | null;
  /** A session being prepared (drain move, or WebRTC retry while on HLS). */
  standby: WebRtcSession | null;
  readonly hls: HlsSession | null;
  dispatch(event: LadderEvent, about?: EffectSubject): void;
  /** A WebRTC session on `nodeUrl`, wired to the player (not started). */
  newSession(nodeUrl: string, forceTcp?: boolean): WebRtcSession;
  /** The next placement (reported as a 'placement' event); `leaving`: the relay being left. */
  place(leaving?: NodeRef): Promise<Placement>;
  syncVideo(): void;
}

/** A session's relay, as the placer knows relays. */
export function nodeRef(session: WebRtcSession): NodeRef {
  return { url: session.options.nodeUrl, id: session.nodeId };
}

/** Drain move / upgrade: how long to wait for the new session's first decoded frame. */
function frameTimeoutMs(host: TaskHost): number {
  return host.options.moveFrameTimeoutMs ?? 4000;
}

/** First join, retry, failover: a placement, then a session there ('placed'). */
export async function placeNext(host: TaskHost, leaving?: WebRtcSession): Promise<void> {
  const placement = await host.place(leaving ? nodeRef(leaving) : undefined);
  host.dispatch({ type: 'placed' }, { placement });
}

export async function startSession(host: TaskHost, session: WebRtcSession | null): Promise<void> {
  if (!session) return;
  try {
    await session.start();
    if (session === host.session) {
      host.placer.settle(session.region);
      host.syncVideo();
    }
  } catch {
    // The 'state' listener has already handled the failure.
  }
}

/**
 * Drain: find another relay of the region ('move-placed'); runMove then opens
 * a session there, and the ladder switches once it has decoded a frame. A
 * rebalancing move names its relay (`target`).
 */
export async function moveOff(
  host: TaskHost,
  from: WebRtcSession,
  reason: string,
  target?: RelayAlternative,
): Promise<void> {
  host.placer.settle(from.region);
  let placement: Placement;
  if (target) {
    // Rebalancing: the node chose a relay of the region under its share. The node
    // left stays a normal choice (it is not going away), and nothing is probed.
    placement = host.placer.adopt({
      nodeUrl: target.url,
      nodeId: target.nodeId,
      region: target.region,
      reason: 'region',
      rtts: {},
      tookMs: 0,
      knownUrls: [target.url],
      edges: null,
    });
  } else {
    host.placer.avoid(nodeRef(from));
    placement = await host.place(nodeRef(from));
  }
  if (from !== host.session || host.closed) return;
  const sameNode =
    placement.nodeUrl === from.options.nodeUrl || (placement.nodeId !== null && placement.nodeId === from.nodeId);
  host.dispatch({ type: 'move-placed', sameNode, reason }, { session: from, placement });
}

/** The drain move's session, made standby until it has decoded a frame ('move-ready'). */
export async function runMove(host: TaskHost, from: WebRtcSession, placement: Placement): Promise<void> {
  const next = host.newSession(placement.nodeUrl, from.options.forceTcp ?? false);
  host.standby = next;
  try {
    await next.start();
    await firstFrame(next, frameTimeoutMs(host));
  } catch {
    const message = `drain move to ${placement.nodeUrl} failed: ${next.reason}`;
    host.dispatch({ type: 'move-failed', message, current: host.standby === next });
    return;
  }
  if (host.standby !== next || host.closed) return;
  host.dispatch({ type: 'move-ready', connected: next.state === 'connected', sessionReason: next.reason });
}

/** While on HLS: where to try WebRTC again ('upgrade-placed'). */
export async function placeUpgrade(host: TaskHost, forceTcp: boolean): Promise<void> {
  const placement = await host.place();
  if (host.closed || !host.hls) return;
  host.dispatch({ type: 'upgrade-placed', forceTcp }, { placement });
}

/** A WebRTC session in the background; the ladder switches to it once it renders ('upgrade-rendered'). */
export async function runUpgrade(host: TaskHost, placement: Placement, forceTcp: boolean): Promise<void> {
  const next = host.newSession(placement.nodeUrl, forceTcp);
  host.standby = next;
  let painted: boolean;
  try {
    await next.start();
    await firstFrame(next, frameTimeoutMs(host), true);
    if (host.standby !== next || host.closed || !host.hls || host.ladder.behindLive > 0) {
      throw new Error('superseded');
    }
    painted = await host.surface.rendered(next.mediaStream);
  } catch {
    next.close('upgrade failed');
    host.dispatch({ type: 'upgrade-failed', current: host.standby === next });
    return;
  }
  if (host.standby !== next || !host.hls) {
    // Superseded while the picture was being checked: an unpainted try still counts as failed.
    if (!painted && host.ladder.upgradeAttempt < 3) {
      next.close('upgrade failed');
      host.dispatch({ type: 'upgrade-failed', current: false });
    }
    return;
  }
  host.dispatch({ type: 'upgrade-rendered', forceTcp, painted });
}
