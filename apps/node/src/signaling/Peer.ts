import {
  type ConsumerInfo,
  type DataConsumerInfo,
  grants,
  type IceServer,
  type JoinResponse,
  type SignalingErrorCode,
  type SignalingNotification,
  type SignalingRequestData,
  type TokenClaims,
  TokenError,
  type TransportInfo,
  verifyToken,
} from '@matchmesh/protocol';
import type { Logger, StreamRouter } from '@matchmesh/sfu';
import type { types } from 'mediasoup';
import type { MediaService } from '../media/MediaService.ts';

/** A refusal the peer gets as a typed error reply; the socket stays open. */
export class SignalingFailure extends Error {
  readonly code: SignalingErrorCode;
  constructor(code: SignalingErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface PeerContext {
  media: MediaService;
  tokenSecret: string;
  nodeId: string;
  region: string;
  log: Logger;
  /** STUN/TURN servers for a new session (TURN credentials minted for `user`); none by default. */
  iceServers?(user: string): IceServer[];
  /** Refuse new joins (Redis down, node draining, no relay role for viewers) with this reason, or undefined. */
  admissionBlocked(role: 'viewer' | 'commentator'): string | undefined;
  /** The stream's router here, pulling the region's copy if needed; undefined if not live. */
  resolveStream(stream: string): Promise<StreamRouter | undefined>;
}

/** Limits per peer so one socket cannot exhaust the worker. */
const MAX_TRANSPORTS = 4;
const MAX_PRODUCERS = 2;

/**
 * One signaling peer (a viewer or commentator on a WebSocket): its token,
 * its stream, and the mediasoup objects it owns. Closing the peer closes
 * them all. Nothing here touches the socket; the server feeds requests in
 * and sends notifications out through `notify`.
 */
export class Peer {
  readonly #ctx: PeerContext;
  readonly #notify: (n: SignalingNotification) => void;
  readonly transports = new Map<string, types.WebRtcTransport>();
  readonly consumers = new Map<string, types.Consumer>();
  readonly dataConsumers = new Map<string, types.DataConsumer>();
  readonly producers = new Map<string, types.Producer>();
  #claims: TokenClaims | undefined;
  #role: 'viewer' | 'commentator' = 'viewer';
  #stream: StreamRouter | undefined;
  /** Seq of the score snapshot sent with the join reply (0 if none). */
  #joinSeq = 0;
  #onProgramChanged = (): void => this.#notify({ notification: 'newProducers' });
  #onStreamClosed = (): void => this.#notify({ notification: 'streamEnded' });
  #closed = false;
  /** Set by the server: sends a drain notification on this peer's socket. */
  notifyDrain?: (reason: string) => void;

  constructor(ctx: PeerContext, notify: (n: SignalingNotification) => void) {
    this.#ctx = ctx;
    this.#notify = notify;
  }

  get stream(): StreamRouter | undefined {
    return this.#stream;
  }

  get role(): 'viewer' | 'commentator' {
    return this.#role;
  }

  async join(data: SignalingRequestData<'join'>): Promise<JoinResponse> {
    if (this.#stream) throw new SignalingFailure('conflict', 'already joined');
    let claims: TokenClaims;
    try {
      claims = await verifyToken(this.#ctx.tokenSecret, data.token);
    } catch (err) {
      throw new SignalingFailure('unauthorized', err instanceof TokenError ? err.message : 'token is invalid');
    }
    const allowed =
      data.role === 'commentator' ? ['commentator' as const] : ['viewer' as const, 'commentator' as const];
    if (!grants(claims, allowed, data.stream)) {
      throw new SignalingFailure('forbidden', `token does not grant ${data.role} on stream "${data.stream}"`);
    }
    const blocked = this.#ctx.admissionBlocked(data.role);
    if (blocked) throw new SignalingFailure('unavailable', blocked);
    let stream: StreamRouter | undefined;
    try {
      stream = await this.#ctx.resolveStream(data.stream);
    } catch (err) {
      this.#ctx.log.warn({ err: String(err), stream: data.stream }, 'could not bring the stream to this node');
      throw new SignalingFailure('unavailable', `stream "${data.stream}" cannot be served from this node right now`);
    }
    if (!stream) throw new SignalingFailure('not_found', `stream "${data.stream}" is not live`);
    this.#claims = claims;
    this.#role = data.role;
    this.#stream = stream;
    const latest = stream.latestScore?.seq ?? 0;
    // A rejoining viewer gets every update after the last one it has, when the
    // stream's recent buffer still holds them all; otherwise the snapshot.
    const since = data.sinceSeq;
    const resumed =
      since !== undefined && since < latest && (stream.scoresSince(since)[0]?.seq ?? Number.NaN) === since + 1;
    this.#joinSeq = resumed ? since : latest;
    const iceServers = this.#ctx.iceServers?.(`${data.role}-${claims.sub ?? data.stream}`);
    stream.on('programchanged', this.#onProgramChanged);
    stream.once('close', this.#onStreamClosed);
    return {
      routerRtpCapabilities: stream.rtpCapabilities as unknown as Record<string, unknown>,
      nodeId: this.#ctx.nodeId,
      region: this.#ctx.region,
      score: stream.latestScore,
      resumed,
      ...(iceServers && iceServers.length > 0 ? { iceServers } : {}),
    };
  }

  async createTransport(data: SignalingRequestData<'createTransport'>): Promise<TransportInfo> {
    const stream = this.#joined();
    if (data.direction === 'send' && this.#role !== 'commentator') {
      throw new SignalingFailure('forbidden', 'only commentators may send media');
    }
    if (this.transports.size >= MAX_TRANSPORTS) throw new SignalingFailure('conflict', 'too many transports');
    const transport = await stream.createWebRtcTransport({
      sctp: data.sctp,
      forceTcp: data.forceTcp,
      appData: { direction: data.direction, peer: true },
    });
    this.transports.set(transport.id, transport);
    transport.observer.once('close', () => this.transports.delete(transport.id));
    const info: TransportInfo = {
      id: transport.id,
      iceParameters: transport.iceParameters as unknown as Record<string, unknown>,
      iceCandidates: transport.iceCandidates as unknown as Record<string, unknown>[],
      dtlsParameters: transport.dtlsParameters as unknown as Record<string, unknown>,
    };
    if (transport.sctpParameters) info.sctpParameters = transport.sctpParameters as unknown as Record<string, unknown>;
    return info;
  }

  async connectTransport(data: SignalingRequestData<'connectTransport'>): Promise<Record<string, never>> {
    const transport = this.#transport(data.transportId);
    await transport.connect({ dtlsParameters: data.dtlsParameters as unknown as types.DtlsParameters });
    return {};
  }

  /** Consume everything the stream has that this peer does not consume yet. */
  async consume(data: SignalingRequestData<'consume'>): Promise<{ consumers: ConsumerInfo[] }> {
    const stream = this.#joined();
    const transport = this.#transport(data.transportId);
    const caps = data.rtpCapabilities as unknown as types.RtpCapabilities;
    const already = new Set([...this.consumers.values()].map((c) => c.producerId));
    const ownProducers = new Set(this.producers.keys());
    const sources = [
      ...stream.programProducers().map((p) => ({ producer: p, source: 'program' as const })),
      ...stream.commentaryProducers().map((p) => ({ producer: p, source: 'commentary' as const })),
    ].filter(({ producer }) => !already.has(producer.id) && !ownProducers.has(producer.id));

    const out: ConsumerInfo[] = [];
    for (const { producer, source } of sources) {
      if (!stream.router.canConsume({ producerId: producer.id, rtpCapabilities: caps })) continue;
      const consumer = await transport.consume({
        producerId: producer.id,
        rtpCapabilities: caps,
        paused: true,
      });
      this.consumers.set(consumer.id, consumer);
      consumer.observer.once('close', () => {
        this.consumers.delete(consumer.id);
        if (!this.#closed) this.#notify({ notification: 'consumerClosed', data: { consumerId: consumer.id } });
      });
      out.push({
        id: consumer.id,
        producerId: producer.id,
        kind: consumer.kind,
        rtpParameters: consumer.rtpParameters as unknown as Record<string, unknown>,
        source,
      });
    }
    return { consumers: out };
  }

  async resumeConsumer(data: SignalingRequestData<'resumeConsumer'>): Promise<Record<string, never>> {
    const consumer = this.consumers.get(data.consumerId);
    if (!consumer) throw new SignalingFailure('not_found', `no consumer "${data.consumerId}"`);
    await consumer.resume();
    // Ask for a keyframe at once so the first picture arrives without waiting for the GOP.
    if (consumer.kind === 'video') await consumer.requestKeyFrame();
    return {};
  }

  async consumeData(data: SignalingRequestData<'consumeData'>): Promise<DataConsumerInfo> {
    const stream = this.#joined();
    const transport = this.#transport(data.transportId);
    if (!transport.sctpParameters) throw new SignalingFailure('bad_request', 'transport was created without sctp');
    for (const dc of this.dataConsumers.values()) {
      if (dc.dataProducerId === stream.scoreProducer.id)
        throw new SignalingFailure('conflict', 'already consuming scores');
    }
    // Every update after the join snapshot must reach this viewer exactly
    // once and in order, including those produced while it was setting up.
    // The consumer is created paused (live updates skip it); then, in one
    // synchronous block, resume and the backlog are written to the worker's
    // channel, which handles requests in order: any live update comes from a
    // later tick, so it is written, and delivered, after the backlog.
    const dc = await transport.consumeData({ dataProducerId: stream.scoreProducer.id, paused: true });
    const backlog = stream.scoresSince(this.#joinSeq);
    await Promise.all([dc.resume(), ...backlog.map((u) => dc.send(JSON.stringify(u)))]);
    this.dataConsumers.set(dc.id, dc);
    dc.observer.once('close', () => this.dataConsumers.delete(dc.id));
    return {
      id: dc.id,
      dataProducerId: dc.dataProducerId,
      sctpStreamParameters: (dc.sctpStreamParameters ?? {}) as unknown as Record<string, unknown>,
      label: dc.label,
      protocol: dc.protocol,
    };
  }

  async produce(data: SignalingRequestData<'produce'>): Promise<{ id: string }> {
    const stream = this.#joined();
    if (this.#role !== 'commentator' || !this.#claims || !grants(this.#claims, 'commentator', stream.stream)) {
      throw new SignalingFailure('forbidden', 'only commentators may produce');
    }
    if (this.producers.size >= MAX_PRODUCERS) throw new SignalingFailure('conflict', 'too many producers');
    const transport = this.#transport(data.transportId);
    if (transport.appData.direction !== 'send') throw new SignalingFailure('bad_request', 'not a send transport');
    const producer = await transport.produce({
      kind: data.kind,
      rtpParameters: data.rtpParameters as unknown as types.RtpParameters,
      appData: { source: 'commentary' },
    });
    this.producers.set(producer.id, producer);
    producer.observer.once('close', () => this.producers.delete(producer.id));
    stream.addCommentary(producer);
    return { id: producer.id };
  }

  async restartIce(data: SignalingRequestData<'restartIce'>): Promise<{ iceParameters: Record<string, unknown> }> {
    const transport = this.#transport(data.transportId);
    const iceParameters = await transport.restartIce();
    return { iceParameters: iceParameters as unknown as Record<string, unknown> };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The stream outlives its viewers: leave no listener (and no Peer) behind on it.
    this.#stream?.off('programchanged', this.#onProgramChanged);
    this.#stream?.off('close', this.#onStreamClosed);
    for (const t of this.transports.values()) t.close();
  }

  #joined(): StreamRouter {
    if (!this.#stream || this.#stream.closed) throw new SignalingFailure('not_joined', 'join a stream first');
    return this.#stream;
  }

  #transport(id: string): types.WebRtcTransport {
    const t = this.transports.get(id);
    if (!t) throw new SignalingFailure('not_found', `no transport "${id}"`);
    return t;
  }
}
