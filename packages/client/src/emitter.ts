/**
 * A tiny typed event emitter for the browser bundle (no dependency on node's
 * `events`). Event maps are type aliases of tuples:
 *
 *   type Events = { state: [SessionState, string]; close: [] };
 *
 * `on()` returns an unsubscribe function. A throwing listener does not stop
 * the others: its error is re-thrown asynchronously so it still surfaces.
 */
// biome-ignore lint/suspicious/noExplicitAny: listener storage is type-erased; the public API is typed.
type AnyListener = (...args: any[]) => void;

export type Unsubscribe = () => void;

export class TypedEmitter<E extends { [K in keyof E]: unknown[] }> {
  readonly #listeners = new Map<keyof E, Set<AnyListener>>();

  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): Unsubscribe {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  once<K extends keyof E>(event: K, listener: (...args: E[K]) => void): Unsubscribe {
    const wrapper = (...args: E[K]) => {
      this.off(event, wrapper);
      listener(...args);
    };
    return this.on(event, wrapper);
  }

  off<K extends keyof E>(event: K, listener: (...args: E[K]) => void): void {
    this.#listeners.get(event)?.delete(listener);
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }

  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
