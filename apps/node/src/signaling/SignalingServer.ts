import {
  RequestEnvelope,
  SIGNALING_PATH,
  type SignalingError,
  type SignalingMethod,
  SignalingRequests,
  type SignalingResponse,
  TokenQuery,
} from '@matchmesh/protocol';
import { PeerMediaError } from '@matchmesh/sfu';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { WebSocket } from 'ws';
import { problemResponses } from '../http/schemas.ts';
import { Peer, type PeerContext, SignalingFailure } from './Peer.ts';

const MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * The `/ws` endpoint: one Peer per socket. Every message is checked twice —
 * envelope, then the method's own zod schema — and every failure becomes a
 * typed error reply; the socket stays open and nothing else is disturbed.
 */
export class SignalingServer {
  readonly #ctx: PeerContext;
  readonly peers = new Set<Peer>();

  constructor(ctx: PeerContext) {
    this.#ctx = ctx;
  }

  async register(app: FastifyInstance): Promise<void> {
    // The query is checked like every route's: a malformed one is a 400 problem before the upgrade.
    // The token travels in `join`, so `?token=` (the one query parameter any route takes) is not used here.
    app
      .withTypeProvider<ZodTypeProvider>()
      .get(
        SIGNALING_PATH,
        { websocket: true, schema: { querystring: TokenQuery, response: problemResponses } },
        (socket) => this.#accept(socket),
      );
  }

  /** Tell every peer on this node to move elsewhere (drain). */
  broadcastDrain(reason: string): void {
    for (const peer of this.peers) {
      peer.toldToMoveAt = Date.now();
      peer.notifyDrain?.(reason);
    }
  }

  #accept(socket: WebSocket): void {
    const send = (msg: unknown): void => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
    };
    const peer = new Peer(this.#ctx, (notification) => send(notification));
    peer.notifyDrain = (reason) => send({ notification: 'drain', data: { reason } });
    this.peers.add(peer);
    // Requests of one peer run in order: mediasoup-client's flow depends on it
    // (connect before consume...), and it bounds one socket's concurrency.
    let queue: Promise<void> = Promise.resolve();
    socket.on('message', (raw, isBinary) => {
      queue = queue.then(() => this.#handle(peer, raw as Buffer, isBinary).then(send));
    });
    socket.on('close', () => {
      this.peers.delete(peer);
      peer.close();
    });
    socket.on('error', (err) => peer.log.warn({ err }, 'signaling socket error'));
  }

  async #handle(peer: Peer, raw: Buffer, isBinary: boolean): Promise<SignalingResponse> {
    const fail = (
      id: number | null,
      code: SignalingError['code'],
      message: string,
      alternative?: SignalingError['alternative'],
    ): SignalingResponse => ({
      id,
      ok: false,
      error: alternative ? { code, message, alternative } : { code, message },
    });
    if (isBinary) return fail(null, 'bad_request', 'binary messages are not accepted');
    if (raw.length > MAX_MESSAGE_BYTES) return fail(null, 'bad_request', 'message too large');
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      return fail(null, 'bad_request', 'message is not valid JSON');
    }
    const envelope = RequestEnvelope.safeParse(json);
    if (!envelope.success) return fail(null, 'bad_request', 'message must be {id, method, data}');
    const { id, method, data } = envelope.data;
    if (!Object.hasOwn(SignalingRequests, method)) return fail(id, 'unknown_method', `unknown method "${method}"`);
    const schema = SignalingRequests[method as SignalingMethod];
    const parsed = schema.safeParse(data ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return fail(id, 'bad_request', `${method}: ${issue?.path.join('.') || 'data'}: ${issue?.message}`);
    }
    try {
      const handler = peer[method as SignalingMethod] as (d: unknown) => Promise<unknown>;
      const result = await handler.call(peer, parsed.data);
      return { id, ok: true, data: result };
    } catch (err) {
      if (err instanceof SignalingFailure) {
        // A refusal (full, unavailable, forbidden…) is part of the session's story.
        if (method === 'join') peer.log.info({ code: err.code, reason: err.message }, 'join refused');
        return fail(id, err.code, err.message, err.alternative);
      }
      if (err instanceof PeerMediaError) return fail(id, err.code, err.message);
      // mediasoup rejects bad parameters with TypeError / UnsupportedError:
      // the peer's fault, reported as such.
      const name = (err as Error)?.name;
      if (name === 'TypeError' || name === 'UnsupportedError') return fail(id, 'bad_request', (err as Error).message);
      if (name === 'InvalidStateError') return fail(id, 'conflict', (err as Error).message);
      peer.log.error({ err, method }, 'signaling handler failed');
      return fail(id, 'internal', 'internal error');
    }
  }
}
