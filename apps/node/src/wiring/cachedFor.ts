/**
 * `fn` at most once per `ms`: callers within that time share the last answer
 * (or the pending one). A failed call is not kept, so the next caller retries.
 */
export function cachedFor<T>(ms: number, fn: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (last && now() - last.at < ms) return last.value;
    const value = fn();
    const entry = { at: now(), value };
    last = entry;
    value.catch(() => {
      if (last === entry) last = undefined;
    });
    return value;
  };
}
