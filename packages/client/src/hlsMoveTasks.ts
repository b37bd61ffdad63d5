import type { HlsSession } from './HlsSession.ts';
import type { LadderEvent, LadderState } from './ladder.ts';
import type { EffectSubject } from './ladderTasks.ts';
import type { Placement } from './Placement.ts';
import type { NodeRef, Placer } from './Placer.ts';
import { untilPlaying } from './probes.ts';
import type { VideoSurface } from './VideoSurface.ts';

/*
 * The asynchronous work behind the HLS drain move's effects (see
 * ladderHlsMove.ts): where to go ('hls-move-placed'), then a second HLS
 * session there that reports once it presents frames ('hls-move-ready') or
 * gives up ('move-failed'). As in ladderTasks.ts, each task checks that what
 * it worked for is still current before it reports.
 */

/** What the HLS move needs of the ladder's interpreter (LadderDriver). */
export interface HlsMoveHost {
  readonly placer: Placer;
  readonly surface: VideoSurface;
  readonly ladder: LadderState;
  readonly closed: boolean;
  /** The HLS session playing now. */
  readonly hls: HlsSession | null;
  /** The move's HLS session while it is prepared. */
  hlsStandby: HlsSession | null;
  dispatch(event: LadderEvent, about?: EffectSubject): void;
  /** An HLS session on `nodeUrl`, wired to the player (not started). */
  newHls(nodeUrl: string): HlsSession;
  place(leaving?: NodeRef): Promise<Placement>;
}

/** How long a move waits for the hidden element to present the new relay's first frame after it plays. */
const PRESENT_TIMEOUT_MS = 1000;
/**
 * Played this much without a stall before the swap: hls.js starts a relay at
 * its live edge with little buffered, and that start-up stall must happen
 * while the element is hidden, not after it is shown.
 */
const STEADY_S = 0.5;
const STEADY_TIMEOUT_MS = 3000;
/** Two pictures this close on the stream's timeline are in step; further apart, the new one is seeked onto the old one. */
const IN_STEP_MS = 80;
const ALIGN_TRIES = 3;

/**
 * Drain of the HLS relay: placement without it (the region's other relays);
 * when placement has nothing better (no edges list, or only the draining
 * relay), the relay the draining one named (`target`, of its region).
 */
export async function moveHlsOff(host: HlsMoveHost, from: HlsSession, target: string): Promise<void> {
  const leaving: NodeRef = { url: from.options.nodeUrl, id: null };
  host.placer.avoid(leaving);
  let placement = await host.place(leaving);
  if (from !== host.hls || host.closed) return;
  if (placement.reason === 'fallback' || sameUrl(placement.nodeUrl, leaving.url)) {
    placement = { ...placement, nodeUrl: target, nodeId: null };
  }
  const sameNode = sameUrl(placement.nodeUrl, leaving.url);
  host.dispatch({ type: 'hls-move-placed', sameNode, target }, { hls: from, placement });
}

/**
 * The move's session: started in the spare element (hidden, muted), and
 * reported ready once it plays steadily in step with the old picture (see
 * alignWith: a rewound viewer stays as far behind) and the element has
 * presented a frame. Without a spare element the
 * ladder swaps at once and the new session starts in the old one's element
 * (a short stall: nothing can play the new relay meanwhile).
 */
export async function runHlsMove(host: HlsMoveHost, from: HlsSession, nodeUrl: string): Promise<void> {
  const next = host.newHls(nodeUrl);
  host.hlsStandby = next;
  const spare = host.surface.prepareSpare();
  if (!spare) {
    host.dispatch({ type: 'hls-move-ready', connected: false });
    return;
  }
  void next.start(spare);
  const playing = await untilPlaying(next);
  if (!stillMoving(host, next)) return;
  if (!playing) {
    host.hlsStandby = null;
    next.close('move failed');
    const message = `HLS ${host.ladder.hlsReload ? 'reload' : 'drain move'} to ${nodeUrl} failed: ${next.reason}`;
    host.dispatch({ type: 'move-failed', message, current: true });
    return;
  }
  const aligned = await alignWith(host, from, next, spare);
  // A rewound viewer whose pictures could not be placed on the stream's timeline: as far behind live.
  const behind = host.ladder.behindLive;
  if (!aligned && behind > 0) await next.seekBehindLive(behind);
  await host.surface.presented(spare, PRESENT_TIMEOUT_MS);
  if (!stillMoving(host, next)) return;
  host.dispatch({ type: 'hls-move-ready', connected: true });
}

/**
 * Puts the new relay's picture where the old one is: each relay's session
 * places its playhead on the stream's timeline (HlsSession.streamTimeNow,
 * from its own score log's anchors), and the new element is seeked by the
 * difference — the viewer sees the next frame, neither a repeat (a freeze)
 * nor a skip. Measured after each steady stretch of play, so a seek's own
 * stall is waited out hidden too. False when either timeline is unknown.
 */
async function alignWith(host: HlsMoveHost, from: HlsSession, next: HlsSession, spare: HTMLVideoElement) {
  for (let i = 0; i < ALIGN_TRIES; i++) {
    await playedFor(spare, STEADY_S, STEADY_TIMEOUT_MS);
    if (!stillMoving(host, next)) return true;
    const old = from.streamTimeNow();
    const now = next.streamTimeNow();
    if (old === undefined || now === undefined) return false;
    const aheadMs = now - old;
    if (Math.abs(aheadMs) <= IN_STEP_MS) return true;
    await next.seekBy(-aheadMs / 1000);
  }
  return true;
}

/** Resolves true once `video` has played `seconds` on from now, false after `timeoutMs`. */
function playedFor(video: HTMLVideoElement, seconds: number, timeoutMs: number): Promise<boolean> {
  const start = video.currentTime;
  return new Promise((resolve) => {
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      video.removeEventListener('timeupdate', check);
      resolve(ok);
    };
    const check = () => {
      if (video.currentTime >= start + seconds) finish(true);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    video.addEventListener('timeupdate', check);
  });
}

/**
 * Is `next` still the move under way? Not when it was swapped in early (the
 * old relay failed first: it is the player's session now) or when the player
 * closed or dropped it meanwhile (then it is closed here, if not already).
 */
function stillMoving(host: HlsMoveHost, next: HlsSession): boolean {
  if (host.hls === next) return false;
  if (host.hlsStandby === next && !host.closed) return true;
  next.close('move superseded');
  return false;
}

function sameUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}
