import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { hasLayers, highestLayers } from '../layers.ts';
import { DEFAULT_HOLD_OPTIONS, type HoldOptions, HoldQueue, type HoldStats } from './HoldQueue.ts';

interface DelayedProgramEvents {
  close: [];
}

interface Line {
  consumer: types.Consumer;
  producer: types.Producer;
}

/**
 * The stable program held D_L ms in this node for the WHEP players of language L (issue 16: a WHEP
 * player has no signaling to learn D_L and plays out on its own, so the node puts the picture D_L later
 * instead, and the player's undelayed commentary track meets it there).
 *
 * On the stream's router, on a DirectTransport of its own: one consumer per program kind (video: ONE
 * layer, the top one — what a WHEP session gets by default; so a `?lang=` player has no layer adaptation),
 * every RTP packet through one HoldQueue (audio and video on the same queue and hold, so their relative
 * timing is kept exactly), and a producer per kind on the same transport with the consumer's codec, payload
 * type and SSRC, so the packets go back unchanged.
 *
 * - Key frames: a PLI/FIR from a consumer of the delayed video (a player joining, a loss) arrives as RTCP
 *   on this transport and becomes `requestKeyFrame()` on the video consumer (then the stable track's own
 *   request spacing applies). The request reaches the picture D later — the price of the hold.
 * - NACKs: answered by mediasoup's consumers of the delayed producers (they keep the packets they sent);
 *   nothing is lost between the stable producer and this line (one worker).
 * - Sender Reports: none sent. The consumers' SRs then state each packet's instant as when it entered the
 *   delayed producer (mediasoup's fallback without a producer SR), for audio and video alike, both held
 *   equally: the player's lip sync holds, and the commentary (whose GStreamer producer has no SR either)
 *   is stated on the same clock at the same place, i.e. aligned.
 */
export class DelayedProgram extends EventEmitter<DelayedProgramEvents> {
  readonly lang: string;
  readonly #transport: types.DirectTransport;
  readonly #lines: Line[];
  readonly #queue: HoldQueue<{ line: Line; packet: Buffer }>;
  #closed = false;

  private constructor(
    lang: string,
    transport: types.DirectTransport,
    lines: Line[],
    holdMs: number,
    hold: HoldOptions,
  ) {
    super();
    this.lang = lang;
    this.#transport = transport;
    this.#lines = lines;
    this.#queue = new HoldQueue(
      ({ line, packet }) => {
        if (!line.producer.closed) line.producer.send(packet);
      },
      holdMs,
      hold,
    );
    for (const line of lines) {
      line.consumer.on('rtp', (packet) => this.#queue.push({ line, packet }));
      // The program going away (the stream's grace ran out) ends the line: its players' consumers close.
      line.consumer.observer.once('close', () => this.close());
    }
    transport.on('rtcp', (packet) => this.#onRtcp(packet));
    transport.observer.once('close', () => this.close());
  }

  /** Consume `program` (the stream router's stable producers) on `router` and produce it again, held `holdMs`. */
  static async create(
    router: types.Router,
    program: types.Producer[],
    lang: string,
    holdMs: number,
    appData: types.AppData,
    hold: Partial<HoldOptions> = {},
  ): Promise<DelayedProgram> {
    const transport = await router.createDirectTransport({ maxSendMessageSize: 64 * 1024 });
    try {
      const lines: Line[] = [];
      for (const source of program) {
        const consumer = await transport.consume({
          producerId: source.id,
          rtpCapabilities: router.rtpCapabilities,
          enableRtx: false,
          ...(hasLayers(source) ? { preferredLayers: highestLayers(source) } : {}),
          appData: { delayedFor: lang },
        });
        const params = consumer.rtpParameters;
        const codec = params.codecs.find((c) => !/\/rtx$/i.test(c.mimeType));
        const ssrc = params.encodings?.[0]?.ssrc;
        if (!codec || ssrc === undefined) throw new Error(`program ${source.kind} has no codec to delay`);
        const producer = await transport.produce({
          kind: source.kind,
          rtpParameters: {
            codecs: [{ ...codec, rtcpFeedback: codec.rtcpFeedback ?? [] }],
            headerExtensions: [],
            encodings: [{ ssrc }],
            rtcp: { cname: `matchmesh-${String(appData.stream ?? 'stream')}-${lang}`, reducedSize: true },
          },
          appData: { ...appData, source: 'program', delayedFor: lang },
        });
        lines.push({ consumer, producer });
      }
      return new DelayedProgram(lang, transport, lines, holdMs, { ...DEFAULT_HOLD_OPTIONS, ...hold });
    } catch (err) {
      transport.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The delayed producers (video, venue audio) that `?lang=` WHEP sessions consume instead of the program. */
  producers(): types.Producer[] {
    return this.#lines.map((l) => l.producer);
  }

  /** The language's delay moved (the booth's or the upstream pipe's D_L): the hold follows it smoothly. */
  setHold(ms: number): void {
    this.#queue.setTarget(ms);
  }

  get stats(): HoldStats {
    return this.#queue.stats;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.close();
    // Closes the consumers and producers on it (and, through mediasoup, every consumer of those producers).
    this.#transport.close();
    this.emit('close');
  }

  /** PLI (206/1) or FIR (206/4) for a delayed video producer: ask the stable program for a key frame. */
  #onRtcp(packet: Buffer): void {
    for (let off = 0; off + 12 <= packet.length; ) {
      const fmt = packet[off]! & 0x1f;
      const pt = packet[off + 1]!;
      const end = Math.min(packet.length, off + (packet.readUInt16BE(off + 2) + 1) * 4);
      if (pt === 206 && (fmt === 1 || fmt === 4)) {
        const ssrcs = fmt === 1 ? [packet.readUInt32BE(off + 8)] : fciSsrcs(packet, off + 12, end);
        for (const line of this.#lines) {
          const own = line.producer.rtpParameters.encodings?.[0]?.ssrc;
          if (line.producer.kind === 'video' && own !== undefined && ssrcs.includes(own)) {
            void line.consumer.requestKeyFrame().catch(() => {});
          }
        }
      }
      off = end;
    }
  }
}

function fciSsrcs(packet: Buffer, from: number, end: number): number[] {
  const out: number[] = [];
  for (let i = from; i + 8 <= end; i += 8) out.push(packet.readUInt32BE(i));
  return out;
}
