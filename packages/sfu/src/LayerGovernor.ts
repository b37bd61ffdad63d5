import type { types } from 'mediasoup';

/** How a viewer's layer is governed (MM_LAYER_* on the node; the bench's A/B sets them per relay). */
export interface LayerGovernorOptions {
  /** First hold after an unasked step down (ms); doubled by each climb that ends in another fall. */
  holdMs: number;
  /** Longest hold however many climbs failed (ms): a link that recovered is climbed within it plus a probe. */
  maxHoldMs: number;
  /** Where a burst of NACKs steps the viewer: to the lowest layer (drains the bottleneck) or one layer down. */
  nackStepTo: 'lowest' | 'below';
}

/**
 * 2 s, doubled to 4 s at most; a NACK burst goes to the lowest layer. Before issue 14's
 * climb-back fix: 8 s at most and one layer down (see ARCHITECTURE "A viewer's layer").
 */
export const DEFAULT_LAYER_GOVERNOR: LayerGovernorOptions = { holdMs: 2000, maxHoldMs: 4000, nackStepTo: 'lowest' };

/** A fall this soon after a hold ended means the climb failed: hold longer next time. */
const FAILED_CLIMB_MS = 10_000;
/**
 * NACK messages from the viewer within NACK_WINDOW_MS that mean its link is
 * dropping the layer it gets: step down now, without waiting for the estimate.
 * A wifi link losing 2 % of a 600 kbit/s layer NACKs about once a second.
 */
const NACK_BURST = 10;
const NACK_WINDOW_MS = 1000;

/**
 * Upward hysteresis for a viewer's simulcast consumer. mediasoup's consumer
 * climbs as soon as its bandwidth estimate allows the next layer, and the
 * estimate's probing allows it again a few seconds after every fall: on a
 * link that cannot carry the higher layer the viewer then freezes at each
 * attempt (the e2e constrained link froze 2.3 s where a single step down
 * froze 1.4 s). After a step down the viewer did not ask for, the governor
 * holds the consumer at the layer it fell to — its preferred layer capped —
 * for a while, doubling the hold each time the climb that follows fails
 * (2 s, then 4 s), as WebRTC senders back off their own upswitches. The
 * growth stops at 4 s: with 8 s a fall just before the link recovered kept
 * the viewer low for 8 s plus the estimate's probe (e2e: climb back 10.5 and
 * 17.1 s under load, the goal is 10 s). The viewer's own choice
 * (PeerMedia.setPreferredLayers) resets it.
 *
 * It also steps down first when the viewer's NACKs come in a burst (the
 * consumer's 'nack' trace): a full bottleneck queue drops packets for a second
 * or more before the estimate falls, and under load the estimate once took
 * 2.75 s to step down (CI, e2e constrained link: a 1.8 s freeze). A burst of
 * NACKs is a fall like the estimate's, held the same way — but to the lowest
 * layer: one layer down still filled the bottleneck (the lower layer, the old
 * one's retransmissions and the new key frame), its key frame came through
 * late and the estimate then fell to the lowest layer anyway; that second,
 * estimate-made fall also makes mediasoup refuse any climb for 10 s
 * (BweDowngradeConservativeMs), however soon the link recovers. From the
 * lowest layer the estimate climbs back to what the link carries once the
 * hold ends.
 */
export class LayerGovernor {
  readonly #consumer: types.Consumer;
  /** The viewer's preference, fitted to the producer (what the consumer gets when not held). */
  readonly #wanted: () => types.ConsumerLayers;
  readonly #options: LayerGovernorOptions;
  #current: number | undefined;
  #held = false;
  #holdMs: number;
  #releasedAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  /** When the viewer's recent NACK messages arrived (performance.now()), within NACK_WINDOW_MS. */
  readonly #nacks: number[] = [];
  /** Holds so far (for tests and ops). */
  holds = 0;
  /** Of them, steps down made on a burst of NACKs. */
  nackStepDowns = 0;

  constructor(
    consumer: types.Consumer,
    wanted: () => types.ConsumerLayers,
    options: LayerGovernorOptions = DEFAULT_LAYER_GOVERNOR,
  ) {
    this.#consumer = consumer;
    this.#wanted = wanted;
    this.#options = options;
    this.#holdMs = options.holdMs;
    consumer.on('layerschange', (layers) => this.#onLayers(layers));
    consumer.on('trace', (trace) => {
      if (trace.type === 'nack') this.#onNack();
    });
    void consumer.enableTraceEvent(['nack']).catch(() => undefined);
    consumer.observer.once('close', () => this.close());
  }

  get held(): boolean {
    return this.#held;
  }

  /** The viewer chose: its choice applies now, the back-off starts over. */
  reset(): void {
    clearTimeout(this.#timer);
    this.#held = false;
    this.#holdMs = this.#options.holdMs;
    this.#releasedAt = Number.NEGATIVE_INFINITY;
  }

  close(): void {
    clearTimeout(this.#timer);
  }

  #onNack(): void {
    const now = performance.now();
    this.#nacks.push(now);
    while (this.#nacks.length > 0 && now - this.#nacks[0]! > NACK_WINDOW_MS) this.#nacks.shift();
    const current = this.#current;
    if (this.#nacks.length < NACK_BURST || current === undefined || current === 0) return;
    if (this.#held || this.#consumer.closed) return;
    this.#nacks.length = 0;
    this.nackStepDowns++;
    this.#hold(this.#options.nackStepTo === 'lowest' ? 0 : current - 1);
  }

  #onLayers(layers: types.ConsumerLayers | undefined): void {
    const previous = this.#current;
    this.#current = layers?.spatialLayer;
    if (!layers || previous === undefined || this.#held || this.#consumer.closed) return;
    // Only a fall the estimate made: below the viewer's wish, from a higher layer.
    if (layers.spatialLayer >= previous || layers.spatialLayer >= this.#wanted().spatialLayer) return;
    this.#hold(layers.spatialLayer);
  }

  /** Cap the consumer at `spatialLayer` for the current hold time (doubled after a failed climb). */
  #hold(spatialLayer: number): void {
    const now = performance.now();
    const { holdMs, maxHoldMs } = this.#options;
    this.#holdMs = now - this.#releasedAt < FAILED_CLIMB_MS ? Math.min(this.#holdMs * 2, maxHoldMs) : holdMs;
    this.#held = true;
    this.holds++;
    const wanted = this.#wanted();
    void this.#consumer
      .setPreferredLayers({ spatialLayer, temporalLayer: wanted.temporalLayer })
      .catch(() => undefined);
    this.#timer = setTimeout(() => this.#release(), this.#holdMs);
  }

  #release(): void {
    this.#held = false;
    this.#releasedAt = performance.now();
    if (!this.#consumer.closed) void this.#consumer.setPreferredLayers(this.#wanted()).catch(() => undefined);
  }
}
