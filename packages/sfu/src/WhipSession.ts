import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { MediaError, offerRejection } from './errors.ts';
import type { Logger } from './logger.ts';
import { silentLogger } from './logger.ts';
import type { StreamRouter } from './StreamRouter.ts';
import { SCORE_SCTP_STREAM_ID } from './StreamRouter.ts';
import type { AnsweredSection } from './sdp/answer.ts';
import { buildAnswer } from './sdp/answer.ts';
import { isDisabled, parseOffer, remoteDtlsRole } from './sdp/offer.ts';
import { producerParametersFromOffer } from './sdp/rtp.ts';
import { DEFAULT_SIMULCAST_MAX_LAYERS, offeredSimulcast } from './sdp/simulcast.ts';
import type { SourceRole } from './stable/StableProgram.ts';

export interface WhipOptions {
  /** 'backup': a second, redundant feed of the stream (token claim `backup`). Default 'primary'. */
  role?: SourceRole;
  /**
   * A publisher of the same role that delivered media within this many ms is
   * "still publishing" (409); a quieter one is being replaced by a reconnect
   * of the same origin and is closed. Default 1000.
   */
  takeoverSilenceMs?: number;
  /** Most simulcast layers an offer may send (node env MM_SIMULCAST_MAX_LAYERS). Default 3. */
  simulcastMaxLayers?: number;
  /**
   * ICE `disconnected` closes the session only if it lasts this long (ms): an ICE restart (RFC 9725
   * §4.3.2) in the meantime recovers the same session and its producers. Default ICE_GRACE_MS.
   */
  iceGraceMs?: number;
  logger?: Logger;
}

/** How long a publisher's ICE may stay disconnected before its session closes (an ICE restart's window). */
export const ICE_GRACE_MS = 5000;

interface WhipSessionEvents {
  /** The session ended: DELETE, ICE/DTLS failure, or the router went away. */
  close: [reason: string];
}

/**
 * One WHIP publishing session (RFC 9725): a WebRtcTransport in the stream's
 * router, a producer per sent m= section, and the score DataProducer when
 * the offer has an m=application section.
 */
export class WhipSession extends EventEmitter<WhipSessionEvents> {
  readonly id = randomUUID();
  readonly stream: StreamRouter;
  readonly role: SourceRole;
  readonly transport: types.WebRtcTransport;
  readonly producers: types.Producer[];
  readonly dataProducer: types.DataProducer | undefined;
  readonly answer: string;
  /** Entity tag of the ICE session (RFC 9725 §4.3.1): changes on ICE restart. */
  etag: string;
  #detachScores: (() => void) | undefined;
  #closed = false;

  private constructor(init: {
    stream: StreamRouter;
    transport: types.WebRtcTransport;
    producers: types.Producer[];
    dataProducer: types.DataProducer | undefined;
    answer: string;
    role: SourceRole;
  }) {
    super();
    this.stream = init.stream;
    this.role = init.role;
    this.transport = init.transport;
    this.producers = init.producers;
    this.dataProducer = init.dataProducer;
    this.answer = init.answer;
    this.etag = `"${randomUUID()}"`;
  }

