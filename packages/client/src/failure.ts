import type { SignalingErrorCode } from '@matchmesh/protocol';
import { SignalingClientError, SignalingRequestError } from './errors.ts';

/**
 * Why a session failed, as data: the ladder decides on the kind (fall back,
 * fail over, retry, give up), never on the text of a reason. `failureReason`
 * renders the short machine-friendly reason the 'state' events carry.
 */
export type SessionFailure =
  /** ICE reported 'failed' (UDP blocked, strict NAT...). */
  | { kind: 'ice-failed' }
  /** ICE+DTLS not up within iceTimeoutMs of negotiation. */
  | { kind: 'ice-timeout' }
  /** ICE stayed 'disconnected' for disconnectedTimeoutMs. */
  | { kind: 'ice-disconnected' }
  /** Connected, but no new decoded video frame for the stall limit (Player's stall watch). */
  | { kind: 'no-frames' }
  /** The node closed the signaling socket (killed, restarted, network gone). */
  | { kind: 'signaling-closed'; detail: string }
  /** A signaling request could not be made or answered (socket unreachable, timeout, garbled reply). */
  | { kind: 'signaling-error' }
  /** The node lost the stream (the match goes on: rejoin). */
  | { kind: 'stream-ended' }
  /** The node answered a request with an error code. */
  | { kind: 'rejected'; method: string; code: SignalingErrorCode }
  /** mediasoup-client has no handler for this browser. */
  | { kind: 'unsupported-browser' }
  /** Anything else thrown while setting up. */
  | { kind: 'error'; name: string; message: string }
  /** HLS: hls.js could not be loaded. */
  | { kind: 'hls-unavailable' }
  /** HLS: no frame played within startTimeoutMs. */
  | { kind: 'hls-timeout' }
  /** HLS: hls.js reported a fatal error. */
  | { kind: 'hls-error'; details: string };

/** The reason text of a failure (unchanged strings: pages and tests show and match them). */
export function failureReason(failure: SessionFailure): string {
  switch (failure.kind) {
    case 'ice-disconnected':
      return 'ice-disconnected-timeout';
    case 'signaling-closed':
      return `signaling-closed: ${failure.detail}`;
    case 'rejected':
      return `${failure.method}-${failure.code}`;
    case 'error':
      return `${failure.name}: ${failure.message}`.slice(0, 200);
    case 'hls-error':
      return `hls-error: ${failure.details}`;
    default:
      return failure.kind;
  }
}

/** Classifies an error thrown while a session was being set up or fed. */
export function failureOf(error: Error): SessionFailure {
  if (error instanceof SignalingRequestError) return { kind: 'rejected', method: error.method, code: error.code };
  if (error instanceof SignalingClientError) return { kind: 'signaling-error' };
  if (error.name === 'UnsupportedError') return { kind: 'unsupported-browser' };
  return { kind: 'error', name: error.name, message: error.message };
}

/**
 * Error codes that no retry will fix. Every other code — 'unavailable' (Redis
 * down), 'full' (every worker of the node at capacity), 'internal' (which an
 * older client reads a code it does not know as) — leaves the node and retries
 * placement on another relay (the ladder's avoid + retry).
 */
const FATAL_CODES: ReadonlySet<SignalingErrorCode> = new Set([
  'unauthorized',
  'forbidden',
  'bad_request',
  'unknown_method',
]);

/** No retry will fix it: the player gives up. */
export function isFatal(failure: SessionFailure): boolean {
  return (failure.kind === 'rejected' && FATAL_CODES.has(failure.code)) || failure.kind === 'unsupported-browser';
}

/**
 * WebRTC cannot reach this viewer (UDP blocked, strict NAT, WebSocket
 * blocked), as opposed to a node or the stream having trouble: HLS may.
 */
export function isTransportFailure(failure: SessionFailure): boolean {
  switch (failure.kind) {
    case 'ice-failed':
    case 'ice-timeout':
    case 'ice-disconnected':
    case 'no-frames':
    case 'signaling-closed':
    case 'signaling-error':
      return true;
    default:
      return false;
  }
}

/** The node's signaling went away (a playing viewer fails over to another relay at once). */
export function isSignalingLoss(failure: SessionFailure): boolean {
  return failure.kind === 'signaling-closed' || failure.kind === 'signaling-error';
}

/** The stream is not live (yet): every node would say so, so the node is not to blame. */
export function isNotLive(failure: SessionFailure): boolean {
  return failure.kind === 'rejected' && failure.code === 'not_found';
}
