import { randomBytes } from 'node:crypto';
import {
  type ConsumeResponse,
  type ConsumeTalkbackResponse,
  canonicalLanguage,
  type DataConsumerInfo,
  DEFAULT_COMMENTARY_LANGUAGE,
  grants,
  type JoinResponse,
  type RelayAlternative,
  type SetLanguageResponse,
  type SignalingNotification,
  type SignalingRequestData,
  type TokenClaims,
  type TransportInfo,
  type VideoLayersInfo,
} from '@matchmesh/protocol';
import {
  capabilitiesFitRouter,
  type Logger,
  MediaError,
  PeerMedia,
  type Seat,
  type StreamOutlet,
  type StreamRouter,
} from '@matchmesh/sfu';
import { admitJoin } from './joinAdmission.ts';
import type { PeerContext } from './PeerContext.ts';
import { SignalingFailure } from './SignalingFailure.ts';

// Moved to their own modules; re-exported for the server, wiring and tests that import them from here.
export type { PeerContext, ViewerPlayout } from './PeerContext.ts';
export { SignalingFailure } from './SignalingFailure.ts';

/**
 * One signaling peer (a viewer or commentator on a WebSocket): its token and
 * what it may do. Its media (transports, consumers, producers) is a PeerMedia
 * of packages/sfu, created at join; closing the peer closes it. Nothing here
 * touches the socket; the server feeds requests in and sends notifications
 * out through `notify`.
 */
export class Peer {
  readonly #ctx: PeerContext;
  readonly #notify: (n: SignalingNotification) => void;
  #claims: TokenClaims | undefined;
  #role: 'viewer' | 'commentator' = 'viewer';
  #media: PeerMedia | undefined;
  /** A commentator's language (their token's, else the default): their voice is mixed into that track. */
  #commentaryLanguage: string | undefined;
  /** Seq of the score snapshot sent with the join reply (0 if none). */
  #joinSeq = 0;
  #onProgramChanged = (): void => this.#notify({ notification: 'newProducers' });
  #onStreamClosed = (): void => this.#notify({ notification: 'streamEnded' });
  /** The router whose voices this commentator's talkback follows (set at its first consumeTalkback). */
  #talkbackSource: StreamRouter | undefined;
  #onVoicesChanged = (): void => {
    if (this.#media && !this.#closed)
      this.#notify({ notification: 'talkbackChanged', data: { voices: this.#media.talkbackVoices() } });
  };
  #onCommentaryDelays = (delays: Record<string, number>): void =>
    this.#notify({ notification: 'commentaryDelaysChanged', data: delays });
  #closed = false;
  /** Stops following the stream's playout delay (set at join). */
  #unwatchPlayout: (() => void) | undefined;
  /** Set by the server: sends a drain notification on this peer's socket. */
  notifyDrain?: (reason: string) => void;
  /** When this viewer was last told to move elsewhere (rebalancing or a drain); undefined if never. */
  toldToMoveAt: number | undefined;
  /** When the peer's join succeeded (rebalancing moves no viewer who arrived lately); undefined until then. */
  joinedAt: number | undefined;
  /** The session id (the player's, or made here at join) and the logger that carries it on every line. */
  #sessionId: string | undefined;
  #log: Logger;

  constructor(ctx: PeerContext, notify: (n: SignalingNotification) => void) {
    this.#ctx = ctx;
    this.#notify = notify;
    this.#log = ctx.log;
  }

  /** This peer's logger: bound to its session once it has asked to join. */
  get log(): Logger {
    return this.#log;
  }

  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  /** Where this peer is served from (its stream's outlet on its worker). */
  get stream(): StreamOutlet | undefined {
    return this.#media?.outlet;
  }

  get role(): 'viewer' | 'commentator' {
    return this.#role;
  }

