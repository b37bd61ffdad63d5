import { BOOTSTRAP_KID, type SigningKey, type SigningKeyInfo, type TokenKeyRing } from '@matchmesh/protocol';
import { errorMessage } from './errors.ts';
import { type Logger, silentLogger } from './logger.ts';
import type { SigningKeyStore, StoredSigningKey } from './signing-keys.ts';

export interface SigningKeyRingOptions {
  store: SigningKeyStore;
  /** MM_TOKEN_SECRET: the bootstrap key k0. */
  bootstrapSecret: string;
  /** Reload from Redis this often (a backstop: nodes are also told to reload on every change). Default 30 s. */
  refreshMs?: number;
  logger?: Logger;
}

/**
 * A node's copy of the cluster's signing keys, in memory: verifying a token
 * is a map lookup, never a Redis round trip. It reloads when told (the bus,
 * after a rotation or a retirement anywhere) and every `refreshMs`; a reload
 * that fails (Redis down) keeps the last known ring, so tokens keep being
 * accepted and signed through an outage. Until the first load it holds the
 * bootstrap key alone.
 */
export class SigningKeyRing implements TokenKeyRing {
  readonly #store: SigningKeyStore;
  readonly #bootstrap: SigningKey;
  readonly #refreshMs: number;
  readonly #logger: Logger;
  #keys = new Map<string, StoredSigningKey>([[BOOTSTRAP_KID, { kid: BOOTSTRAP_KID, createdAt: 0, state: 'signing' }]]);
  #signing: SigningKey;
  #timer: NodeJS.Timeout | undefined;
  /** Reloads may overlap (a timer tick and a bus call): only a newer one than the last applied wins. */
  #started = 0;
  #applied = 0;

  constructor(options: SigningKeyRingOptions) {
    this.#store = options.store;
    this.#bootstrap = { kid: BOOTSTRAP_KID, secret: options.bootstrapSecret };
    this.#signing = this.#bootstrap;
    this.#refreshMs = options.refreshMs ?? 30_000;
    this.#logger = options.logger ?? silentLogger;
  }

  signing(): SigningKey {
    return this.#signing;
  }

  verifying(kid: string): string | undefined {
    const key = this.#keys.get(kid);
    if (!key || key.state === 'retired') return undefined;
    return kid === BOOTSTRAP_KID ? this.#bootstrap.secret : key.secret;
  }

  /** The keys as this node last loaded them (no secrets). */
  list(): SigningKeyInfo[] {
    return [...this.#keys.values()].map(({ kid, createdAt, state }) => ({ kid, createdAt, state }));
  }

  /** Load the ring and reload it every `refreshMs`. Never throws: a node starts on the bootstrap key when Redis is down. */
  async start(): Promise<void> {
    await this.#store.recordBootstrap().catch(() => undefined);
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#refreshMs);
    this.#timer.unref();
  }

  /** Reload from Redis; false (last known ring kept, logged) when Redis does not answer. Never throws. */
  async refresh(): Promise<boolean> {
    const attempt = ++this.#started;
    let keys: StoredSigningKey[];
    try {
      keys = await this.#store.list();
    } catch (err) {
      this.#logger.warn({ err: errorMessage(err) }, 'signing keys not reloaded: keeping the last known ring');
      return false;
    }
    if (attempt < this.#applied) return true;
    this.#applied = attempt;
    this.#apply(keys);
    return true;
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #apply(keys: StoredSigningKey[]): void {
    const next = new Map(keys.map((k) => [k.kid, k]));
    const signing = keys.find((k) => k.state === 'signing');
    let signer: SigningKey = this.#bootstrap;
    if (signing && signing.kid !== BOOTSTRAP_KID) {
      if (signing.secret) signer = { kid: signing.kid, secret: signing.secret };
      else this.#logger.error({ kid: signing.kid }, 'the signing key has no usable secret here; signing with k0');
    }
    const changed = signer.kid !== this.#signing.kid || describe(next) !== describe(this.#keys);
    this.#keys = next;
    this.#signing = signer;
    if (changed) this.#logger.info({ signing: signer.kid, keys: describe(next) }, 'signing keys loaded');
  }
}

/** `k0:verify k1:signing`, for logs and change detection. */
function describe(keys: Map<string, StoredSigningKey>): string {
  return [...keys.values()].map((k) => `${k.kid}:${k.state}`).join(' ');
}
