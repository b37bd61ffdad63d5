import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { PipeLinkStats } from '@matchmesh/protocol';
import type { types } from 'mediasoup';
import { receivingLinkStats, sendingLinkStats } from './pipeStats.ts';
import { commentaryLanguage, type StreamRouter } from './StreamRouter.ts';
import type { SourceRole } from './stable/StableProgram.ts';
import { socketBuffers } from './WorkerPool.ts';

/**
 * Media between nodes: a stream's program (and score channel) carried from an
 * upstream node (the ingest, or the relay holding its region's copy) to a
 * downstream relay over a mediasoup PipeTransport pair — plain UDP with SRTP,
 * RTX for retransmissions, SCTP for the scores. This file knows nothing of how
 * the two nodes talk: the offer and answer below are plain data that the node
 * carries over whatever it likes (the cluster bus).
 */

export interface PipeEndpoint {
  ip: string;
  port: number;
  srtpParameters?: types.SrtpParameters;
}

export interface PipedProducer {
  id: string;
  kind: types.MediaKind;
  rtpParameters: types.RtpParameters;
  source: 'program' | 'commentary';
  /** Commentary: the language of the mixed track. */
  lang?: string;
}

export interface PipedDataProducer {
  id: string;
  sctpStreamParameters: types.SctpStreamParameters;
  label: string;
  protocol: string;
}

/** What the upstream answers: its end of the pipe and what it sends down it. */
export interface PipeAnswer extends PipeEndpoint {
  pipeId: string;
  producers: PipedProducer[];
  scores: PipedDataProducer | null;
  /** How late each language's commentary is against the picture (ms; the ingest's booth measures it). */
  commentaryDelays?: Record<string, number>;
}

export interface PipeListen {
  ip: string;
  announcedAddress?: string;
  portRange?: { min: number; max: number };
  /** Socket buffer size (bytes, 0: kernel default); see WorkerPool socketBufferBytes. */
  socketBufferBytes?: number;
}

async function createPipeTransport(
  stream: StreamRouter,
  listen: PipeListen,
  appData: types.AppData,
): Promise<types.PipeTransport> {
  return stream.router.createPipeTransport({
    listenInfo: {
      protocol: 'udp',
      ip: listen.ip,
      announcedAddress: listen.announcedAddress,
      portRange: listen.portRange,
      ...socketBuffers(listen.socketBufferBytes),
    },
    enableSctp: true,
    enableRtx: true,
    enableSrtp: true,
    appData,
  });
}

function endpointOf(transport: types.PipeTransport): PipeEndpoint {
  const tuple = transport.tuple;
  return {
    ip: tuple.localAddress ?? tuple.localIp,
    port: tuple.localPort,
    srtpParameters: transport.srtpParameters,
  };
}

/** What the downstream needs to produce `producer` from its pipe consumer (a language track names its language). */
function piped(producer: types.Producer, consumer: types.Consumer): Omit<PipedProducer, 'source'> {
  const lang = commentaryLanguage(producer);
  return { id: producer.id, kind: consumer.kind, rtpParameters: consumer.rtpParameters, ...(lang ? { lang } : {}) };
}

interface PipeEvents {
  close: [reason: string];
}

/** Commentary producers a pipe started or stopped carrying after it opened. */
export interface CommentaryChange {
  added: PipedProducer[];
  removed: string[];
  /** The languages' delays against the picture, when they moved. */
  delays?: Record<string, number>;
}

interface PipeOutEvents extends PipeEvents {
  /** Tell the downstream end (over the node bus): produce `added`, close `removed`. */
  commentary: [change: CommentaryChange];
}

/**
 * The upstream end of a pipe: consumes the stream's program, commentary and
 * score producers into a PipeTransport connected to the downstream's end.
 */
