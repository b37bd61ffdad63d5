import type { types } from 'mediasoup';

/**
 * Packets handed to the worker and not yet seen fanned out. Measured in the
 * latency bench (150 viewers, quiet machine, paced vs unpaced in one run):
 * window 3 cut hop 1's added p99 to 0.38–0.47 of unpaced at no measurable
 * worker CPU; window 1 cut it as much for ~10 % more worker CPU (smaller send
 * batches); window 8 barely helped (0.80–0.92): it lets most of a key frame
 * through at once.
 */
export const DEFAULT_FEED_WINDOW = 3;

/**
 * A loopback that never comes (a packet the worker refused, a paused
 * producer, a worker restart) must not stall the program: after this
 * long without one, the window opens again.
 */
const LOOPBACK_TIMEOUT_MS = 50;

/**
 * Beyond this backlog the worker cannot keep up at all: hand everything over
 * (today's behaviour) rather than grow a queue in Node.
 */
const MAX_BACKLOG = 2000;

/**
 * Feeds the stable video producer to its worker no faster than the worker
 * fans it out, so that a key frame's burst does not sit in the worker's
 * channel ahead of everything else.
 *
 * Why: the worker forwards a packet to every consumer before it reads the
 * next message. A 720p key frame is ~40 packets arriving at once; written to
 * the channel together, they make the program's audio, the commentary and
 * every other stream of the worker wait for 40 × (viewers) sends — 30–60 ms at
 * 150 viewers, the bench's hop-1 p99. Held here, the burst reaches the worker
 * a few packets at a time and anything else slips in between: the video
 * itself is not delayed (the worker could not send it sooner), the rest no
 * longer waits behind it.
 *
 * How it knows the worker's pace: a consumer of the stable producer on the
 * same DirectTransport (a "loopback"). The worker hands it each packet while
 * fanning that packet out, so each loopback arriving in Node means the worker
 * has reached one more packet: a window of `window` packets in flight is
 * self-clocked by the worker's real throughput, whatever the viewer count or
 * the machine. Until the first loopback arrives every packet goes straight
 * through.
 */
export class FeedPacer {
  readonly #producer: types.Producer;
  readonly #loopback: types.Consumer;
  readonly #window: number;
  readonly #queue: Buffer[] = [];
  #inFlight = 0;
  #clocked = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Packets that waited here for the worker (for tests and ops). */
  held = 0;
  /** Times a missing loopback reopened the window. */
  timeouts = 0;

  private constructor(producer: types.Producer, loopback: types.Consumer, window: number) {
    this.#producer = producer;
    this.#loopback = loopback;
    this.#window = window;
    loopback.on('rtp', () => this.#onLoopback());
    loopback.observer.once('close', () => this.close());
  }

  static async create(
    transport: types.DirectTransport,
    producer: types.Producer,
    routerCaps: types.RtpCapabilities,
    window = DEFAULT_FEED_WINDOW,
  ): Promise<FeedPacer> {
    // A pipe consumer: it forwards every simulcast layer's packets (a plain one
    // forwards one layer, and waits for a key frame), so each packet sent
    // comes back, whatever its layer.
    const loopback = await transport.consume({
      producerId: producer.id,
      rtpCapabilities: routerCaps,
      pipe: true,
      appData: { feedPacer: true },
    });
    return new FeedPacer(producer, loopback, window);
  }

  /** A loopback has arrived: from now on the worker's pace sets the feed's. */
  get clocked(): boolean {
    return this.#clocked;
  }

  /** Packets waiting here for the worker. */
  get backlog(): number {
    return this.#queue.length;
  }

  send(packet: Buffer): void {
    if (this.#closed || this.#producer.closed) return;
    if (!this.#clocked) {
      this.#producer.send(packet);
      return;
    }
    if (this.#queue.length === 0 && this.#inFlight < this.#window) {
      this.#hand(packet);
      return;
    }
    this.held++;
    this.#queue.push(packet);
    if (this.#queue.length > MAX_BACKLOG) this.#flush();
  }

  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    if (!this.#loopback.closed) this.#loopback.close();
  }

  #hand(packet: Buffer): void {
    this.#inFlight++;
    this.#producer.send(packet);
    if (this.#timer) this.#timer.refresh();
    else this.#timer = setTimeout(() => this.#onTimeout(), LOOPBACK_TIMEOUT_MS);
  }

  #onLoopback(): void {
    this.#clocked = true;
    if (this.#inFlight > 0) this.#inFlight--;
    if (this.#inFlight > 0) this.#timer?.refresh();
    this.#drain();
  }

  #onTimeout(): void {
    this.#timer = undefined;
    if (this.#closed || this.#inFlight === 0) return;
    this.timeouts++;
    this.#inFlight = 0;
    this.#drain();
  }

  #drain(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.#window && !this.#producer.closed) {
      this.#hand(this.#queue.shift()!);
    }
  }

  #flush(): void {
    for (const packet of this.#queue.splice(0)) {
      if (!this.#producer.closed) this.#producer.send(packet);
    }
  }
}