  /**
   * Answer a WHIP offer. Validation happens before anything is allocated, so
   * a bad offer never disturbs the router; if allocation fails half-way, the
   * transport (and all it holds) is closed again.
   */
  static async create(stream: StreamRouter, offerSdp: string, options: WhipOptions = {}): Promise<WhipSession> {
    const logger = options.logger ?? silentLogger;
    const role = options.role ?? 'primary';
    const takeoverMs = options.takeoverSilenceMs ?? 1000;
    const maxLayers = options.simulcastMaxLayers ?? DEFAULT_SIMULCAST_MAX_LAYERS;
    const offer = parseOffer(offerSdp);
    const caps = stream.rtpCapabilities;

    // 1. Decide every section first (pure; throws MediaError on bad input).
    const plans = offer.media.map((m) => {
      if (m.kind === 'application') {
        if (!String(m.section.protocol).includes('SCTP')) return { kind: 'rejected' as const };
        return { kind: 'sctp' as const, mid: m.mid };
      }
      const direction = m.section.direction ?? 'sendrecv';
      if (direction !== 'sendonly' && direction !== 'sendrecv') {
        throw new MediaError('bad_sdp', `WHIP m=${m.kind} section "${m.mid}" must be sendonly (is ${direction})`);
      }
      if (isDisabled(m.section)) return { kind: 'rejected' as const };
      const simulcast = offeredSimulcast(m.section, maxLayers);
      return {
        kind: 'rtp' as const,
        media: m.kind,
        rtpParameters: producerParametersFromOffer(m.section, m.mid, caps, simulcast),
        simulcast,
      };
    });
    const kinds = plans.filter((p) => p.kind === 'rtp').map((p) => (p as { media: string }).media);
    if (kinds.length === 0) throw new MediaError('unsupported_media', 'WHIP offer sends no audio or video');
    if (new Set(kinds).size !== kinds.length) {
      throw new MediaError('unsupported_media', 'WHIP offer has more than one m= section of the same kind');
    }
    // A reconnecting publisher splices into the stream's stable tracks: its
    // codec must be theirs, or every viewer's decoder would break.
    for (const plan of plans) {
      if (plan.kind !== 'rtp') continue;
      const want = stream.program.codecOf(plan.media as types.MediaKind);
      const got = plan.rtpParameters.codecs.find((c) => !/\/rtx$/i.test(c.mimeType))?.mimeType;
      if (want && got && want.toLowerCase() !== got.toLowerCase()) {
        throw new MediaError(
          'codec_mismatch',
          `stream "${stream.stream}" carries ${plan.media} as ${want}; this offer would send ${got}, which viewers already playing cannot decode`,
        );
      }
    }
    const stillPublishing = (): void => {
      const current = stream.program.sourceOf(role);
      if (current && stream.program.sourceAlive(current.id, takeoverMs)) {
        throw new MediaError(
          'already_publishing',
          `stream "${stream.stream}" is already being published (${role}) and its media is flowing`,
        );
      }
    };
    stillPublishing();

    // 2. Allocate.
    const wantsSctp = plans.some((p) => p.kind === 'sctp');
    const transport = await stream.createWebRtcTransport({ sctp: wantsSctp, appData: { role: 'publisher' } });
    try {
      await transport.connect({
        dtlsParameters: {
          role: remoteDtlsRole(offer),
          fingerprints: [
            { algorithm: offer.fingerprint.algorithm as types.FingerprintAlgorithm, value: offer.fingerprint.value },
          ],
        },
      });
      const producers: types.Producer[] = [];
      let dataProducer: types.DataProducer | undefined;
      const answers: AnsweredSection[] = [];
      for (const plan of plans) {
        if (plan.kind === 'rejected') {
          answers.push({ kind: 'rejected' });
        } else if (plan.kind === 'sctp') {
          dataProducer = await transport.produceData({
            sctpStreamParameters: { streamId: SCORE_SCTP_STREAM_ID, ordered: true },
            label: 'scores',
          });
          answers.push({ kind: 'sctp', port: 5000, maxMessageSize: 64 * 1024 });
        } else {
          const producer = await transport.produce({
            kind: plan.media as types.MediaKind,
            rtpParameters: plan.rtpParameters,
            appData: { source: 'program' },
          });
          producers.push(producer);
          answers.push({
            kind: 'rtp',
            direction: 'recvonly',
            rtpParameters: plan.rtpParameters,
            simulcast: plan.simulcast,
          });
        }
      }
      const answer = buildAnswer(offer, transport, answers);
      const session = new WhipSession({ stream, transport, producers, dataProducer, answer, role });
      // Re-check: another publisher may have won the race while we allocated.
      stillPublishing();
      // A silent session of the same role is a dead connection of this origin: replace it.
      const previous = stream.program.sourceOf(role);
      if (previous) {
        logger.info(
          { stream: stream.stream, previous: previous.id, session: session.id },
          'WHIP session replaces a silent one',
        );
        previous.close?.('replaced by a new session');
      }
      await stream.attachProgram({
        id: session.id,
        role,
        producers,
        label: `whip:${role}`,
        close: (reason) => session.close(reason),
      });
      if (dataProducer) session.#detachScores = await stream.attachScoreSource(dataProducer);
      session.#watch(logger, options.iceGraceMs ?? ICE_GRACE_MS);
      return session;
    } catch (err) {
      transport.close();
      throw offerRejection(err);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** ICE restart (RFC 9725 §4.3.2): new credentials, new ETag. */
  async restartIce(): Promise<types.IceParameters> {
    const ice = await this.transport.restartIce();
    this.etag = `"${randomUUID()}"`;
    return ice;
  }

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#iceLost);
    this.#detachScores?.();
    this.transport.close();
    this.emit('close', reason);
  }

  /** Pending close of an ICE-disconnected session (cleared when ICE comes back). */
  #iceLost: NodeJS.Timeout | undefined;

  #watch(log: Logger, iceGraceMs: number): void {
    this.transport.observer.once('close', () => this.close('transport closed'));
    this.transport.on('dtlsstatechange', (state) => {
      if (state === 'failed' || state === 'closed') {
        log.warn({ session: this.id, state }, 'WHIP session DTLS ended');
        this.close(`dtls ${state}`);
      }
    });
    this.transport.on('icestatechange', (state) => {
      if (state === 'closed') {
        log.warn({ session: this.id, state }, 'WHIP session ICE closed');
        this.close('ice closed');
      } else if (state === 'disconnected') {
        // The publisher may be restarting ICE (a network change): give it the grace period first.
        log.warn({ session: this.id, graceMs: iceGraceMs }, 'WHIP session ICE disconnected: waiting for a restart');
        clearTimeout(this.#iceLost);
        this.#iceLost = setTimeout(() => this.close('ice disconnected'), iceGraceMs);
        this.#iceLost.unref?.();
      } else if (state === 'connected' || state === 'completed') {
        if (this.#iceLost) log.info({ session: this.id }, 'WHIP session ICE back within its grace');
        clearTimeout(this.#iceLost);
        this.#iceLost = undefined;
      }
    });
  }
}
