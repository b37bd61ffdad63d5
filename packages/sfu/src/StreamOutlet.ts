import type { ScoreUpdate } from '@matchmesh/protocol';
import type { types } from 'mediasoup';
import type { StreamRouter, TransportRequest } from './StreamRouter.ts';

export interface StreamOutletEvents {
  /** The program or commentary producers here appeared, changed or went away. */
  programchanged: [];
  close: [];
}

/**
 * Where a viewer of a stream is served from on this node: the stream's own
 * router (its source, on the worker where the program enters) or a fan-out
 * router on another worker fed from it by pipes. Viewers (PeerMedia, WHEP)
 * see only this surface, so which worker serves them is placement's choice
 * alone.
 */
export interface StreamOutlet {
  on<E extends keyof StreamOutletEvents>(event: E, listener: (...args: StreamOutletEvents[E]) => void): unknown;
  once<E extends keyof StreamOutletEvents>(event: E, listener: (...args: StreamOutletEvents[E]) => void): unknown;
  off<E extends keyof StreamOutletEvents>(event: E, listener: (...args: StreamOutletEvents[E]) => void): unknown;
  /** The stream id. */
  readonly stream: string;
  /** The stream's source router (program, commentary and scores enter there). */
  readonly source: StreamRouter;
  readonly router: types.Router;
  readonly closed: boolean;
  readonly rtpCapabilities: types.RtpCapabilities;
  readonly latestScore: ScoreUpdate | null;
  /** The producer viewers consume for scores (its messages come in order from the source). */
  readonly scoreProducer: types.DataProducer;
  scoresSince(seq: number): ScoreUpdate[];
  programProducers(): types.Producer[];
  commentaryProducers(): types.Producer[];
  /**
   * Another producer of the source router (a WHEP language's delayed program) as it is here: itself on the
   * source, piped once on a fan-out router; undefined when it closed meanwhile.
   */
  copyOf(producer: types.Producer): Promise<types.Producer | undefined>;
  createWebRtcTransport(request: TransportRequest): Promise<types.WebRtcTransport>;
  /** One more user (a viewer's seat); the returned function gives it back. An outlet nobody uses may close. */
  acquire(): () => void;
}

/** A viewer's WebRTC transport on an outlet's router, through its worker's one WebRtcServer port. */
export function createViewerTransport(
  router: types.Router,
  webRtcServer: types.WebRtcServer,
  stream: string,
  request: TransportRequest,
): Promise<types.WebRtcTransport> {
  return router.createWebRtcTransport({
    webRtcServer,
    enableUdp: !request.forceTcp,
    enableTcp: true,
    preferUdp: !request.forceTcp,
    enableSctp: request.sctp,
    maxSendMessageSize: 64 * 1024,
    maxReceiveMessageSize: 64 * 1024,
    appData: { stream, ...request.appData },
  });
}
