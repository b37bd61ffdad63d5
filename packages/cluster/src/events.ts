import { type NewOpsEvent, OpsEvent } from '@matchmesh/protocol';
import type { Redis } from 'ioredis';
import { errorMessage } from './errors.ts';
import { type ClusterKeys, clusterKeys } from './keys.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RedisConnection, type RedisSource } from './redis.ts';

export interface EventLogOptions {
  /** Redis URL (the log opens and closes its own connection) or a shared client. */
  redis: RedisSource;
  cluster: string;
  logger?: Logger;
  /** About this many entries are kept (XADD MAXLEN ~): the feed is a window, not an archive. Default 2000. */
  maxLen?: number;
  /** How long one blocking read of a follower waits before it reads again. Default 1000 ms. */
  blockMs?: number;
}

export type OpsEventListener = (event: OpsEvent) => void;

/** A follower: `ready` resolves once every event appended from then on is sure to reach it. */
export interface Following {
  stop(): void;
  ready: Promise<void>;
}

/** The events field of a stream entry (one field, the event as JSON). */
const FIELD = 'e';

/**
 * The cluster's events feed (node joined/left, drains, source switches,
 * viewers' fallbacks, problem reports, key changes) on one Redis stream per
 * cluster. Any node appends; ops read the recent window (`recent`) and follow
 * new entries live (`follow`), in the order Redis assigned them.
 *
 * Writing never throws: an event is a record of what happened, and losing
 * one while Redis is down must never fail the action it describes.
 *
 * Followers share one blocking reader (XREAD BLOCK) on a connection of its
 * own — a blocked command would hold up every other command on the shared
 * one — started with the first follower and stopped with the last.
 */
export class EventLog {
  readonly maxLen: number;
  readonly #conn: RedisConnection;
  readonly #keys: ClusterKeys;
  readonly #log: Logger;
  readonly #blockMs: number;
  readonly #listeners = new Set<OpsEventListener>();
  #reader: Redis | null = null;
  #reading: Promise<void> | null = null;
  #closed = false;
  /** The id the reader has read up to (a successor reader goes on from it). */
  #lastDelivered: string | null = null;
  /** Resolved once the reader knows where the stream ends (then it misses nothing appended after). */
  #positioned = deferred();

  constructor(options: EventLogOptions) {
    this.#keys = clusterKeys(options.cluster);
    this.#log = options.logger ?? silentLogger;
    this.maxLen = options.maxLen ?? 2000;
    this.#blockMs = options.blockMs ?? 1000;
    this.#conn = new RedisConnection(options.redis, this.#log, `mm-events-${options.cluster}`);
  }

  /** Add an event at the end of the feed. Never throws: a failure is logged and the event is lost. */
  async append(event: NewOpsEvent): Promise<void> {
    const entry = { ...event, at: event.at ?? Date.now() };
    try {
      await this.#conn.run('append event', (c) =>
        c.xadd(this.#keys.events, 'MAXLEN', '~', String(this.maxLen), '*', FIELD, JSON.stringify(entry)),
      );
    } catch (err) {
      this.#log.warn({ err: errorMessage(err), event: entry }, 'ops event not recorded');
    }
  }

