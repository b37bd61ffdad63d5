import { keyPrefix } from './keys.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RedisConnection, type RedisSource } from './redis.ts';

export interface OnceTokenStoreOptions {
  redis: RedisSource;
  cluster: string;
  logger?: Logger;
}

/**
 * The single-use URL tokens already exchanged, cluster-wide: `once:<jti>`
 * is SET NX with its expiry at the token's own (after that the token is
 * refused as expired anyway, so the record can go). Any node may do the
 * exchange; Redis decides which one was first.
 */
export class OnceTokenStore {
  readonly #conn: RedisConnection;
  readonly #prefix: string;

  constructor(options: OnceTokenStoreOptions) {
    this.#prefix = `${keyPrefix(options.cluster)}once:`;
    this.#conn = new RedisConnection(options.redis, options.logger ?? silentLogger, `mm-once-${options.cluster}`);
  }

  /**
   * Record the use of `jti` (expiring at `expSec`, epoch s); true when this is
   * its first use. Throws ClusterError('unavailable') when Redis cannot say:
   * the caller must then refuse (fail closed), never let the token through.
   */
  async consume(jti: string, expSec: number, usedBy: string): Promise<boolean> {
    // At least a whole second from now: EXAT in the past would be refused (or expire at once and allow a
    // replay). `floor(now) + 1` could be a millisecond away (at x.999 s), which let a replay through under load.
    const exat = Math.max(expSec, Math.ceil(Date.now() / 1000) + 1);
    const reply = await this.#conn.run('once-token consume', (c) =>
      c.set(this.#prefix + jti, usedBy, 'EXAT', exat, 'NX'),
    );
    return reply === 'OK';
  }

  async close(): Promise<void> {
    await this.#conn.close();
  }
}
