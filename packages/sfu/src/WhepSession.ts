import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import * as ortc from 'mediasoup/ortc';
import { closeRouter } from './closeRouter.ts';
import { MediaError, offerRejection } from './errors.ts';
import type { StreamRouter } from './StreamRouter.ts';
import type { AnsweredSection } from './sdp/answer.ts';
import { buildAnswer } from './sdp/answer.ts';
import type { OfferMedia } from './sdp/offer.ts';
import { parseOffer, remoteDtlsRole } from './sdp/offer.ts';
import { capabilitiesFromOffer } from './sdp/rtp.ts';

interface WhepSessionEvents {
  close: [reason: string];
}

/**
 * One WHEP playback session: a standard WebRTC player (OBS, a browser's
 * RTCPeerConnection, GStreamer's whepsrc) watching the program feed.
 *
 * Why a router of its own: a WHEP player is the offerer, so the answer must
 * use the *player's* payload types, while a mediasoup consumer sends with its
 * router's payload types. Each session therefore gets a small router whose
 * codecs carry the player's payload types, fed from the stream's router by
 * pipeToRouter inside the same worker. mediasoup-client viewers (the main
 * path) never pay for this.
 */
export class WhepSession extends EventEmitter<WhepSessionEvents> {
  readonly id = randomUUID();
  readonly etag = `"${randomUUID()}"`;
  readonly answer: string;
  readonly transport: types.WebRtcTransport;
  readonly consumers: types.Consumer[];
  readonly #router: types.Router;
  #closed = false;

  private constructor(
    /** The stream this session plays. */
    readonly stream: string,
    router: types.Router,
    transport: types.WebRtcTransport,
    consumers: types.Consumer[],
    answer: string,
  ) {
    super();
    this.#router = router;
    this.transport = transport;
    this.consumers = consumers;
    this.answer = answer;
  }

  static async create(stream: StreamRouter, offerSdp: string): Promise<WhepSession> {
    const offer = parseOffer(offerSdp);
    if (!stream.live) throw new MediaError('stream_not_live', `stream "${stream.stream}" is not being published`);

    // Pair each program producer with the offered section of its kind and the
    // first offered codec that can carry it.
    const plans = offer.media.map((m) => planSection(m, stream));
    const wanted = plans.filter((p): p is SectionPlan => p !== null);
    if (wanted.length === 0) {
      throw new MediaError('unsupported_media', "WHEP offer can receive none of the stream's codecs");
    }

    // Audio first: mediasoup allocates the video RTX payload type from the
    // free dynamic range, which must not take a type the player uses later.
    const mediaCodecs = [...wanted]
      .sort((a, b) => (a.producer.kind === 'audio' ? -1 : 1) - (b.producer.kind === 'audio' ? -1 : 1))
      .map((p) => p.codec);
    const router = await stream.pooled.worker.createRouter({ mediaCodecs, appData: { whep: true } });
    stream.pooled.routers.add(router);
    // The stream's router outlives this session's: unhook from it when ours goes.
    const closeWithStream = (): void => closeRouter(router);
    stream.router.observer.once('close', closeWithStream);
    router.observer.once('close', () => {
      stream.pooled.routers.delete(router);
      stream.router.observer.off('close', closeWithStream);
    });
    try {
      const transport = await router.createWebRtcTransport({
        webRtcServer: stream.pooled.webRtcServer,
        enableUdp: true,
        enableTcp: true,
        preferUdp: true,
        appData: { role: 'whep' },
      });
      await transport.connect({
        dtlsParameters: {
          role: remoteDtlsRole(offer),
          fingerprints: [
            {
              algorithm: offer.fingerprint.algorithm as types.FingerprintAlgorithm,
              value: offer.fingerprint.value,
            },
          ],
        },
      });
      const consumers: types.Consumer[] = [];
      const answers: AnsweredSection[] = [];
      const cname = randomUUID().slice(0, 8);
      const msid = randomUUID();
      for (const [i, plan] of plans.entries()) {
        if (!plan) {
          answers.push({ kind: 'rejected' });
          continue;
        }
        const { pipeProducer } = await stream.router.pipeToRouter({
          producerId: plan.producer.id,
          router,
          keepId: false,
        });
        if (!pipeProducer) throw new MediaError('closed', 'pipe to the WHEP router produced nothing');
        const consumer = await transport.consume({
          producerId: pipeProducer.id,
          rtpCapabilities: plan.caps,
          enableRtx: false,
          paused: false,
          mid: offer.media[i]!.mid,
        });
        consumers.push(consumer);
        const encoding = consumer.rtpParameters.encodings?.[0];
        answers.push({
          kind: 'rtp',
          direction: 'sendonly',
          rtpParameters: consumer.rtpParameters,
          send: { ssrc: encoding!.ssrc!, cname, msid },
        });
      }
      const answer = buildAnswer(offer, transport, answers);
      const session = new WhepSession(stream.stream, router, transport, consumers, answer);
      transport.observer.once('close', () => session.close('transport closed'));
      router.observer.once('close', () => session.close('stream closed'));
      for (const c of consumers) c.observer.once('close', () => session.close('producer closed'));
      return session;
    } catch (err) {
      closeRouter(router);
      throw offerRejection(err);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    closeRouter(this.#router);
    this.emit('close', reason);
  }
}

interface SectionPlan {
  producer: types.Producer;
  codec: types.RouterRtpCodecCapability;
  caps: types.RtpCapabilities;
}

function planSection(m: OfferMedia, stream: StreamRouter): SectionPlan | null {
  if (m.kind === 'application' || m.section.port === 0) return null;
  const direction = m.section.direction ?? 'sendrecv';
  if (direction !== 'recvonly' && direction !== 'sendrecv') {
    throw new MediaError('bad_sdp', `WHEP m=${m.kind} section "${m.mid}" must be recvonly (is ${direction})`);
  }
  const producer = stream.programProducers().find((p) => p.kind === m.kind);
  if (!producer) return null;
  const offered = capabilitiesFromOffer(m.section);
  for (const codec of offered.codecs ?? []) {
    const single: types.RtpCapabilities = { codecs: [codec], headerExtensions: offered.headerExtensions };
    if (!canConsume(producer, single)) continue;
    const routerCodec: types.RouterRtpCodecCapability = {
      kind: codec.kind,
      mimeType: codec.mimeType,
      clockRate: codec.clockRate,
      preferredPayloadType: codec.preferredPayloadType,
      parameters: codec.parameters,
      rtcpFeedback: codec.rtcpFeedback,
    };
    if (codec.channels !== undefined) routerCodec.channels = codec.channels;
    return { producer, codec: routerCodec, caps: single };
  }
  return null;
}

/** mediasoup's verdict, with a malformed offered codec (which makes it throw) counted as "no". */
function canConsume(producer: types.Producer, caps: types.RtpCapabilities): boolean {
  try {
    return ortc.canConsume(producer.consumableRtpParameters, caps);
  } catch {
    return false;
  }
}
