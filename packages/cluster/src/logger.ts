/**
 * The logging surface this package needs. pino's Logger satisfies it, so the
 * node passes its own (child) logger in; tests and the CLI get the silent one.
 * We do not import pino here on purpose: a library should not decide where
 * logs go or at which level.
 */
export type LogFn = (objOrMsg: unknown, msg?: string, ...args: unknown[]) => void;

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => {};

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
