import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { HoldRewriter, rtpPayloadBytes } from './holdRewriter.ts';

/** RTCP packet types (RFC 3550/4585: 200–206) on a muxed port: mediasoup's Sender Reports, not for the mixer. */
const isRtcp = (packet: Buffer): boolean => packet.length >= 2 && packet[1]! >= 200 && packet[1]! <= 206;

/**
 * One mixer slot's delay line: the voice's PlainTransport sends its RTP here,
 * and each packet goes on to the GStreamer slot `holdMs` later (one FIFO, one
 * timer for its head), rewritten by HoldRewriter so the jitter buffer never
 * sees the hold change. This is how the commentators of one language are
 * equalised: a faster one's voice is held (language delay − their delay), so
 * every reaction reaches the mix as late as the slowest one's — on its frame.
 * It also sees each voice packet leave for the mixer (`onForward`): one side
 * of the mixer-lag measurement (mixerLag.ts).
 */
export class VoiceHold {
  readonly #socket: Socket;
  readonly #slotPort: number;
  readonly #rewriter = new HoldRewriter();
  readonly #queue: { due: number; packet: Buffer }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Each packet handed to the mixer: when (performance.now() ms) and its Opus payload size. */
  onForward: ((at: number, payloadBytes: number) => void) | undefined;

  private constructor(socket: Socket, slotPort: number) {
    this.#socket = socket;
    this.#slotPort = slotPort;
    socket.on('message', (packet) => this.#receive(packet));
    // A send to a slot whose GStreamer is restarting fails with ECONNREFUSED on some kernels: not fatal.
    socket.on('error', () => undefined);
  }

  /** A hold in front of the mixer slot listening on `slotPort` (127.0.0.1). */
  static async open(slotPort: number): Promise<VoiceHold> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new VoiceHold(socket, slotPort);
  }

  /** Where the voice's PlainTransport sends (127.0.0.1). */
  get port(): number {
    return this.#socket.address().port;
  }

  /** The hold applied now (ms). */
  get holdMs(): number {
    return this.#rewriter.holdMs;
  }

  /** The hold asked for (ms): applied at the voice's next quiet packet (holdRewriter.ts). */
  get targetMs(): number {
    return this.#rewriter.target;
  }

  setHold(ms: number): void {
    this.#rewriter.setTarget(ms, performance.now());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#queue.length = 0;
    this.#socket.close();
  }

  #receive(packet: Buffer): void {
    if (this.#closed || isRtcp(packet)) return;
    const now = performance.now();
    for (const { packet: out, holdMs } of this.#rewriter.accept(packet, now)) {
      // FIFO: a shrink never sends a packet before the ones already waiting.
      const due = Math.max(now + holdMs, this.#queue.at(-1)?.due ?? 0);
      if (due <= now && this.#queue.length === 0) {
        this.#send(out, now);
        continue;
      }
      this.#queue.push({ due, packet: out });
      if (this.#queue.length === 1) this.#arm();
    }
  }

  #arm(): void {
    const head = this.#queue[0];
    if (!head) return;
    this.#timer = setTimeout(() => this.#flush(), Math.max(0, head.due - performance.now()));
  }

  #flush(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    const now = performance.now();
    // setTimeout's ms granularity: what is due within half a millisecond goes now.
    while (this.#queue.length > 0 && this.#queue[0]!.due <= now + 0.5) this.#send(this.#queue.shift()!.packet, now);
    this.#arm();
  }

  #send(packet: Buffer, at: number): void {
    this.#socket.send(packet, this.#slotPort, '127.0.0.1');
    this.onForward?.(at, rtpPayloadBytes(packet));
  }
}
