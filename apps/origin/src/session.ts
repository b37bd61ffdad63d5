import { EventEmitter } from 'node:events';
import { SCORE_CHANNEL_LABEL, type ScorePosition } from '@matchmesh/protocol';
import type { Logger } from 'pino';
import { MediaStream, MediaStreamTrack, type RTCDataChannel, RTCPeerConnection, type RTCRtpSender } from 'werift';
import { AUDIO_SSRC, audioCodec, headerExtensions, VIDEO_SSRC, videoCodec } from './codecs.ts';
import { probeIngest } from './ingest-probe.ts';
import { type LadderLayer, ladderProfileLevelId } from './ladder.ts';
import type { MediaKind } from './media-source.ts';
import { simulcastOffer } from './simulcast-sdp.ts';
import { type PeerInternals, VideoLayerSenders } from './simulcast-senders.ts';
import { deleteSession, postOffer } from './whip-client.ts';

// Moved to simulcast-senders.ts; re-exported for the tests that import it from here.
export { answeredRids } from './simulcast-senders.ts';

/*
 * One WHIP publish session: one werift RTCPeerConnection, one POST, one
 * session URL. A session never recovers: when it dies the agent throws it
 * away and builds a new one (a fresh offer is simpler and as fast as an ICE
 * restart against an ICE-lite server, and it also survives an ingest
 * restart that forgot the old session).
 */

export interface SessionOptions {
  endpoint: string;
  token: string;
  logger: Logger;
  /** Offer POST + ICE + DTLS must finish within this. */
  connectTimeoutMs: number;
  /** Declare the session dead when nothing (RTCP, SCTP, DTLS) arrived for this long. */
  livenessTimeoutMs: number;
  /** Extra host candidates, e.g. 127.0.0.1 when the ingest is on this machine. */
  extraHostAddresses: string[];
  useIpv6: boolean;
  /**
   * Video layers, lowest first. Two or more are published as simulcast: one
   * video m-section with a=rid/a=simulcast (RFC 8853), one werift sender
   * (own SSRC, rid header extension) per layer. Undefined = one layer.
   */
  ladder?: readonly LadderLayer[];
  /** The ingest asked for a key frame (a PLI on a video layer's SSRC; werift does not surface FIR, and mediasoup sends PLI to a sender that offers `nack pli`). */
  onKeyFrameRequest?(): void;
}

export interface SessionEvents {
  /** The session is unusable; the reason is for logs. Emitted once. */
  dead: [reason: string];
  /** The score channel can take messages (again). */
  writable: [];
}

let nextSessionId = 1;

export class PublishSession extends EventEmitter<SessionEvents> {
  readonly id = nextSessionId++;
  readonly pc: RTCPeerConnection;
  readonly channel: RTCDataChannel;
  private readonly senders: Record<MediaKind, RTCRtpSender>;
  /** The video layers' senders (one per ladder layer) and which of them the ingest accepted. */
  private readonly video: VideoLayerSenders;
  /** Simulcast layers (two or more), or undefined. */
  private readonly simulcast: readonly LadderLayer[] | undefined;
  private readonly log: Logger;
  sessionUrl: string | undefined;
  etag: string | undefined;
  /** Where the stream's scores stood on the ingest when it answered (undefined: it held none). */
  lastScore: ScorePosition | undefined;
  offerSdp: string | undefined;
  answerSdp: string | undefined;
  connectedAt: number | undefined;
  private lastInboundAt = 0;
  private lastOutboundAt = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private deadReason: string | undefined;
  private probing = false;
  private preparing: Promise<string> | undefined;
  /** The ingest ended the session (DTLS close_notify, SCTP shutdown): nothing to DELETE. */
  endedByIngest = false;
  private closed = false;
  readonly feedback = { pli: 0, nack: 0 };

  /** False when the ingest answered a simulcast offer without accepting simulcast. */
  get simulcastAccepted(): boolean {
    return this.video.accepted;
  }

