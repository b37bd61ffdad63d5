import { z } from 'zod';

/**
 * A network path in user space, for tests and the bench: a bottleneck link
 * (rate limit with a drop-tail buffer), one-way delay with jitter, random
 * loss and bursty loss (Gilbert–Elliott: a "bad" state in which every packet
 * is lost, entered and left with a per-packet probability). What netem does,
 * without root, applied to datagrams a proxy forwards.
 *
 * Order is kept unless `reorder` is set: jitter then only stretches the gaps
 * (a real path reorders rarely; a jitter buffer is what is being tested).
 */
const pct = (what: string) =>
  z
    .number({ error: `${what} is a percentage (a number)` })
    .min(0, `${what} is a percentage: 0 to 100`)
    .max(100, `${what} is a percentage: 0 to 100`);
const ms = (what: string, max: number) =>
  z
    .number({ error: `${what} is a duration in ms (a number)` })
    .min(0, `${what} cannot be negative`)
    .max(max, `${what} over ${max} ms is not a path`);

/**
 * What a path does to the datagrams it carries. Validated (`parsePathShape`)
 * wherever a shape is set — from a test, a bench flag or the pipe link — so a
 * typo'd or impossible shape fails with its reason instead of quietly shaping
 * nothing (an unknown key, a loss over 100 %, a burst that never ends).
 */
export const PathShapeSchema = z
  .strictObject({
    /** Bottleneck rate (kbit/s); none when absent. */
    rateKbps: z
      .number({ error: 'rateKbps is a rate in kbit/s (a number)' })
      .positive('rateKbps must be above 0 (leave it out for no bottleneck)')
      .optional(),
    /** The bottleneck's buffer, in ms of queue at `rateKbps`: beyond it, packets are dropped (default 100). */
    queueMs: ms('queueMs', 10_000).optional(),
    /** One-way delay added to every packet (ms). */
    delayMs: ms('delayMs', 10_000).optional(),
    /** Up to this much more delay, uniformly random per packet (ms). */
    jitterMs: ms('jitterMs', 10_000).optional(),
    /** Let jitter reorder packets (default false). */
    reorder: z.boolean({ error: 'reorder is true or false' }).optional(),
    /** Random loss, independent per packet (%). */
    lossPct: pct('lossPct').optional(),
    /** Bursty loss: per packet, % chance to enter the lossy state, and to leave it. */
    burst: z
      .strictObject({
        enterPct: pct('burst.enterPct'),
        exitPct: pct('burst.exitPct').refine(
          (p) => p > 0,
          'burst.exitPct must be above 0: a burst that is never left is a cut (use lossPct: 100)',
        ),
      })
      .optional(),
  })
  .refine((s) => s.queueMs === undefined || s.rateKbps !== undefined, {
    message: "queueMs is the bottleneck's buffer: it needs rateKbps",
    path: ['queueMs'],
  });
export type PathShape = z.infer<typeof PathShapeSchema>;

/** `input` as a PathShape, or an Error naming `where` and every problem (e.g. "--longhaul-rtt-ms: delayMs …"). */
export function parsePathShape(input: unknown, where = 'path shape'): PathShape {
  const parsed = PathShapeSchema.safeParse(input);
  if (!parsed.success) throw new Error(`${where}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export interface PathStats {
  passed: number;
  /** Lost by `lossPct` or `burst`. */
  lost: number;
  /** Dropped at the bottleneck (its buffer was full). */
  overflow: number;
  bytesPassed: number;
  /** Bytes of the packets lost or dropped (what the sender spent for nothing). */
  bytesLost: number;
}

export class PathShaper {
  #shape: PathShape = {};
  #bad = false;
  /** When the bottleneck finishes sending what is queued (ms, performance.now()). */
  #linkFreeAt = 0;
  #lastDeliverAt = 0;
  readonly stats: PathStats = { passed: 0, lost: 0, overflow: 0, bytesPassed: 0, bytesLost: 0 };
  readonly #queue: { at: number; packet: Buffer }[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #deliver: (packet: Buffer) => void;
  readonly #random: () => number;

  constructor(deliver: (packet: Buffer) => void, random: () => number = Math.random) {
    this.#deliver = deliver;
    this.#random = random;
  }

  get shape(): PathShape {
    return this.#shape;
  }

  /** A new shape applies to packets from now on (queued ones keep their times). Throws on an invalid shape. */
  setShape(shape: PathShape): void {
    this.#shape = parsePathShape(shape);
    if (!shape.burst) this.#bad = false;
  }

  push(packet: Buffer): void {
    const s = this.#shape;
    if (s.burst) {
      if (this.#bad ? this.#random() * 100 < s.burst.exitPct : this.#random() * 100 < s.burst.enterPct) {
        this.#bad = !this.#bad;
      }
    }
    if (this.#bad || (s.lossPct && this.#random() * 100 < s.lossPct)) {
      this.stats.lost++;
      this.stats.bytesLost += packet.length;
      return;
    }
    const now = performance.now();
    let at = now;
    if (s.rateKbps) {
      const start = Math.max(now, this.#linkFreeAt);
      if (start - now > (s.queueMs ?? 100)) {
        this.stats.overflow++;
        this.stats.bytesLost += packet.length;
        return;
      }
      this.#linkFreeAt = start + (packet.length * 8) / s.rateKbps;
      at = this.#linkFreeAt;
    }
    at += (s.delayMs ?? 0) + (s.jitterMs ? this.#random() * s.jitterMs : 0);
    if (!s.reorder) at = Math.max(at, this.#lastDeliverAt);
    this.#lastDeliverAt = at;
    this.stats.passed++;
    this.stats.bytesPassed += packet.length;
    // Nothing to wait for: straight through (an unshaped path costs no timer).
    if (this.#queue.length === 0 && at - now < 0.5) {
      this.#deliver(packet);
      return;
    }
    // In delivery order: FIFO unless reordering lets a later packet overtake.
    let i = this.#queue.length;
    while (i > 0 && this.#queue[i - 1]!.at > at) i--;
    this.#queue.splice(i, 0, { at, packet });
    this.#schedule();
  }

  /** One timer, for the head of the queue: packets leave in their order, to the millisecond. */
  #schedule(): void {
    if (this.#timer || this.#queue.length === 0) return;
    const wait = Math.max(0, this.#queue[0]!.at - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const now = performance.now() + 0.5;
      while (this.#queue.length > 0 && this.#queue[0]!.at <= now) this.#deliver(this.#queue.shift()!.packet);
      this.#schedule();
    }, wait);
  }

  /** Drop what is still in flight. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }
}
