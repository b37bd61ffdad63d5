import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import { decodeMessage, encodeMessage, type MessageBody, type RequestBody, type ResponseBody } from './bus-wire.ts';
import { ClusterError, errorMessage } from './errors.ts';
import { type ClusterKeys, clusterKeys } from './keys.ts';
import { type Logger, silentLogger } from './logger.ts';
import { createRedisClient, RedisConnection, type RedisSource, SUBSCRIBER_OPTIONS } from './redis.ts';

export interface NodeBusOptions {
  /** Used to publish (fail-fast). The bus opens its own second connection to subscribe. */
  redis: RedisSource;
  cluster: string;
  /** This node's id: the bus listens on its channel and signs as it. */
  nodeId: string;
  /** Shared by every node of the cluster; at least 16 characters. */
  secret: string;
  logger?: Logger;
  /** Default for request(); 5000 ms. */
  defaultTimeoutMs?: number;
  /** Messages whose timestamp is further than this from our clock are dropped. Default 30 s. */
  maxClockSkewMs?: number;
}

export interface RequestOptions {
  timeoutMs?: number;
}

export interface HandlerContext {
  /** Node id of the caller (authenticated by the cluster HMAC, i.e. some node of this cluster). */
  from: string;
  method: string;
}

export type BusHandler<P = unknown, R = unknown> = (payload: P, ctx: HandlerContext) => R | Promise<R>;

export type DropReason =
  | 'too-large'
  | 'malformed'
  | 'bad-signature'
  | 'wrong-cluster'
  | 'not-for-me'
  | 'stale'
  | 'replay'
  | 'unknown-response';

export interface NodeBusEvents {
  /** A message was dropped unprocessed. For monitoring (and tests); logged already. */
  dropped: [reason: DropReason, detail: string];
}

interface Pending {
  target: string;
  method: string;
  /** The reply's schema: a result that fails it rejects the request with 'bad_reply'. */
  reply: z.ZodType;
  resolve: (value: unknown) => void;
  reject: (err: ClusterError) => void;
  timer: NodeJS.Timeout;
}

const MIN_SECRET_LENGTH = 16;
/** Warn at most this often per drop reason; the rest go to debug (a flood must not flood the logs). */
const WARN_EVERY_MS = 1_000;

/**
 * Node-to-node request/response over Redis pub/sub (see README for why
 * pub/sub and not streams or direct HTTP).
 *
 * Each node subscribes to `mm:{cluster}:bus:<nodeId>`. A request is published
 * to the target's channel with a random id and our node id as `from`; the
 * target publishes the response to our channel with the same id. PUBLISH
 * returns how many subscribers got the message, so a request to a node that
 * is not listening fails at once ('unavailable') instead of timing out.
 *
 * Every message is HMAC-signed with the cluster secret and time-stamped.
 * Anything unsigned, from another cluster, addressed to someone else, too old,
 * replayed or malformed is dropped with a warning and a 'dropped' event;
 * nothing a peer sends can throw inside the node.
 */
export class NodeBus extends EventEmitter<NodeBusEvents> {
  readonly cluster: string;
  readonly nodeId: string;

  private readonly pub: RedisConnection;
  private readonly sub: Redis;
  private readonly keys: ClusterKeys;
  private readonly logger: Logger;
  private readonly secret: string;
  private readonly defaultTimeoutMs: number;
  private readonly maxSkewMs: number;

  private readonly handlers = new Map<string, { handler: BusHandler; schema: z.ZodType | undefined }>();
  private readonly pending = new Map<string, Pending>();
  /** `${from}|${id}` of requests seen within the skew window → expiry time. */
  private readonly seen = new Map<string, number>();
  private readonly lastWarn = new Map<DropReason, number>();
  private started: Promise<void> | null = null;
  private subscribed = false;
  private closed = false;

  constructor(options: NodeBusOptions) {
    super();
    if (typeof options.secret !== 'string' || options.secret.length < MIN_SECRET_LENGTH) {
      throw new ClusterError('bad_request', `bus secret must be at least ${MIN_SECRET_LENGTH} characters`);
    }
    if (!options.nodeId || options.nodeId.length > 64) {
      throw new ClusterError('bad_request', 'bus nodeId must be 1-64 characters');
    }
    this.cluster = options.cluster;
    this.nodeId = options.nodeId;
    this.keys = clusterKeys(options.cluster);
    this.secret = options.secret;
    this.logger = options.logger ?? silentLogger;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 5_000;
    this.maxSkewMs = options.maxClockSkewMs ?? 30_000;
    this.pub = new RedisConnection(options.redis, this.logger, `mm-bus-pub-${options.nodeId}`);
    const subName = { connectionName: `mm-bus-sub-${options.nodeId}` };
    this.sub =
      typeof options.redis === 'string'
        ? createRedisClient(options.redis, { ...SUBSCRIBER_OPTIONS, ...subName })
        : options.redis.duplicate({ ...SUBSCRIBER_OPTIONS, ...subName });
    this.sub.on('error', (err) => this.logger.debug({ err: errorMessage(err) }, 'bus subscriber connection error'));
    this.sub.on('message', this.onMessage);
  }

