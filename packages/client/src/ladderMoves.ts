import { backoffDelay } from '@matchmesh/protocol';
import { isFatal, isNotLive, isSignalingLoss, isTransportFailure, type SessionFailure } from './failure.ts';
import type { Step } from './ladderStep.ts';
import type { LadderEvent, Surface } from './ladderTypes.ts';

/*
 * The moves several rows of the ladder's table share (ladder.ts): placing,
 * starting HLS, scheduling an upgrade, deciding after a failure, promoting a
 * standby, closing. Each writes into the transition being built (Step).
 */

/** Look for a relay and open a WebRTC session there. */
export function place(s: Step, leaving: boolean): void {
  const { attempt, path } = s.next;
  s.set({ rung: 'placing' })
    .report('connecting', path, attempt === 0 ? 'placing' : `placing (${attempt})`)
    .do({ do: 'place', leaving });
}

/** Start HLS: a fallback (WebRTC is retried in the background) or a rewind. */
export function startHls(s: Step, why: string, fallback: boolean, surface: Surface): void {
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

export function scheduleUpgrade(s: Step): void {
  // A viewer watching a replay stays on it until they go live.
  if (s.next.behindLive > 0) return;
  s.do({ do: 'schedule-upgrade', delayMs: backoffDelay(s.policy.upgrade, s.next.upgradeAttempt) });
}

/** While on HLS: a WebRTC session in the background, TCP first, then UDP, alternating. */
export function tryUpgrade(s: Step): void {
  if (s.next.standby !== 'none') return;
  const forceTcp = s.next.upgradeAttempt % 2 === 0 || s.policy.forceTcp;
  s.set({ upgradeAttempt: s.next.upgradeAttempt + 1 }).do({ do: 'place-upgrade', forceTcp });
}

/** The current session failed (it is already dropped): give up, fail over, fall back to HLS, or retry. */
export function onFailure(
  s: Step,
  failure: SessionFailure,
  reason: string,
  error: Error | undefined,
  surface: Surface,
): void {
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

export function close(s: Step, event: { reason: string }): void {
  s.set({ rung: 'closed', standby: 'none' })
    .do({ do: 'close-all', reason: event.reason })
    .report('closed', 'none', event.reason);
}

/** Rewind from a rung without HLS: the WebRTC side closes (nobody needs live while watching a replay). */
export function rewindOntoHls(s: Step, event: Extract<LadderEvent, { type: 'rewind' }>): void {
  s.do({ do: 'cancel-upgrade' }, { do: 'cancel-retry' }, { do: 'stop-stall' });
  s.do({ do: 'close-standby', reason: 'rewind' })
    .set({ standby: 'none' })
    .do({ do: 'drop-session', sync: false }, { do: 'close-session', reason: 'rewind' });
  startHls(s, 'rewind', false, event.surface);
  s.set({ behindLive: event.target });
}

/** The standby session becomes the current one (make before break). */
export function promote(
  s: Step,
  why: string,
  closeOld: boolean,
  standby: { connected: boolean; reason: string },
): void {
  s.set({ standby: 'none', rung: 'webrtc', moves: s.next.moves + 1, played: standby.connected })
    .do({ do: 'promote', why, closeOld })
    .report(
      standby.connected ? 'connected' : 'connecting',
      'webrtc',
      standby.connected ? `playing (${why})` : standby.reason,
    );
}