  async join(data: SignalingRequestData<'join'>): Promise<JoinResponse> {
    if (this.#media) throw new SignalingFailure('conflict', 'already joined');
    // Every line about this peer from here on carries its session id (a refused join too).
    this.#sessionId = data.sessionId ?? randomBytes(9).toString('base64url');
    this.#log = this.#ctx.log.child?.({ session: this.#sessionId, stream: data.stream }) ?? this.#ctx.log;
    const { claims, defaultLanguage, asked, commentaryLanguage } = await admitJoin(
      this.#ctx.tokenSecret,
      this.#ctx.defaultLanguage,
      data,
    );
    const blocked = this.#ctx.admissionBlocked(data.role, data.stream);
    if (blocked) throw new SignalingFailure('unavailable', blocked);
    // A full node refuses before it builds anything for the peer (a join storm costs the workers nothing).
    if (data.role === 'viewer' && !this.#ctx.hasRoom()) throw await this.#full();
    let source: StreamRouter | undefined;
    try {
      source = await this.#ctx.resolveStream(data.stream, this.#log);
    } catch (err) {
      this.#log.warn({ err: String(err), stream: data.stream }, 'could not bring the stream to this node');
      throw new SignalingFailure('unavailable', `stream "${data.stream}" cannot be served from this node right now`);
    }
    if (!source) throw new SignalingFailure('not_found', `stream "${data.stream}" is not live`);
    let seat: Seat;
    try {
      seat = await this.#ctx.seat(source, data.role);
    } catch (err) {
      if (err instanceof MediaError && err.code === 'node_full') throw await this.#full();
      throw err;
    }
    if (this.#closed) {
      // The socket went away while the seat was being made.
      seat.release();
      throw new SignalingFailure('unavailable', 'the peer closed during its join');
    }
    const stream = seat.outlet;
    this.#claims = claims;
    this.#role = data.role;
    this.#commentaryLanguage = commentaryLanguage;
    // A commentator hears the venue in the booth (their own language's mix would echo their voice back).
    const media = new PeerMedia(seat, { language: commentaryLanguage ? null : asked, defaultLanguage });
    media.on('consumerclose', (consumerId) => this.#notify({ notification: 'consumerClosed', data: { consumerId } }));
    media.on('layerschange', (layers) => this.#notify({ notification: 'layersChanged', data: layers }));
    this.#media = media;
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
    // A viewer follows how late each language's commentary is against the picture (the booth's, on the ingest).
    if (data.role === 'viewer') stream.source.on('commentarydelays', this.#onCommentaryDelays);
    const commentaryDelays = stream.source.commentaryDelays();
    const playout = this.#ctx.playout;
    this.#unwatchPlayout?.();
    this.#unwatchPlayout = playout?.watch(data.stream, (playoutDelayMs) =>
      this.#notify({ notification: 'playoutDelayChanged', data: { playoutDelayMs } }),
    );
    const playoutDelayMs = playout?.delayFor(data.stream) ?? 0;
    this.joinedAt = Date.now();
    // One round trip: the receiving side is built now when the peer's capabilities come from this router's.
    const fits = data.recv ? capabilitiesFitRouter(data.recv.rtpCapabilities, stream.rtpCapabilities) : false;
    const recv = data.recv && fits ? await media.receive(data.recv, this.#joinSeq) : undefined;
    this.#log.info(
      {
        role: data.role,
        router: stream.router.id,
        resumed,
        playoutDelayMs,
        oneRoundTrip: recv !== undefined,
        ...(data.recv && !fits ? { capabilities: 'from another router: step by step' } : {}),
        ...(recv ? { transportId: recv.transport.id, consumers: recv.consumers.length } : {}),
      },
      'peer joined',
    );
    if (recv) {
      // The same story in the session's log lines (problem reports read them) as the step-by-step way.
      const { transport, consumers } = recv;
      this.#log.info(
        { transportId: transport.id, direction: 'recv', forceTcp: data.recv!.forceTcp },
        'transport created',
      );
      this.#log.info(
        { transportId: transport.id, consumers: consumers.map((c) => `${c.source}/${c.kind}:${c.id}`) },
        'consuming',
      );
    }
    return {
      sessionId: this.#sessionId,
      routerRtpCapabilities: stream.rtpCapabilities,
      nodeId: this.#ctx.nodeId,
      region: this.#ctx.region,
      score: stream.latestScore,
      resumed,
      lang: media.language,
      ...(iceServers && iceServers.length > 0 ? { iceServers } : {}),
      ...(playoutDelayMs > 0 ? { playoutDelayMs } : {}),
      ...(recv ? { recv } : {}),
      ...(Object.keys(commentaryDelays).length > 0 ? { commentaryDelays } : {}),
    };
  }

  async createTransport(data: SignalingRequestData<'createTransport'>): Promise<TransportInfo> {
    const media = this.#joined();
    if (data.direction === 'send' && this.#role !== 'commentator') {
      throw new SignalingFailure('forbidden', 'only commentators may send media');
    }
    const transport = await media.createTransport(data);
    this.#log.info(
      { transportId: transport.id, direction: data.direction, forceTcp: data.forceTcp },
      'transport created',
    );
    return transport;
  }

  async connectTransport(data: SignalingRequestData<'connectTransport'>): Promise<Record<string, never>> {
    await this.#owned(`no transport "${data.transportId}"`).connectTransport(data.transportId, data.dtlsParameters);
    return {};
  }

  /** Consume everything the stream has that this peer does not consume yet. */
  async consume(data: SignalingRequestData<'consume'>): Promise<ConsumeResponse> {
    const media = this.#joined();
    const consumers = await media.consume(data.transportId, data.rtpCapabilities);
    const layers = media.layers;
    this.#log.info(
      { transportId: data.transportId, consumers: consumers.map((c) => `${c.source}/${c.kind}:${c.id}`) },
      'consuming',
    );
    return { consumers, ...(layers ? { layers } : {}), lang: media.language };
  }

