import { once } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { ClusterError, errorMessage } from './errors.ts';
import type { Logger } from './logger.ts';

/**
 * ioredis options for coordination traffic. The defaults of ioredis are made
 * for caches that would rather wait than fail: commands issued while
 * disconnected are queued and replayed later. For us a late answer is a wrong
 * answer (a viewer waiting for a relay, a heartbeat describing old load), and
 * a queue that grows during an outage is a memory leak, so:
 *  - enableOfflineQueue: false → a command while disconnected fails at once;
 *  - maxRetriesPerRequest: 1  → an in-flight command is not replayed forever;
 *  - commandTimeout          → a Redis that hangs (SIGSTOP, network black
 *                              hole) is treated like one that is gone;
 *  - retryStrategy           → reconnect forever, but at most every second,
 *                              so recovery after an outage is quick.
 */
export const FAIL_FAST_OPTIONS = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1_000),
} satisfies RedisOptions;

/**
 * The pub/sub listener is the exception: SUBSCRIBE must survive reconnects
 * (ioredis re-subscribes on its own with autoResubscribe) and a subscriber
 * issues no commands that could pile up, so it may queue and wait.
 */
export const SUBSCRIBER_OPTIONS = {
  enableOfflineQueue: true,
  maxRetriesPerRequest: null,
  autoResubscribe: true,
  connectTimeout: 2_000,
  retryStrategy: FAIL_FAST_OPTIONS.retryStrategy,
} satisfies RedisOptions;

const SENTINEL_URL = /^redis-sentinel:\/\/(?:([^@/]*)@)?([^/?]+)\/([^/?]+)(?:\?(.*))?$/;

/**
 * `redis-sentinel://[[user]:password@]host:port[,host:port…]/<master name>[?db=N&sentinelPassword=…]`
 * → ioredis's sentinel options, or undefined for any other URL. The client
 * asks the sentinels where the primary is, and asks again whenever it loses
 * it; `failoverDetector` makes it leave a demoted primary as soon as the
 * sentinels announce the switch instead of waiting for the socket to fail.
 */
export function sentinelOptions(url: string): RedisOptions | undefined {
  if (!url.startsWith('redis-sentinel:')) return undefined;
  const m = SENTINEL_URL.exec(url);
  if (!m) throw new Error(`REDIS_URL "${url}": expected redis-sentinel://host:port[,host:port…]/<master name>`);
  const [, auth, hostList, name, query] = m;
  const sentinels = hostList!.split(',').map((hp) => {
    const at = hp.lastIndexOf(':');
    const port = Number(hp.slice(at + 1));
    if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new Error(`REDIS_URL: sentinel "${hp}" is not host:port`);
    }
    return { host: hp.slice(0, at), port };
  });
  const params = new URLSearchParams(query ?? '');
  const [username, password] = auth === undefined ? [] : auth.split(':', 2).map(decodeURIComponent);
  return {
    sentinels,
    name: decodeURIComponent(name!),
    failoverDetector: true,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(params.get('sentinelPassword') ? { sentinelPassword: params.get('sentinelPassword')! } : {}),
    ...(params.get('db') ? { db: Number(params.get('db')) } : {}),
    // Sentinels themselves are retried like the primary: at most every second, forever.
    sentinelRetryStrategy: FAIL_FAST_OPTIONS.retryStrategy,
  };
}

/** `redis://host:port`, `redis-sentinel://…` (see sentinelOptions) → a fail-fast client. */
export function createRedisClient(url: string, overrides: RedisOptions = {}): Redis {
  const sentinel = sentinelOptions(url);
  if (sentinel) return new Redis({ ...sentinel, ...FAIL_FAST_OPTIONS, ...overrides });
  return new Redis(url, { ...FAIL_FAST_OPTIONS, ...overrides });
}

/** What a class of this package accepts: a URL (it owns the connection) or a shared client. */
export type RedisSource = string | Redis;

const CONNECTING = new Set(['wait', 'connecting', 'connect']);

/**
 * One Redis client plus who owns it. A URL means "open and close your own";
 * a client instance is borrowed and left open on close(), so a node can share
 * one connection between its registry and directory.
 */
export class RedisConnection {
  readonly client: Redis;
  private readonly owned: boolean;
  private everReady = false;
  private readonly initialWaitMs: number;

  constructor(
    source: RedisSource,
    private readonly logger: Logger,
    name: string,
  ) {
    if (typeof source === 'string') {
      this.client = createRedisClient(source, { connectionName: name });
      this.owned = true;
    } else {
      this.client = source;
      this.owned = false;
    }
    this.everReady = this.client.status === 'ready';
    this.initialWaitMs = Number(this.client.options.connectTimeout ?? 2_000);
    this.client.on('ready', this.onReady);
    // Without an 'error' listener ioredis prints every reconnect failure to
    // stderr; we log them at debug level instead (the owners of this
    // connection report outages through their own events).
    this.client.on('error', this.onError);
  }

  private readonly onReady = () => {
    this.everReady = true;
  };

  private readonly onError = (err: Error) => {
    this.logger.debug({ err: errorMessage(err) }, 'redis connection error');
  };

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /**
   * A freshly created client is still connecting; with the offline queue off
   * its first command would fail although nothing is wrong. So until the
   * first 'ready' we wait for it (bounded by connectTimeout). After that,
   * everything fails fast.
   */
  async waitForFirstConnect(): Promise<void> {
    if (this.everReady || !CONNECTING.has(this.client.status)) return;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.initialWaitMs);
    try {
      await Promise.race([
        once(this.client, 'ready', { signal: ac.signal }),
        once(this.client, 'close', { signal: ac.signal }),
      ]);
    } catch {
      // aborted: the timeout elapsed, the command below will fail fast
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
  }

  /**
   * Run a command, translating every failure into a ClusterError: a Redis
   * reply error (bug in a script, wrong key type) is 'internal', anything
   * else (disconnected, timed out) is 'unavailable'.
   */
  async run<T>(what: string, fn: (client: Redis) => Promise<T>): Promise<T> {
    await this.waitForFirstConnect();
    try {
      return await fn(this.client);
    } catch (err) {
      if (err instanceof ClusterError) throw err;
      const replyError = err instanceof Error && err.name === 'ReplyError';
      throw new ClusterError(replyError ? 'internal' : 'unavailable', `redis ${what} failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  /** Close the client if we own it; never throws. */
  async close(): Promise<void> {
    this.client.off('ready', this.onReady);
    if (!this.owned) {
      this.client.off('error', this.onError);
      return;
    }
    try {
      if (this.client.status === 'ready') {
        await this.client.quit();
      } else {
        this.client.disconnect();
      }
    } catch {
      this.client.disconnect();
    }
    // Keep the error listener on an owned client: a late socket error after
    // quit must not become an "unhandled error event".
  }
}
