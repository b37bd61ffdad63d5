import type { types } from 'mediasoup';
import { layerCounts } from './layers.ts';
import type { StreamRouter } from './StreamRouter.ts';

/** What one tapped track looks like on the wire (to describe it to a local consumer such as ffmpeg). */
export interface TappedTrack {
  kind: types.MediaKind;
  producerId: string;
  payloadType: number;
  ssrc: number;
  mimeType: string;
  clockRate: number;
  channels?: number;
  parameters: Record<string, unknown>;
}

/** Simulcast encodings (spatial layers) of a producer, lowest first as mediasoup orders them; 1 without simulcast. */
export function spatialLayersOf(producer: types.Producer): number {
  return layerCounts(producer).spatial;
}

/**
 * The stream's program (video + audio) as plain RTP to a local UDP port: a
 * mediasoup PlainTransport (no comedia, RTCP muxed, no SRTP) with one
 * consumer per program producer, for local packagers (HLS). RTX and header
 * extensions are left out of the consumers: the receiver is on loopback and
 * only wants the media.
 */
export class PlainTap {
  readonly transport: types.PlainTransport;
  readonly consumers: types.Consumer[];
  readonly tracks: TappedTrack[];
  #closed = false;

  private constructor(transport: types.PlainTransport, consumers: types.Consumer[]) {
    this.transport = transport;
    this.consumers = consumers;
    this.tracks = consumers.map((c) => {
      const codec = c.rtpParameters.codecs[0]!;
      return {
        kind: c.kind,
        producerId: c.producerId,
        payloadType: codec.payloadType,
        ssrc: c.rtpParameters.encodings?.[0]?.ssrc ?? 0,
        mimeType: codec.mimeType,
        clockRate: codec.clockRate,
        channels: codec.channels,
        parameters: { ...(codec.parameters ?? {}) },
      };
    });
  }

  /**
   * Consume `producers` of `stream` and send them to `target` (127.0.0.1:port).
   * A simulcast video producer (several encodings, lowest first) is consumed
   * at `spatialLayer` (default: the highest): a PlainTransport has no
   * bandwidth estimation, so the consumer stays on that layer while it flows;
   * when it stops, mediasoup's simulcast consumer moves to another layer and
   * says so with 'layerschange' (HLS drops that rendition).
   */
  static async open(
    stream: Pick<StreamRouter, 'router' | 'stream'>,
    producers: types.Producer[],
    target: { ip: string; port: number },
    opts: { spatialLayer?: number } = {},
  ): Promise<PlainTap> {
    const transport = await stream.router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: target.ip },
      rtcpMux: true,
      comedia: false,
      appData: { stream: stream.stream, purpose: 'hls' },
    });
    try {
      await transport.connect({ ip: target.ip, port: target.port });
      const caps = stream.router.rtpCapabilities;
      const rtpCapabilities: types.RtpCapabilities = {
        codecs: (caps.codecs ?? []).filter((c) => c.mimeType.toLowerCase() !== 'video/rtx'),
        headerExtensions: [],
      };
      const consumers: types.Consumer[] = [];
      for (const producer of producers) {
        const layers = spatialLayersOf(producer);
        const preferredLayers =
          producer.kind === 'video' && layers > 1
            ? { spatialLayer: Math.min(layers - 1, Math.max(0, opts.spatialLayer ?? layers - 1)) }
            : undefined;
        consumers.push(
          await transport.consume({ producerId: producer.id, rtpCapabilities, paused: false, preferredLayers }),
        );
      }
      return new PlainTap(transport, consumers);
    } catch (err) {
      transport.close();
      throw err;
    }
  }

  /** Ask the publishers for a key frame now (the origin's GOP may be long). */
  async requestKeyFrame(): Promise<void> {
    await Promise.all(
      this.consumers.filter((c) => c.kind === 'video' && !c.closed).map((c) => c.requestKeyFrame().catch(() => {})),
    );
  }

  get closed(): boolean {
    return this.#closed || this.transport.closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.transport.close();
  }
}
