/**
 * The one logging surface of every library package (sfu, cluster, hls, mesh).
 * pino's Logger satisfies it, so a process passes its own (child) logger in;
 * tests and tools get the silent one. It lives here, in the package every
 * other one already depends on, so that no library imports pino: a library
 * does not decide where logs go or at which level.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** A logger with more bindings (pino has it; a hand-written logger may leave it out). */
  child?(bindings: Record<string, unknown>): Logger;
}

const noop = (): void => {};

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