  /**
   * Append unless an event with the same `onceKey` was appended in the last
   * `ttlMs` by any node: for what several nodes notice at once (a peer's
   * heartbeat lapsing), so the feed says it once. Never throws.
   */
  async appendOnce(onceKey: string, ttlMs: number, event: NewOpsEvent): Promise<boolean> {
    let first: boolean;
    try {
      first = await this.#conn.run(
        'claim event',
        async (c) => (await c.set(this.#keys.eventOnce(onceKey), '1', 'PX', ttlMs, 'NX')) === 'OK',
      );
    } catch (err) {
      this.#log.warn({ err: errorMessage(err), onceKey }, 'ops event not recorded');
      return false;
    }
    if (first) await this.append(event);
    return first;
  }

  /** The last `limit` events, oldest first. Rejects with ClusterError when Redis does not answer. */
  async recent(limit = 100): Promise<OpsEvent[]> {
    const raw = await this.#conn.run('read events', (c) => c.xrevrange(this.#keys.events, '+', '-', 'COUNT', limit));
    return raw
      .map(([id, fields]) => this.#parse(id, fields))
      .filter((e) => e !== null)
      .reverse();
  }

  /**
   * Call `listener` with every event appended after `ready` resolves, in
   * order, until `stop()` (or the log closes). Events appended between
   * follow() and `ready` may or may not be delivered: read `recent()` after
   * `ready` and drop what you have by id to see each event exactly once.
   */
  follow(listener: OpsEventListener): Following {
    if (this.#closed) return { stop: () => {}, ready: Promise.resolve() };
    this.#listeners.add(listener);
    if (!this.#reading) this.#startReading(null);
    return {
      stop: () => {
        this.#listeners.delete(listener);
      },
      ready: this.#positioned.promise,
    };
  }

  /** Stop following and close the connections the log owns. Never throws. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#positioned.resolve();
    this.#reader?.disconnect();
    await this.#reading;
    this.#reader = null;
    await this.#conn.close();
  }

  /**
   * Start the shared reader after `from` (null: after the stream's end as it
   * is now). A follower that arrived while the previous reader was winding
   * down (no followers left a moment before) is served by a new reader that
   * goes on from where the old one stopped, so it misses nothing either.
   */
  #startReading(from: string | null): void {
    this.#positioned = deferred();
    if (from !== null) this.#positioned.resolve();
    this.#reading = this.#readLoop(from).finally(() => {
      this.#reading = null;
      if (this.#listeners.size > 0 && !this.#closed) this.#startReading(this.#lastDelivered);
    });
  }

  async #readLoop(from: string | null): Promise<void> {
    // Its own connection: blocking reads must not stall the shared one. It
    // waits longer than one BLOCK period before calling a read failed.
    this.#reader ??= this.#conn.client.duplicate({
      commandTimeout: this.#blockMs + 5_000,
      connectionName: 'mm-events-follow',
    });
    this.#reader.on('error', () => {}); // reported by the read that fails
    const reader = new RedisConnection(this.#reader, this.#log, 'mm-events-follow');
    let lastId: string | null = from;
    while (this.#listeners.size > 0 && !this.#closed) {
      try {
        // Start after the newest entry at the time of the first read; from then on
        // after the last one delivered, so nothing appended between reads is missed.
        lastId ??= await reader.run('events tail', async (c) => {
          const [newest] = await c.xrevrange(this.#keys.events, '+', '-', 'COUNT', 1);
          return newest?.[0] ?? '0-0';
        });
        this.#positioned.resolve();
        this.#lastDelivered = lastId;
        const after: string = lastId;
        const res = await reader.run('follow events', (c) =>
          c.xread('COUNT', 100, 'BLOCK', this.#blockMs, 'STREAMS', this.#keys.events, after),
        );
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            lastId = id;
            this.#lastDelivered = id;
            const event = this.#parse(id, fields);
            if (event) for (const listener of [...this.#listeners]) listener(event);
          }
        }
      } catch (err) {
        if (this.#closed) break;
        this.#log.debug({ err: errorMessage(err) }, 'events follow read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    // Stopped before it found its place (no followers left, or closed): nobody waits for it any more.
    this.#positioned.resolve();
    await reader.close();
  }

  #parse(id: string, fields: string[]): OpsEvent | null {
    const index = fields.indexOf(FIELD);
    try {
      const parsed = OpsEvent.safeParse({ ...JSON.parse(fields[index + 1] ?? ''), id });
      if (parsed.success) return parsed.data;
    } catch {
      // not JSON: skipped below
    }
    this.#log.warn({ id }, 'malformed ops event skipped');
    return null;
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
