import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import * as ortc from 'mediasoup/ortc';
import { type DelayLease, DelayLines } from './delay/DelayLines.ts';
import { MediaError, offerRejection } from './errors.ts';
import { floorEstimateAtLowestLayer } from './estimateFloor.ts';
import { LayerGovernor } from './LayerGovernor.ts';
import { fitLayers, hasLayers, invalidLayers, layersOf, PROGRAM_VIDEO_PRIORITY, type VideoLayers } from './layers.ts';
import type { Seat } from './MediaService.ts';
import type { StreamOutlet } from './StreamOutlet.ts';
import { commentaryLanguage, type StreamRouter } from './StreamRouter.ts';
import type { AnsweredSection } from './sdp/answer.ts';
import { buildAnswer } from './sdp/answer.ts';
import type { OfferMedia } from './sdp/offer.ts';
import { isDisabled, parseOffer, remoteDtlsRole } from './sdp/offer.ts';
import { capabilitiesFromOffer } from './sdp/rtp.ts';
import type { LayerInfo } from './stable/types.ts';

interface WhepSessionEvents {
  /** The video's simulcast layer changed (the player's bandwidth estimate, a layer stopping, a preference). */
  layerschange: [layers: VideoLayers];
  close: [reason: string];
}

/**
 * One WHEP playback session: a standard WebRTC player (OBS, a browser's
 * RTCPeerConnection, GStreamer's whepsrc) watching the program feed.
 *
 * Why not the stream's own router: a WHEP player is the offerer, so the answer
 * must use the *player's* payload types, while a mediasoup consumer sends with
 * its router's payload types. The session is therefore seated on a fan-out
 * router whose codecs carry the player's payload types — one per worker and
 * codec set, shared by every player that offered the same (players of one
 * kind offer the same), fed from the stream's router by pipes. Until issue 13
 * each session had a router of its own: one pipe per player, which the fan-out
 * bench's "naive" baseline measures at 1.2× the CPU of a plain consumer.
 */
export class WhepSession extends EventEmitter<WhepSessionEvents> {
  readonly id = randomUUID();
  readonly etag = `"${randomUUID()}"`;
  readonly answer: string;
  readonly transport: types.WebRtcTransport;
  readonly consumers: types.Consumer[];
  /** The worker the player is served from. */
  readonly worker: number;
  readonly #seat: Seat;
  readonly #onOutletClosed = (): void => this.close('stream closed');
  /** The video consumer when the program has layers, and its producer. */
  #video: { consumer: types.Consumer; producer: types.Producer } | undefined;
  /** The layer the player asked for (setPreferredLayers); undefined: the top one. */
  #wantedLayers: { spatialLayer: number; temporalLayer?: number } | undefined;
  /** Holds the video below a layer the player's link just failed to carry (as for signaling viewers). */
  #governor: LayerGovernor | undefined;
  /** A `?lang=` session's hold on its language's delayed program (DelayLines), released on close. */
  #delay: DelayLease | undefined;
  #closed = false;

  private constructor(
    /** The stream this session plays. */
    readonly stream: string,
    seat: Seat,
    transport: types.WebRtcTransport,
    consumers: types.Consumer[],
    answer: string,
  ) {
    super();
    this.#seat = seat;
    this.worker = seat.worker;
    this.transport = transport;
    this.consumers = consumers;
    this.answer = answer;
  }