  /**
   * Subscribe to our channel. Resolves once subscribed; while Redis is down it
   * waits (it does not reject) and ioredis re-subscribes after reconnects by
   * itself. request() needs this to have resolved to receive responses.
   */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new ClusterError('unavailable', 'bus is closed'));
    this.started ??= this.sub.subscribe(this.keys.bus(this.nodeId)).then(
      () => {
        this.subscribed = true;
        this.logger.info({ nodeId: this.nodeId, cluster: this.cluster }, 'bus listening');
      },
      (err: unknown) => {
        this.started = null;
        throw new ClusterError('unavailable', `bus subscribe failed: ${errorMessage(err)}`, { cause: err });
      },
    );
    return this.started;
  }

  /**
   * Answer `method`. With `schema`, the payload is validated first and a
   * mismatch answers 'bad_request' without calling the handler. A handler
   * throwing ClusterError sends its code back; any other error is 'internal'.
   * Returns a function that removes the handler.
   */
  handle<P = unknown, R = unknown>(method: string, handler: BusHandler<P, R>, schema?: z.ZodType<P>): () => void {
    if (this.handlers.has(method)) throw new ClusterError('bad_request', `handler for ${method} already set`);
    const entry = { handler: handler as BusHandler, schema: schema as z.ZodType | undefined };
    this.handlers.set(method, entry);
    return () => {
      if (this.handlers.get(method) === entry) this.handlers.delete(method);
    };
  }

  /**
   * Ask `target` to run `method`; its result is parsed with `reply` (a peer
   * is another process, possibly another version: its answer is input like
   * any other). Rejects with ClusterError: 'timeout' (no answer in time),
   * 'unavailable' (Redis down, target not listening, bus closed),
   * 'bad_reply' (the result fails `reply`; logged), or the code the target's
   * handler answered with ('not_found' for an unknown method, 'bad_request',
   * 'internal'...).
   */
  async request<T>(
    target: string,
    method: string,
    payload: unknown,
    reply: z.ZodType<T>,
    options: RequestOptions = {},
  ): Promise<T> {
    if (this.closed) throw new ClusterError('unavailable', 'bus is closed');
    if (!this.subscribed) throw new ClusterError('unavailable', 'bus not started (call start() first)');
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const id = randomUUID();
    const body: RequestBody = {
      v: 1,
      kind: 'req',
      cluster: this.cluster,
      id,
      from: this.nodeId,
      to: target,
      ts: Date.now(),
      method,
      payload,
    };
    let wire: string;
    try {
      wire = encodeMessage(this.secret, body);
    } catch (err) {
      throw new ClusterError('bad_request', `payload is not serialisable: ${errorMessage(err)}`);
    }

    // Register before publishing: the answer can arrive before PUBLISH returns.
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ClusterError('timeout', `${method} to ${target} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { target, method, reply, resolve, reject, timer });
    });
    // The caller awaits the returned promise; this only keeps Node from
    // flagging a rejection that settles before that await attaches.
    answer.catch(() => {});

    try {
      const receivers = await this.pub.run('publish', (c) => c.publish(this.keys.bus(target), wire));
      if (receivers === 0) {
        this.settle(id, new ClusterError('unavailable', `node ${target} is not listening on the bus`));
      }
    } catch (err) {
      this.settle(id, err instanceof ClusterError ? err : new ClusterError('unavailable', errorMessage(err)));
    }
    return answer as Promise<T>;
  }

  /** Stop listening; pending requests reject with 'unavailable'. Never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.pending.keys()]) {
      this.settle(id, new ClusterError('unavailable', 'bus closed'));
    }
    this.sub.off('message', this.onMessage);
    try {
      if (this.sub.status === 'ready') await this.sub.quit();
      else this.sub.disconnect();
    } catch {
      this.sub.disconnect();
    }
    await this.pub.close();
  }

  // -------------------------------------------------------------- receiving

  private readonly onMessage = (channel: string, raw: string): void => {
    if (this.closed || channel !== this.keys.bus(this.nodeId)) return;
    const decoded = decodeMessage(this.secret, raw);
    if (!decoded.ok) {
      this.drop(decoded.reason, decoded.detail);
      return;
    }
    const body = decoded.body;
    const refused = this.refuse(body);
    if (refused) {
      this.drop(refused[0], refused[1]);
    } else if (body.kind === 'res') {
      this.onResponse(body);
    } else {
      void this.onRequest(body);
    }
  };

  /** Why a correctly signed message must still not be processed, or null. */
  private refuse(body: MessageBody): [DropReason, string] | null {
    if (body.cluster !== this.cluster) return ['wrong-cluster', `cluster ${body.cluster}`];
    if (body.to !== this.nodeId) return ['not-for-me', `addressed to ${body.to}`];
    if (Math.abs(Date.now() - body.ts) > this.maxSkewMs) {
      return ['stale', `timestamp ${body.ts} outside ±${this.maxSkewMs} ms`];
    }
    if (body.kind === 'req' && this.isReplay(body.from, body.id, body.ts)) {
      return ['replay', `request ${body.id} seen before`];
    }
    return null;
  }

  private onResponse(body: ResponseBody): void {
    const p = this.pending.get(body.id);
    if (!p || p.target !== body.from) {
      // Usually an answer that arrived after its request timed out.
      this.drop('unknown-response', `response ${body.id} from ${body.from}`);
      return;
    }
    if (body.ok) {
      const parsed = p.reply.safeParse(body.result);
      if (parsed.success) {
        this.settle(body.id, null, parsed.data);
        return;
      }
      const issues = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(result)'}: ${i.message}`)
        .join('; ')
        .slice(0, 500);
      this.logger.warn({ method: p.method, from: p.target, issues }, 'bus reply failed its schema');
      this.settle(body.id, new ClusterError('bad_reply', `${p.method} on ${p.target}: malformed reply: ${issues}`));
    } else {
      const e = body.error ?? { code: 'internal' as const, message: 'error without details' };
      this.settle(body.id, new ClusterError(e.code, `${p.method} on ${p.target}: ${e.message}`));
    }
  }

  private async onRequest(body: RequestBody): Promise<void> {
    let response: Pick<ResponseBody, 'ok' | 'result' | 'error'>;
    const entry = this.handlers.get(body.method);
    if (!entry) {
      response = { ok: false, error: { code: 'not_found', message: `no handler for ${body.method}` } };
    } else {
      try {
        let payload = body.payload;
        if (entry.schema) {
          const parsed = entry.schema.safeParse(payload);
          if (!parsed.success) {
            throw new ClusterError('bad_request', parsed.error.issues.map((i) => i.message).join('; '));
          }
          payload = parsed.data;
        }
        const result = await entry.handler(payload, { from: body.from, method: body.method });
        response = { ok: true, result: result === undefined ? null : result };
      } catch (err) {
        const code = err instanceof ClusterError ? err.code : 'internal';
        if (code === 'internal') {
          this.logger.error({ err: errorMessage(err), method: body.method, from: body.from }, 'bus handler failed');
        }
        response = { ok: false, error: { code, message: errorMessage(err).slice(0, 2000) } };
      }
    }
    if (this.closed) return;
    const reply: ResponseBody = {
      v: 1,
      kind: 'res',
      cluster: this.cluster,
      id: body.id,
      from: this.nodeId,
      to: body.from,
      ts: Date.now(),
      ...response,
    };
    let wire: string;
    try {
      wire = encodeMessage(this.secret, reply);
    } catch (err) {
      wire = encodeMessage(this.secret, {
        ...reply,
        ok: false,
        result: undefined,
        error: { code: 'internal', message: `result is not serialisable: ${errorMessage(err)}` },
      });
    }
    try {
      await this.pub.run('publish', (c) => c.publish(this.keys.bus(body.from), wire));
    } catch (err) {
      this.logger.warn({ err: errorMessage(err), to: body.from, method: body.method }, 'could not send bus response');
    }
  }

  private settle(id: string, err: ClusterError | null, value?: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
  }

  /** Remember request ids for the skew window: a captured message cannot be replayed. */
  private isReplay(from: string, id: string, ts: number): boolean {
    const now = Date.now();
    const key = `${from}|${id}`;
    if ((this.seen.get(key) ?? 0) > now) return true;
    if (this.seen.size >= 10_000) {
      for (const [k, exp] of this.seen) if (exp <= now) this.seen.delete(k);
    }
    this.seen.set(key, ts + this.maxSkewMs + 1);
    return false;
  }

  private drop(reason: DropReason, detail: string): void {
    const now = Date.now();
    const quiet = reason === 'unknown-response' || now - (this.lastWarn.get(reason) ?? 0) < WARN_EVERY_MS;
    if (quiet) {
      this.logger.debug({ reason, detail }, 'bus message dropped');
    } else {
      this.lastWarn.set(reason, now);
      this.logger.warn({ reason, detail }, 'bus message dropped');
    }
    this.emit('dropped', reason, detail);
  }
}
