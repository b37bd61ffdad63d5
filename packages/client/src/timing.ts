/**
 * User Timing marks of a WebRTC set-up's steps (Device load, socket open, join sent/answered, consumers
 * adopted, transport connected): the browser's performance timeline keeps them, so the ttff bench (and
 * DevTools) can tell where a join's time goes without logs. A mark costs microseconds; the names are
 * `mm:<step>`, every session of the page adding its own.
 */
export function markStep(step: string): void {
  globalThis.performance?.mark?.(`mm:${step}`);
}
