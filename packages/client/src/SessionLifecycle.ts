import { failureReason, type SessionFailure } from './failure.ts';

export type SessionState = 'connecting' | 'connected' | 'failed' | 'closed';

export type SessionStateChange = {
  state: SessionState;
  /** Short machine-friendly reason, e.g. 'joining', 'ice-failed', 'stream-ended'. */
  reason: string;
  /** The error behind a 'failed' state. */
  error?: Error;
  /** What failed, as data (on 'failed' only): the Player decides on it, not on `reason`. */
  failure?: SessionFailure;
};

/**
 * The state handling and teardown that WebRtcSession and HlsSession share:
 * 'connecting' → 'connected' → ('failed' | 'closed'), each change reported
 * once; close() and fail() tear down once (a failed session stays failed).
 * A session owns one and forwards its getters to it.
 */
export class SessionLifecycle {
  #state: SessionState = 'connecting';
  #reason = 'new';
  readonly #emit: (change: SessionStateChange) => void;
  readonly #teardown: () => void;

  constructor(emit: (change: SessionStateChange) => void, teardown: () => void) {
    this.#emit = emit;
    this.#teardown = teardown;
  }

  get state(): SessionState {
    return this.#state;
  }

  get reason(): string {
    return this.#reason;
  }

  get closed(): boolean {
    return this.#state === 'closed' || this.#state === 'failed';
  }

  set(state: SessionState, reason: string, error?: Error, failure?: SessionFailure): void {
    if (this.#state === state && this.#reason === reason) return;
    this.#state = state;
    this.#reason = reason;
    const change: SessionStateChange = { state, reason };
    if (error) change.error = error;
    if (failure) change.failure = failure;
    this.#emit(change);
  }

  /** Tears down and ends in 'failed' (no-op once ended). */
  fail(failure: SessionFailure, error?: Error): void {
    if (this.closed) return;
    this.#teardown();
    this.set('failed', failureReason(failure), error, failure);
  }

  /** Tears down and ends in 'closed' (no-op once ended: a failed session stays 'failed'). */
  close(reason: string): void {
    if (this.closed) return;
    this.#teardown();
    this.set('closed', reason);
  }
}
