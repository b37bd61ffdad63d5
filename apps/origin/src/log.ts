import pino, { type Logger } from 'pino';

/** JSON logs to stdout; pipe through `pino-pretty` when reading them by hand. */
export function createLogger(level = 'info', name = 'origin'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/** For library use and tests: logs nothing unless LOG_LEVEL asks for it. */
export function quietLogger(): Logger {
  return pino({ name: 'origin', level: process.env.LOG_LEVEL ?? 'silent' });
}

export type { Logger };
