import type { Logger } from 'pino';
import { type RTCRtpCodecParameters, type RTCRtpHeaderExtensionParameters, RTCRtpSender } from 'werift';
import { RTP_STREAM_ID_URI } from './codecs.ts';
import type { LadderLayer } from './ladder.ts';

/** The parts of werift's RTCPeerConnection the extra layer senders need (not in its public types). */
export interface PeerInternals {
  router: { registerRtpSender(sender: RTCRtpSender): void };
}

/** werift sender fields a layer sender copies or sets (private in werift's types, plain properties at run time). */
interface SenderInternals {
  ssrc: number;
  rtpStreamId: string | undefined;
  negotiatedCodecs: RTCRtpCodecParameters[];
  headerExtensions: RTCRtpHeaderExtensionParameters[];
  mid: string | undefined;
  cname: string | undefined;
}
const internals = (sender: RTCRtpSender) => sender as unknown as SenderInternals;

/**
 * The rids an answer's `a=simulcast` line names (either direction: werift as
 * an answerer writes `send`), `~` (paused) included: what the ingest takes.
 */
export function answeredRids(videoSection: string): Set<string> {
  const line = /^a=simulcast:(.*)$/m.exec(videoSection)?.[1] ?? '';
  const rids = line
    .trim()
    .split(/\s+/)
    .filter((token) => token !== 'send' && token !== 'recv')
    .flatMap((list) => list.split(/[;,]/))
    .map((rid) => rid.replace(/^~/, '').trim())
    .filter((rid) => rid !== '');
  return new Set(rids);
}

/**
 * The video senders of a publish session, one per ladder layer. werift sends
 * one SSRC per sender and cannot send simulcast itself, so each layer above
 * the lowest gets a sender of its own on the same transport: its own SSRC,
 * sequence numbers, NACK cache and sender reports, and its rid in every
 * packet (the negotiated rtp-stream-id extension). werift's router routes
 * the ingest's RTCP (NACK, PLI) to it by SSRC.
 */
export class VideoLayerSenders {
  /** One sender per video layer, lowest first; [0] is the video transceiver's own. */
  readonly all: RTCRtpSender[];
  /** Simulcast layers (two or more), or undefined. */
  readonly #simulcast: readonly LadderLayer[] | undefined;
  /**
   * Which sender carries each video layer (undefined: the layer is not
   * sent). All layers with simulcast; only the top one when the ingest's
   * answer did not accept simulcast.
   */
  #byLayer: Array<RTCRtpSender | undefined>;
  /** False when the ingest answered a simulcast offer without accepting simulcast. */
  accepted = true;

  constructor(main: RTCRtpSender, simulcast: readonly LadderLayer[] | undefined, router: PeerInternals['router']) {
    this.#simulcast = simulcast;
    this.all = [main];
    if (simulcast) {
      internals(main).rtpStreamId = simulcast[0]!.rid;
      for (const layer of simulcast.slice(1)) {
        const sender = new RTCRtpSender('video');
        internals(sender).ssrc = layer.ssrc;
        internals(sender).rtpStreamId = layer.rid;
        router.registerRtpSender(sender);
        this.all.push(sender);
      }
    }
    this.#byLayer = [...this.all];
  }

  /** The sender of video layer `layer` (0 = lowest), if this session sends that layer. */
  of(layer: number): RTCRtpSender | undefined {
    return this.#byLayer[layer];
  }

  /**
   * The answer negotiated the video transceiver's sender (codec, header
   * extension ids, mid); the other layers' senders send with the same, each
   * with its own rid, on the same (bundled) DTLS transport.
   */
  prepare(answerSdp: string, log: Logger): void {
    if (!this.#simulcast) return;
    const main = this.all[0]!;
    const negotiated = internals(main);
    // An ingest that accepts simulcast answers a=simulcast (RFC 8853 section
    // 5.3) and the rid extension. One that ignores it takes the m-section
    // as one stream: then only the top layer is sent, without a rid, on the
    // first sender (the ingest learns its SSRC from the mid, as it would
    // from any offer without a=ssrc).
    const videoSection = answerSdp.split(/\r?\nm=/).find((sec) => sec.startsWith('video '));
    const ridNegotiated = negotiated.headerExtensions.some((e) => e.uri === RTP_STREAM_ID_URI);
    if (!videoSection || !/^a=simulcast:/m.test(videoSection) || !ridNegotiated) {
      this.accepted = false;
      negotiated.rtpStreamId = undefined;
      const top = this.#simulcast.length - 1;
      this.#byLayer = this.#simulcast.map((_, i) => (i === top ? main : undefined));
      log.warn(
        { simulcastInAnswer: /^a=simulcast:/m.test(videoSection ?? ''), ridNegotiated },
        'the ingest did not accept simulcast: sending the top layer only',
      );
      return;
    }
    // The answerer may keep only some of the rids (RFC 8853 section 5.3): send those.
    const accepted = answeredRids(videoSection);
    if (accepted.size > 0) {
      this.#byLayer = this.all.map((sender, i) => (accepted.has(this.#simulcast![i]!.rid) ? sender : undefined));
    }
    log.info(
      { rids: this.#simulcast.filter((_, i) => this.#byLayer[i]).map((l) => l.rid) },
      'the ingest accepted simulcast',
    );
    const transport = main.dtlsTransport;
    if (!main.codec || !transport) throw new Error('the answer did not negotiate the video sender');
    for (const sender of this.all.slice(1)) {
      sender.prepareSend({
        codecs: negotiated.negotiatedCodecs,
        headerExtensions: negotiated.headerExtensions,
        muxId: negotiated.mid,
        rtcp: { cname: negotiated.cname, ssrc: sender.ssrc, mux: true },
        rtpStreamId: internals(sender).rtpStreamId,
      });
      sender.setDtlsTransport(transport);
    }
  }

  /** The extra layer senders are not the peer connection's: stop their RTCP loops. */
  stopExtra(): void {
    for (const sender of this.all.slice(1)) sender.stop();
  }
}