  /** `seat` places the player on a worker's outlet with the given router codecs (MediaService.seat). */
  /**
   * `lang`: the commentary language the offer's second audio section receives (null: none, the section is
   * rejected); a player offering one audio section gets the venue sound only.
   */
  static async create(
    stream: StreamRouter,
    offerSdp: string,
    seat: (mediaCodecs: types.RouterRtpCodecCapability[]) => Promise<Seat>,
    lang: string | null = null,
    /** The player named the language (`?lang=`): its picture comes from that language's delay line. */
    aligned = lang !== null,
  ): Promise<WhepSession> {
    const offer = parseOffer(offerSdp);
    if (!stream.live) throw new MediaError('stream_not_live', `stream "${stream.stream}" is not being published`);

    // Pair each program producer with the offered section of its kind and the
    // first offered codec that can carry it; a second audio section, the commentary.
    let audioSections = 0;
    const plans = offer.media.map((m) => {
      const nth = m.kind === 'audio' ? audioSections++ : 0;
      if (nth > 1) return null;
      return planSection(m, nth === 1 ? commentaryOf(stream, lang) : programOf(stream, m.kind));
    });
    const wanted = plans.filter((p): p is SectionPlan => p !== null);
    if (wanted.length === 0) {
      throw new MediaError('unsupported_media', "WHEP offer can receive none of the stream's codecs");
    }
    // Hearing a language: the picture and venue sound come from that language's delay line (held D_L
    // here), so the undelayed commentary meets the frame it talks about; planned on the stable program,
    // whose codecs the delayed producers carry.
    const tracks = stream.commentaryProducers();
    const hearsLanguage = aligned && lang !== null && wanted.some((p) => tracks.includes(p.producer));
    const delay = hearsLanguage ? await DelayLines.of(stream).acquire(lang).catch(offerFailed) : undefined;
    if (delay) {
      for (const plan of wanted) {
        const held = delay.program.producers().find((p) => p.kind === plan.producer.kind);
        if (!tracks.includes(plan.producer) && held) plan.pick = (outlet) => outlet.copyOf(held);
      }
    }

    // Audio first: mediasoup allocates the video RTX payload type from the
    // free dynamic range, which must not take a type the player uses later.
    const mediaCodecs = [...wanted]
      .sort((a, b) => (a.producer.kind === 'audio' ? -1 : 1) - (b.producer.kind === 'audio' ? -1 : 1))
      .map((p) => p.codec)
      // One router codec per codec: the commentary's Opus is the program audio's.
      .filter((c, i, all) => all.findIndex((o) => JSON.stringify(o) === JSON.stringify(c)) === i);
    let place: Seat;
    try {
      place = await seat(mediaCodecs);
    } catch (err) {
      delay?.release();
      throw err;
    }
    const { outlet } = place;
    let transport: types.WebRtcTransport | undefined;
    try {
      transport = await outlet.createWebRtcTransport({ sctp: false, appData: { role: 'whep' } });
      // The player's DTLS parameters and the consumers go to the worker together: nothing here
      // depends on the other, and every await on the answer's path is a wait for the player.
      const connected = transport.connect({
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
      connected.catch(() => {}); // awaited below; a consume failing first must not leave it unhandled
      const consumers: types.Consumer[] = [];
      let video: { consumer: types.Consumer; producer: types.Producer } | undefined;
      const answers: AnsweredSection[] = [];
      const cname = randomUUID().slice(0, 8);
      const msid = randomUUID();
      // Hearing a language, the player's lip sync is the commentary's: libwebrtc syncs a video with ONE
      // audio of its media stream, so the venue sound gets a stream of its own and the commentary the
      // video's. Every section states its instants on one clock (mediasoup's Sender Reports: when each
      // packet left its consumer here, the program after the hold), so the player shows the frame when
      // the voice about it plays, whatever each track's own jitter buffer. Players that sync by CNAME
      // (GStreamer's rtpbin) keep all three on it.
      const venueMsid = delay ? randomUUID() : msid;
      const firstAudio = offer.media.findIndex((m) => m.kind === 'audio');
      for (const [i, plan] of plans.entries()) {
        if (!plan) {
          answers.push({ kind: 'rejected' });
          continue;
        }
        // The outlet's copy of the producer (the program's of this kind, or the language's track).
        const producer = await plan.pick(outlet);
        if (!producer) throw new MediaError('closed', `the stream's ${plan.producer.kind} went away`);
        const layered = hasLayers(producer);
        // A simulcast program: a simulcast consumer, which sends the best layer the player's
        // bandwidth estimate allows (its offer's transport-cc/goog-remb feedback is in plan.caps;
        // the consumer keeps the player's own extension ids, which the worker writes — worker-build
        // node-lib/ and recipe patch 002 — so the transport estimates the player's bandwidth).
        const consumer = await transport.consume({
          producerId: producer.id,
          rtpCapabilities: plan.caps,
          enableRtx: false,
          paused: false,
          mid: offer.media[i]!.mid,
          ...(layered ? { preferredLayers: fitLayers(producer) } : {}),
        });
        consumers.push(consumer);
        if (layered) {
          await consumer.setPriority(PROGRAM_VIDEO_PRIORITY);
          video = { consumer, producer };
        }
        const encoding = consumer.rtpParameters.encodings?.[0];
        answers.push({
          kind: 'rtp',
          direction: 'sendonly',
          rtpParameters: consumer.rtpParameters,
          send: {
            ssrc: encoding!.ssrc!,
            cname,
            msid: producer.kind === 'audio' && i === firstAudio ? venueMsid : msid,
          },
        });
      }
      await connected;
      const answer = buildAnswer(offer, transport, answers);
      const session = new WhepSession(stream.stream, place, transport, consumers, answer);
      session.#delay = delay;
      if (video) session.#watchLayers(video.consumer, video.producer, transport);
      transport.observer.once('close', () => session.close('transport closed'));
      outlet.once('close', session.#onOutletClosed);
      for (const c of consumers) c.observer.once('close', () => session.close('producer closed'));
      return session;
    } catch (err) {
      transport?.close();
      place.release();
      delay?.release();
      throw offerRejection(err);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The video's layers, or undefined when the program has none (no simulcast). */
  get layers(): VideoLayers | undefined {
    const v = this.#video;
    return v && !v.consumer.closed ? layersOf(v.consumer, v.producer, this.#layerInfo()) : undefined;
  }

  /** Prefer a layer (the highest is "auto"); the consumer still steps below it when the estimate is short. */
  async setPreferredLayers(spatialLayer: number, temporalLayer?: number): Promise<VideoLayers> {
    const v = this.#video;
    if (!v || v.consumer.closed) throw new MediaError('not_found', 'this session plays no video with layers');
    const invalid = invalidLayers(v.producer, spatialLayer, temporalLayer);
    if (invalid) throw new MediaError('bad_simulcast', invalid);
    this.#wantedLayers = temporalLayer === undefined ? { spatialLayer } : { spatialLayer, temporalLayer };
    this.#governor?.reset();
    await v.consumer.setPreferredLayers(fitLayers(v.producer, this.#wantedLayers));
    const layers = layersOf(v.consumer, v.producer, this.#layerInfo());
    this.emit('layerschange', layers);
    return layers;
  }

  /** The program's description of its layers (this node's stable video track). */
  #layerInfo(): LayerInfo[] {
    return this.#seat.outlet.source.program.track('video')?.layers.map((l) => l.info) ?? [];
  }

  /** The same adaptation as a signaling viewer's (PeerMedia): the LayerGovernor's holds and the estimate floor. */
  #watchLayers(consumer: types.Consumer, producer: types.Producer, transport: types.WebRtcTransport): void {
    this.#video = { consumer, producer };
    this.#governor = new LayerGovernor(consumer, () => fitLayers(producer, this.#wantedLayers));
    let floor = 0;
    const raiseFloor = (): void => {
      void floorEstimateAtLowestLayer(transport, producer, floor).then((f) => {
        floor = f;
      });
    };
    raiseFloor();
    consumer.on('layerschange', () => {
      // The lowest layer's rate is known once it flowed; a change of layer is a cheap moment to look again.
      raiseFloor();
      if (!this.#closed) this.emit('layerschange', layersOf(consumer, producer, this.#layerInfo()));
    });
  }

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    // The outlet is shared with other players: leave no listener behind on it.
    this.#seat.outlet.off('close', this.#onOutletClosed);
    this.#governor?.close();
    this.transport.close();
    this.#seat.release();
    this.#delay?.release();
    this.emit('close', reason);
  }
}

/** A failure to build what the offer needs, as the edge reports it (a typed MediaError). */
function offerFailed(err: unknown): never {
  throw offerRejection(err);
}

interface SectionPlan {
  producer: types.Producer;
  /** The same producer on the outlet the player is seated on (its copy there has another id). */
  pick: (outlet: StreamOutlet) => types.Producer | undefined | Promise<types.Producer | undefined>;
  codec: types.RouterRtpCodecCapability;
  caps: types.RtpCapabilities;
}

/** Finds a section's producer on an outlet (the source router, or the fan-out router the player sits on). */
type ProducerPick = (
  outlet: Pick<StreamOutlet, 'programProducers' | 'commentaryProducers'>,
) => types.Producer | undefined;

function programOf(stream: StreamRouter, kind: string): { producer: types.Producer; pick: ProducerPick } | undefined {
  const pick: ProducerPick = (outlet) => outlet.programProducers().find((p) => p.kind === kind);
  const producer = pick(stream);
  return producer && { producer, pick };
}

function commentaryOf(
  stream: StreamRouter,
  lang: string | null,
): { producer: types.Producer; pick: ProducerPick } | undefined {
  if (lang === null) return undefined;
  const pick: ProducerPick = (outlet) => outlet.commentaryProducers().find((p) => commentaryLanguage(p) === lang);
  const producer = pick(stream);
  return producer && { producer, pick };
}

function planSection(
  m: OfferMedia,
  source: { producer: types.Producer; pick: ProducerPick } | undefined,
): SectionPlan | null {
  if (m.kind === 'application' || isDisabled(m.section)) return null;
  const direction = m.section.direction ?? 'sendrecv';
  if (direction !== 'recvonly' && direction !== 'sendrecv') {
    throw new MediaError('bad_sdp', `WHEP m=${m.kind} section "${m.mid}" must be recvonly (is ${direction})`);
  }
  if (!source) return null;
  const { producer, pick } = source;
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
    return { producer, pick, codec: routerCodec, caps: single };
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
