import type { Effect, LadderEvent, LadderEventType, LadderPolicy, LadderState, Transition } from './ladderTypes.ts';
import type { PlayerPath } from './PlayerTypes.ts';
import type { SessionState } from './SessionLifecycle.ts';

/*
 * What a row of the ladder's table (ladder.ts) writes into: the next state and
 * the effects, in the order the driver must carry them out. Rows and moves
 * share one Step per transition, so a move can read what an earlier one set.
 */

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

export type Handler<T extends LadderEventType> = (s: Step, event: Extract<LadderEvent, { type: T }>) => void;
export type Row = { [T in LadderEventType]?: Handler<T> };