export class PipeOut extends EventEmitter<PipeOutEvents> {
  readonly id = randomUUID();
  readonly stream: StreamRouter;
  readonly transport: types.PipeTransport;
  readonly answer: PipeAnswer;
  /** The node and region at the other end (for ops and metrics). */
  readonly peer: { nodeId: string; region: string };
  #closed = false;
  /** Commentary producers this pipe carries, by producer id (commentators come and go while it is open). */
  readonly #commentary: Map<string, types.Consumer>;
  /** The program's consumers on this pipe (its stats: what the path did). */
  readonly #program: types.Consumer[];
  #commentarySync: Promise<void> = Promise.resolve();
  readonly #onProgramChanged = (): void => {
    this.#commentarySync = this.#commentarySync.then(() => this.#syncCommentary()).catch(() => undefined);
  };
  /** The languages' delays against the picture moved: the downstream's viewers follow them. */
  readonly #onDelays = (delays: Record<string, number>): void => {
    if (!this.#closed) this.emit('commentary', { added: [], removed: [], delays });
  };

  private constructor(
    stream: StreamRouter,
    transport: types.PipeTransport,
    answer: PipeAnswer,
    peer: PipeOut['peer'],
    commentary: Map<string, types.Consumer>,
    program: types.Consumer[],
  ) {
    super();
    this.#program = program;
    this.stream = stream;
    this.transport = transport;
    this.answer = answer;
    this.peer = peer;
    this.#commentary = commentary;
    stream.on('programchanged', this.#onProgramChanged);
    stream.on('commentarydelays', this.#onDelays);
    // The transport lives in the stream's router, so the stream closing closes
    // it too; listening on the long-lived stream would leak one listener per pipe.
    transport.observer.once('close', () => this.close('transport closed'));
  }

  static async open(
    stream: StreamRouter,
    listen: PipeListen,
    remote: PipeEndpoint,
    peer: PipeOut['peer'],
  ): Promise<PipeOut> {
    const transport = await createPipeTransport(stream, listen, { pipe: 'out', ...peer });
    try {
      await transport.connect({ ip: remote.ip, port: remote.port, srtpParameters: remote.srtpParameters });
      const producers: PipedProducer[] = [];
      const commentary = new Map<string, types.Consumer>();
      const program: types.Consumer[] = [];
      const sources = [
        ...stream.programProducers().map((p) => ({ p, source: 'program' as const })),
        ...stream.commentaryProducers().map((p) => ({ p, source: 'commentary' as const })),
      ];
      for (const { p, source } of sources) {
        const consumer = await transport.consume({ producerId: p.id });
        producers.push({ ...piped(p, consumer), source });
        if (source === 'commentary') commentary.set(p.id, consumer);
        else program.push(consumer);
      }
      const dc = await transport.consumeData({ dataProducerId: stream.scoreProducer.id });
      const scores: PipedDataProducer = {
        id: stream.scoreProducer.id,
        sctpStreamParameters: dc.sctpStreamParameters!,
        label: dc.label,
        protocol: dc.protocol,
      };
      const pipeId = randomUUID();
      const delays = stream.commentaryDelays();
      const answer: PipeAnswer = {
        ...endpointOf(transport),
        pipeId,
        producers,
        scores,
        ...(Object.keys(delays).length > 0 ? { commentaryDelays: delays } : {}),
      };
      return new PipeOut(stream, transport, answer, peer, commentary, program);
    } catch (err) {
      transport.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** What the path did to the program's media so far, as this sending end sees it. */
  linkStats(): Promise<PipeLinkStats> {
    return sendingLinkStats(this.#program);
  }

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.stream.off('programchanged', this.#onProgramChanged);
    this.stream.off('commentarydelays', this.#onDelays);
    this.transport.close();
    this.emit('close', reason);
  }

  /** Carry commentators who started since the pipe opened; drop those who left. */
  async #syncCommentary(): Promise<void> {
    if (this.#closed) return;
    const current = this.stream.commentaryProducers();
    const added: PipedProducer[] = [];
    for (const p of current) {
      if (this.#commentary.has(p.id)) continue;
      const consumer = await this.transport.consume({ producerId: p.id });
      this.#commentary.set(p.id, consumer);
      added.push({ ...piped(p, consumer), source: 'commentary' });
    }
    const live = new Set(current.map((p) => p.id));
    const removed = [...this.#commentary.keys()].filter((id) => !live.has(id));
    for (const id of removed) {
      this.#commentary.get(id)?.close();
      this.#commentary.delete(id);
    }
    if (!this.#closed && (added.length > 0 || removed.length > 0)) this.emit('commentary', { added, removed });
  }
}

/**
 * The downstream end of a pipe: a PipeTransport whose producers become the
 * relay's program, and whose score DataProducer feeds the relay's stream
 * score channel (so viewers of a relay consume a score producer that is the
 * relay's own, exactly as on the ingest).
 */
export class PipeIn extends EventEmitter<PipeEvents> {
  readonly stream: StreamRouter;
  readonly transport: types.PipeTransport;
  readonly producers: types.Producer[] = [];
  pipeId: string | undefined;
  /** Which ingest copy this pipe carries (a relay may pull the primary's and the backup's). */
  readonly role: SourceRole;
  /** Where the pipe comes from (ops). */
  readonly upstream: string;
  /**
   * The merged program source this pipe is one path of (a critical region's dual path: the copies of
   * every pipe of the group are merged packet by packet); undefined: the pipe is a source of its own.
   */
  readonly mergeGroup: string | undefined;
  #detachScores: (() => void) | undefined;
  #closed = false;
  /**
   * A second path of a merged source: it carries the program and scores only. The first path brings the
   * commentary (the same producers, under the same ids: a second copy would collide in the router).
   */
  #secondary = false;

  private constructor(
    stream: StreamRouter,
    transport: types.PipeTransport,
    role: SourceRole,
    upstream: string,
    mergeGroup: string | undefined,
  ) {
    super();
    this.stream = stream;
    this.transport = transport;
    this.role = role;
    this.upstream = upstream;
    this.mergeGroup = mergeGroup;
    // The transport lives in the stream's router, so the stream closing closes
    // it too; listening on the long-lived stream would leak one listener per pipe.
    transport.observer.once('close', () => this.close('transport closed'));
  }

  /** Create our end; send `offer` upstream, then `connect()` with the answer. */
  static async prepare(
    stream: StreamRouter,
    listen: PipeListen,
    role: SourceRole = 'primary',
    upstream = 'upstream',
    merge?: { group: string; secondary?: boolean },
  ): Promise<PipeIn> {
    const transport = await createPipeTransport(stream, listen, { pipe: 'in', role, upstream });
    const pipe = new PipeIn(stream, transport, role, upstream, merge?.group);
    pipe.#secondary = merge?.secondary === true;
    return pipe;
  }

  /** The program source id this pipe's producers feed as a path of (merged), or as (alone). */
  get pathId(): string | undefined {
    return this.pipeId === undefined ? undefined : `pipe-${this.pipeId}`;
  }

  get offer(): PipeEndpoint {
    return endpointOf(this.transport);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** What the path did to the program's media so far, as this receiving end sees it. */
  linkStats(): Promise<PipeLinkStats> {
    return receivingLinkStats(this.producers.filter((p) => p.appData.source === 'program'));
  }

  async connect(answer: PipeAnswer): Promise<void> {
    this.pipeId = answer.pipeId;
    await this.transport.connect({ ip: answer.ip, port: answer.port, srtpParameters: answer.srtpParameters });
    const program: types.Producer[] = [];
    for (const piped of answer.producers) {
      if (this.#secondary && piped.source !== 'program') continue;
      const producer = await this.transport.produce({
        id: piped.id,
        kind: piped.kind,
        rtpParameters: piped.rtpParameters,
        appData: { source: piped.source, lang: piped.lang },
      });
      this.producers.push(producer);
      if (piped.source === 'program') program.push(producer);
      else this.stream.addCommentary(producer);
    }
    // Spliced into the relay's own stable program: this pipe dying or being
    // replaced (another upstream, the backup's copy) closes nothing viewers hold.
    if (program.length > 0) {
      const own = `pipe-${answer.pipeId}`;
      await this.stream.attachProgram({
        id: this.mergeGroup ?? own,
        role: this.role,
        producers: program,
        label: this.mergeGroup ? `merged:${this.mergeGroup}` : `pipe:${this.upstream}`,
        // One path of a merged source is never replaced as a whole: its pipe closes on its own.
        ...(this.mergeGroup ? { path: own } : { close: (reason: string) => this.close(reason) }),
      });
    }
    if (answer.commentaryDelays && !this.#secondary) this.stream.setRelayedDelays(answer.commentaryDelays);
    if (answer.scores) {
      const dp = await this.transport.produceData({
        id: answer.scores.id,
        sctpStreamParameters: answer.scores.sctpStreamParameters,
        label: answer.scores.label,
        protocol: answer.scores.protocol,
      });
      this.#detachScores = await this.stream.attachScoreSource(dp);
    }
  }

  /** The upstream's commentary changed: produce the new voices into the stream, close the ended ones. */
  async applyCommentary(change: CommentaryChange): Promise<void> {
    if (this.#closed || this.#secondary) return;
    if (change.delays) this.stream.setRelayedDelays(change.delays);
    for (const piped of change.added) {
      const producer = await this.transport.produce({
        id: piped.id,
        kind: piped.kind,
        rtpParameters: piped.rtpParameters,
        appData: { source: 'commentary', lang: piped.lang },
      });
      this.producers.push(producer);
      this.stream.addCommentary(producer);
    }
    for (const id of change.removed) {
      const i = this.producers.findIndex((p) => p.id === id);
      if (i >= 0) this.producers.splice(i, 1)[0]!.close();
    }
  }

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detachScores?.();
    this.transport.close();
    this.emit('close', reason);
  }
}