  constructor(private readonly opts: SessionOptions) {
    super();
    this.log = opts.logger.child({ component: 'session', session: this.id });
    this.simulcast = opts.ladder && opts.ladder.length > 1 ? opts.ladder : undefined;
    this.pc = new RTCPeerConnection({
      // H.264 and Opus only: the offer must not let the ingest pick anything we cannot send.
      // With a ladder, the m-section's level is the top layer's (each SPS has its own layer's).
      codecs: {
        video: [videoCodec(opts.ladder ? ladderProfileLevelId(opts.ladder) : undefined)],
        audio: [audioCodec()],
      },
      headerExtensions: headerExtensions(this.simulcast !== undefined),
      // One ICE/DTLS transport for everything, as mediasoup (and RFC 9725 section 4.2) expect.
      bundlePolicy: 'max-bundle',
      iceAdditionalHostAddresses: opts.extraHostAddresses,
      iceUseIpv6: opts.useIpv6,
    });

    // Stream for a=msid, so an SFU or browser downstream sees one program.
    const stream = new MediaStream();
    const audio = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), {
      direction: 'sendonly',
      streams: [stream],
    });
    const video = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), {
      direction: 'sendonly',
      streams: [stream],
    });
    // werift picks random SSRCs; the property is writable and is read when
    // the offer is built and on every packet. Fixed SSRCs survive reconnects.
    (audio.sender as { ssrc: number }).ssrc = AUDIO_SSRC;
    (video.sender as { ssrc: number }).ssrc = opts.ladder?.[0]?.ssrc ?? VIDEO_SSRC;
    this.senders = { audio: audio.sender, video: video.sender };
    // werift's RTP router files a sender under the SSRC it had when added (a
    // random one): without this the ingest's NACK and PLI for our fixed
    // SSRCs never reached the senders (no retransmission from their cache).
    const router = (this.pc as unknown as PeerInternals).router;
    router.registerRtpSender(audio.sender);
    router.registerRtpSender(video.sender);
    // With simulcast, each further layer gets a werift sender of its own (see VideoLayerSenders).
    this.video = new VideoLayerSenders(video.sender, this.simulcast, router);
    for (const [kind, sender] of [
      ['audio', audio.sender] as const,
      ...this.video.all.map((v) => ['video', v] as const),
    ]) {
      sender.onPictureLossIndication.subscribe(() => {
        this.feedback.pli++;
        this.log.debug({ kind, ssrc: sender.ssrc }, 'PLI from ingest');
        if (kind === 'video') opts.onKeyFrameRequest?.();
      });
      sender.onGenericNack.subscribe(() => {
        this.feedback.nack++;
      });
    }

    // mediasoup does not speak DCEP: the channel is pre-negotiated on SCTP
    // stream 0, where the ingest's DataProducer listens.
    this.channel = this.pc.createDataChannel(SCORE_CHANNEL_LABEL, { negotiated: true, id: 0, ordered: true });
    this.channel.bufferedAmountLowThreshold = 64 * 1024;
    this.channel.stateChanged.subscribe((state) => {
      this.log.debug({ state }, 'score channel state');
      if (state === 'open') this.emit('writable');
      if (state === 'closed' && this.connectedAt !== undefined && !this.closed) {
        this.endedByIngest = true;
        this.die('score channel closed');
      }
    });
    this.channel.bufferedAmountLow.subscribe(() => this.emit('writable'));

    this.pc.connectionStateChange.subscribe((state) => {
      this.log.debug({ state }, 'connection state');
      // 'disconnected' is not waited out: against an ICE-lite server on a
      // stable address it almost never heals, and a new session is < 1 s.
      if (state === 'failed' || state === 'disconnected' || state === 'closed') this.die(`connection ${state}`);
    });
  }

  /**
   * Build the offer and gather candidates. Done ahead of time for the next
   * session while this one publishes, so a reconnect is only POST + ICE + DTLS.
   */
  prepare(): Promise<string> {
    this.preparing ??= (async () => {
      await this.pc.setLocalDescription(await this.pc.createOffer());
      await this.iceGatheringComplete(AbortSignal.timeout(this.opts.connectTimeoutMs));
      const local = this.pc.localDescription?.sdp;
      if (!local) throw new Error('werift produced no local description');
      // werift's own offer has no rids: declare the layers before sending it.
      const offer = this.simulcast ? simulcastOffer(local, this.simulcast) : local;
      this.offerSdp = offer;
      return offer;
    })();
    return this.preparing;
  }

  /** POST the offer, apply the answer, wait for ICE+DTLS. Throws on any failure. */
  async connect(signal: AbortSignal): Promise<void> {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.opts.connectTimeoutMs)]);
    const offer = await this.prepare();

    const answer = await postOffer(this.opts.endpoint, this.opts.token, offer, deadline);
    this.sessionUrl = answer.sessionUrl;
    this.etag = answer.etag;
    this.lastScore = answer.lastScore;
    this.answerSdp = answer.sdp;
    this.log.info({ sessionUrl: answer.sessionUrl, etag: answer.etag }, 'WHIP session created');

    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    this.video.prepare(answer.sdp, this.log);
    await this.connected(deadline);
    this.connectedAt = Date.now();
    this.startWatchdog();
  }

  private iceGatheringComplete(signal: AbortSignal): Promise<void> {
    // werift's setLocalDescription normally resolves after gathering; keep
    // the wait anyway so a STUN-server config (slow srflx) cannot send a
    // candidate-less offer.
    if (this.pc.iceGatheringState === 'complete') return Promise.resolve();
    return this.waitFor(signal, 'ICE gathering', (resolve) =>
      this.pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && resolve()),
    );
  }

  private connected(signal: AbortSignal): Promise<void> {
    if (this.pc.connectionState === 'connected') return Promise.resolve();
    return this.waitFor(signal, 'ICE/DTLS connection', (resolve, reject) =>
      this.pc.connectionStateChange.subscribe((s) => {
        if (s === 'connected') resolve();
        if (s === 'failed' || s === 'closed') reject(new Error(`connection ${s} while connecting`));
      }),
    );
  }

  private waitFor(
    signal: AbortSignal,
    what: string,
    subscribe: (resolve: () => void, reject: (err: Error) => void) => { unSubscribe: () => void },
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        sub.unSubscribe();
        reject(new Error(`${what} timed out or aborted`));
      };
      const sub = subscribe(
        () => {
          sub.unSubscribe();
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        (err) => {
          sub.unSubscribe();
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * werift keeps ICE consent for 30 s before failing, far too slow for a live
   * match. The ingest answers what we send: RTCP receiver reports (mediasoup:
   * at least every second while video flows) and SCTP SACKs for scores. So if
   * we kept sending for `livenessTimeoutMs` and heard nothing back, the
   * session is gone. While we send nothing (an RTMP source between
   * publishers) silence is expected and only ICE consent (30 s) applies.
   */
  private startWatchdog(): void {
    this.lastInboundAt = Date.now();
    for (const ice of this.pc.iceTransports) {
      ice.connection.onData.subscribe(() => {
        this.lastInboundAt = Date.now();
      });
    }
    for (const dtls of this.pc.dtlsTransports) {
      dtls.onStateChange.subscribe((state) => {
        if (state === 'closed' && !this.closed) this.endedByIngest = true;
        if (state === 'closed' || state === 'failed') this.die(`dtls ${state}`);
      });
    }
    const tick = Math.max(50, Math.min(250, this.opts.livenessTimeoutMs / 5));
    let lastTick = Date.now();
    this.watchdog = setInterval(() => {
      const late = Date.now() - lastTick > tick * 2;
      lastTick = Date.now();
      this.probe();
      // A stalled event loop (a loaded machine) is not a silent ingest: what
      // arrived meanwhile is still waiting in the socket. Timers run before
      // I/O, so decide only after the poll phase (setImmediate), and never
      // on the first tick after a stall.
      if (late) return;
      setImmediate(() => {
        const silentFor = Date.now() - this.lastInboundAt;
        const sendingFor = this.lastOutboundAt - this.lastInboundAt;
        if (silentFor > this.opts.livenessTimeoutMs && sendingFor > this.opts.livenessTimeoutMs - tick) {
          this.die(`no packets from ingest for ${silentFor} ms while sending`);
        }
      });
    }, tick);
  }

  /** Ask the ingest for an answer now (see probeIngest): it counts as "heard from". */
  private probe(): void {
    if (this.probing) return;
    const answered = probeIngest(this.pc, Math.max(200, this.opts.livenessTimeoutMs / 2));
    if (!answered) return;
    this.probing = true;
    answered
      .then(
        () => {
          this.lastInboundAt = Date.now();
        },
        () => undefined,
      )
      .finally(() => {
        this.probing = false;
      });
  }

  private die(reason: string): void {
    if (this.deadReason !== undefined || this.closed) return;
    this.deadReason = reason;
    clearInterval(this.watchdog);
    this.log.warn({ reason }, 'session dead');
    this.emit('dead', reason);
  }

  /** When the ingest was last heard from (any DTLS/SRTP/SRTCP/SCTP packet). */
  get lastInbound(): number {
    return this.lastInboundAt;
  }

  get isDead(): boolean {
    return this.deadReason !== undefined;
  }

  /** RTP can flow: ICE+DTLS up and not declared dead. */
  get mediaReady(): boolean {
    return this.connectedAt !== undefined && !this.isDead && !this.closed;
  }

  get channelWritable(): boolean {
    return this.mediaReady && this.channel.readyState === 'open';
  }

  /**
   * Send a packet of the audio track or of video layer `layer` (0 = lowest,
   * the only one without simulcast). Undefined when this session does not
   * carry that layer (an ingest that refused simulcast gets the top one only).
   */
  sendRtp(kind: MediaKind, packet: Buffer, layer = 0): Promise<void> | undefined {
    const sender = kind === 'audio' ? this.senders.audio : this.video.of(layer);
    if (!sender) return undefined;
    this.lastOutboundAt = Date.now();
    return sender.sendRtp(packet);
  }

  /** One score update as a text message on the score channel (throws if the channel is not open). */
  sendScoreText(json: string): void {
    this.channel.send(json);
    this.lastOutboundAt = Date.now();
  }

  /**
   * The source restarted: its RTP sequence numbers and timestamps start from
   * new random bases. For audio werift rewrites them to continue where we
   * were; every video layer already arrives continuous (the agent's
   * LayerTimeline and MediaClock), so the ingest sees one continuous stream
   * per SSRC.
   */
  sourceRestarted(): void {
    this.senders.audio.replaceRTP({ sequenceNumber: 0, timestamp: 0 }, false, 960);
  }

  /**
   * Tear down. `deleteResource` sends the WHIP DELETE first (clean stop, or
   * before re-POSTing after a failure, so our own stale session does not
   * make the ingest answer 409).
   */
  async close(deleteResource: boolean, deleteTimeoutMs = 1500): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    if (deleteResource && this.sessionUrl) {
      const status = await deleteSession(this.sessionUrl, this.opts.token, deleteTimeoutMs);
      this.log.info({ sessionUrl: this.sessionUrl, status }, 'WHIP session deleted');
    }
    this.video.stopExtra();
    try {
      await this.pc.close();
    } catch (err) {
      this.log.debug({ err }, 'pc.close failed');
    }
    this.removeAllListeners();
  }
}