  async resumeConsumer(data: SignalingRequestData<'resumeConsumer'>): Promise<Record<string, never>> {
    await this.#owned(`no consumer "${data.consumerId}"`).resumeConsumer(data.consumerId);
    return {};
  }

  /** The viewer's quality menu: the highest layer it wants of the program video (null: automatic, the highest). */
  async setLayers(data: SignalingRequestData<'setLayers'>): Promise<VideoLayersInfo> {
    const media = this.#joined();
    const layers = media.layers;
    if (!layers) throw new SignalingFailure('not_found', 'the program video has no layers to choose from');
    return media.setPreferredLayers(data.spatialLayer ?? layers.spatialLayers - 1);
  }

  async consumeData(data: SignalingRequestData<'consumeData'>): Promise<DataConsumerInfo> {
    return this.#joined().consumeScores(data.transportId, this.#joinSeq);
  }

  async produce(data: SignalingRequestData<'produce'>): Promise<{ id: string }> {
    const media = this.#joined();
    if (this.#role !== 'commentator' || !this.#claims || !grants(this.#claims, 'commentator', media.outlet.stream)) {
      throw new SignalingFailure('forbidden', 'only commentators may produce');
    }
    if (data.kind !== 'audio') throw new SignalingFailure('forbidden', 'a commentator sends audio only');
    const lang = this.#commentaryLanguage ?? DEFAULT_COMMENTARY_LANGUAGE;
    // Named to the other commentators' talkback by session (kept across rejoins) and the booth link's name.
    const commentator = this.#claims.sub ?? this.#sessionId;
    const who = commentator ? { commentator, ...(this.#claims.name ? { name: this.#claims.name } : {}) } : undefined;
    const id = await media.produceCommentary(data.transportId, data.kind, data.rtpParameters, lang, who);
    this.#log.info({ producerId: id, lang }, 'commentator on air');
    return { id };
  }

  /** A viewer's commentary choice: one language (BCP 47) or null for the venue sound only. */
  async setLanguage(data: SignalingRequestData<'setLanguage'>): Promise<SetLanguageResponse> {
    const media = this.#joined();
    if (this.#role === 'commentator') throw new SignalingFailure('forbidden', 'the booth hears the venue sound');
    const lang = await media.setLanguage(data.lang === null ? null : (canonicalLanguage(data.lang) ?? null));
    return { lang, languages: media.outlet.source.languages() };
  }

  /**
   * Talkback: a commentator consumes the other commentators' voices of its booth (never its own); from then
   * on a voice coming or going is told with `talkbackChanged`. Viewers never hear the voices: forbidden.
   */
  async consumeTalkback(data: SignalingRequestData<'consumeTalkback'>): Promise<ConsumeTalkbackResponse> {
    const media = this.#joined();
    if (this.#role !== 'commentator' || !this.#claims || !grants(this.#claims, 'commentator', media.outlet.stream)) {
      throw new SignalingFailure('forbidden', "talkback is for the booth's commentators");
    }
    if (!this.#talkbackSource) {
      const source = media.outlet.source;
      this.#talkbackSource = source;
      source.on('voiceschanged', this.#onVoicesChanged);
    }
    const consumers = await media.consumeTalkback(data.transportId, data.rtpCapabilities);
    this.#log.info({ voices: consumers.map((c) => `${c.lang}:${c.commentator}`) }, 'talkback consuming');
    return { consumers };
  }

  /**
   * A commentator's view delay (their booth page's measure): their voice's delay against the picture, and so
   * their language's, follows (packages/sfu commentary/alignment.ts). Answers the language's delay now.
   */
  async viewDelay(data: SignalingRequestData<'viewDelay'>): Promise<{ commentaryDelayMs: number }> {
    const media = this.#joined();
    if (this.#role !== 'commentator') throw new SignalingFailure('forbidden', 'only commentators report a view delay');
    const voice = [...media.producers.values()].find((p) => !p.closed && p.appData.source === 'voice');
    const booth = media.outlet.source.booth;
    if (!voice || !booth) throw new SignalingFailure('not_found', 'no voice on air: produce first');
    const lang = this.#commentaryLanguage ?? DEFAULT_COMMENTARY_LANGUAGE;
    return { commentaryDelayMs: booth.setViewDelay(voice.id, lang, data) };
  }

  async restartIce(data: SignalingRequestData<'restartIce'>): Promise<{ iceParameters: Record<string, unknown> }> {
    return { iceParameters: await this.#owned(`no transport "${data.transportId}"`).restartIce(data.transportId) };
  }

  /** Ask the viewer to move to `target` (rebalancing): a make-before-break move, as for a drain. */
  notifyMove(target: RelayAlternative, reason: string): void {
    if (this.#closed) return;
    this.#log.info({ target: target.nodeId, reason }, 'told to move');
    this.toldToMoveAt = Date.now();
    this.#notify({ notification: 'move', data: { reason, target } });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Whether this viewer is on its way out: told to move less than `withinMs`
   * ago and still here (its make-before-break join elsewhere is under way). A
   * viewer that could not move (no target answered) counts as staying again after that.
   */
  leaving(now: number, withinMs: number): boolean {
    return this.toldToMoveAt !== undefined && now - this.toldToMoveAt < withinMs;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sessionId) this.#log.info({ joined: this.#media !== undefined }, 'peer left');
    this.#unwatchPlayout?.();
    // The stream outlives its viewers: leave no listener (and no Peer) behind on it.
    this.#media?.outlet.off('programchanged', this.#onProgramChanged);
    this.#media?.outlet.off('close', this.#onStreamClosed);
    this.#talkbackSource?.off('voiceschanged', this.#onVoicesChanged);
    this.#media?.outlet.source.off('commentarydelays', this.#onCommentaryDelays);
    this.#media?.close();
  }

  /** The refusal of a full node, naming a relay of the region with room when the cluster knows one. */
  async #full(): Promise<SignalingFailure> {
    const alternative = await this.#ctx.alternativeRelay?.().catch(() => undefined);
    return new SignalingFailure(
      'full',
      `every worker of this node is at capacity${alternative ? `; join ${alternative.nodeId} (${alternative.url})` : ''}`,
      alternative,
    );
  }

  #joined(): PeerMedia {
    if (!this.#media || this.#media.outlet.closed) throw new SignalingFailure('not_joined', 'join a stream first');
    return this.#media;
  }

  /** The peer's media, for a request naming one of its objects: before a join there is no such object. */
  #owned(missing: string): PeerMedia {
    if (!this.#media) throw new SignalingFailure('not_found', missing);
    return this.#media;
  }
}
