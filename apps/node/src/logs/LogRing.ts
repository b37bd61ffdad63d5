import pino, { type Level, type Logger } from 'pino';

/** One pino line as written (JSON), parsed back to an object. */
export type LogLine = Record<string, unknown>;

/**
 * The node's recent log lines, in memory: a pino destination that keeps the
 * last `capacity` lines, so ops can read what one viewer session did on this
 * node (`GET /api/v1/logs?session=`) without a log pipeline. Bounded: a busy
 * node forgets old lines, it never grows.
 */
export class LogRing {
  readonly capacity: number;
  readonly #lines: (LogLine | undefined)[];
  #next = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#lines = new Array(capacity);
  }

  /** pino's destination interface: one serialized line per call. */
  write(line: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) return;
    this.#lines[this.#next] = parsed as LogLine;
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** Lines whose `session` binding is `session`, oldest first. */
  forSession(session: string): LogLine[] {
    const out: LogLine[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const line = this.#lines[(this.#next + i) % this.capacity];
      if (line?.session === session) out.push(line);
    }
    return out;
  }
}

/**
 * The node's logger: every line at `level` to stdout, and the lines at
 * `ringLevel` or above also into the ring (the per-session lines are at info).
 */
export function createNodeLogger(options: {
  level: Level | 'silent';
  ringLevel: Level;
  ringLines: number;
  base: Record<string, unknown>;
}): { logger: Logger; ring: LogRing } {
  const ring = new LogRing(options.ringLines);
  const levels = pino.levels.values;
  const stdoutLevel = options.level === 'silent' ? undefined : options.level;
  // The logger's own level is the lower of the two: each destination filters to its own.
  const lowest = stdoutLevel && levels[stdoutLevel]! < levels[options.ringLevel]! ? stdoutLevel : options.ringLevel;
  const streams: pino.StreamEntry[] = [{ level: options.ringLevel, stream: ring }];
  if (stdoutLevel) streams.push({ level: stdoutLevel, stream: process.stdout });
  const logger = pino({ level: lowest, base: options.base }, pino.multistream(streams));
  return { logger, ring };
}
