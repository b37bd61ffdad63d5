import type { types } from 'mediasoup';

/** How a viewer's layer is governed (MM_LAYER_* on the node; the bench's A/B sets them per relay). */
export interface LayerGovernorOptions {
  /** First hold after an unasked step down (ms); doubled by each climb that ends in another fall. */
  holdMs: number;
  /** Longest hold however many climbs failed (ms): a link that recovered is climbed within it plus a probe. */
  maxHoldMs: number;
  /**
   * Where an unasked step down holds the viewer: 'lowest' (drains the bottleneck at once), or 'below' — one
   * layer down on a NACK burst, the layer the estimate chose on its fall (the behaviour before).
   */
  stepTo: 'lowest' | 'below';
  /** Lift mediasoup's 10 s refusal to climb after its estimate's fall once the estimate carries the layer. */
  climbAssist: boolean;
}

/**
 * 2 s, doubled to 4 s at most; a NACK burst goes to the lowest layer; the climb assisted. Before
 * issue 14's climb-back fix: 8 s at most, one layer down, no assist (see ARCHITECTURE "A viewer's layer").
 */
export const DEFAULT_LAYER_GOVERNOR: LayerGovernorOptions = {
  holdMs: 2000,
  maxHoldMs: 4000,
  stepTo: 'lowest',
  climbAssist: true,
};

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
 * mediasoup's SimulcastProducerStreamManager refuses every spatial climb for
 * BweDowngradeConservativeMs after a fall its estimate made (one from a layer
 * at or below the preferred one): 10 s, whatever the estimate says meanwhile.
 */
const MEDIASOUP_NO_CLIMB_MS = 10_000;
/** How often the climb assist asks whether the estimate carries the wanted layer, and how many yeses in a row. */
const ASSIST_POLL_MS = 1000;
const ASSIST_YESES = 2;
/**
 * While the estimate does not carry the wanted layer, a probe at most this often (libwebrtc's own
 * periodic probing in ALR is every 5 s, and only while sending far below the estimate: a viewer held
 * on the middle layer is not, and its estimate crept up by additive steps — 22 s back to 360p).
 */
const PROBE_EVERY_MS = 3000;
/** The climb assist watches this long after an unasked step down (then libwebrtc's own probing is left). */
const WATCH_MS = 20_000;

/** What the climb assist asks of the viewer's transport (PeerMedia: estimateFloor.ts). */
export interface ViewerLink {
  /** Whether the bandwidth estimate carries the layer now. */
  carries(spatialLayer: number): Promise<boolean>;
  /** Ask the estimator for a probe at what the layer needs: the link may have recovered. */
  probe(spatialLayer: number): Promise<void>;
}

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
 * hold ends. A fall the estimate makes is held at the lowest layer too: on
 * the 450 kbit/s link it fell to the middle layer first, whose key frame did
 * not pass the full queue, and a second fall a second later showed the
 * lowest layer 2.0 s after the cut (bench adapt).
 *
 * A fall the estimate makes still starts mediasoup's 10 s refusal to climb;
 * under CPU load such falls come often (the estimate is noisy) and one just
 * before the link recovered kept the viewer low for 10 s more (bench adapt:
 * 19 s with the estimate at twice the layer's rate for 9 of them). The fall
 * may not even show in the consumer's layers: the estimate fell 31 ms before
 * a NACK step down, the consumer went straight to the lowest layer, and 782
 * kbit/s of estimate waited 6 s more for a 600 kbit/s layer. The climb
 * assist: after every unasked step down, once the hold is over, the governor asks
 * every second, until 20 s after the step, whether the estimate carries the
 * wanted layer; within mediasoup's 10 s, on two yeses in a row it pauses and
 * resumes the consumer, which is what resets mediasoup's refusal — the
 * consumer then takes the layers the estimate allows from the next key frame
 * (a gap of one key-frame request). While the estimate does not carry it,
 * it asks for a probe every 3 s (`ViewerLink.probe`): the estimate otherwise
 * grows from the layer the viewer is on by small steps, and libwebrtc probes
 * by itself only while the viewer receives far less than the estimate.
 */
export class LayerGovernor {
  readonly #consumer: types.Consumer;
  /** The viewer's preference, fitted to the producer (what the consumer gets when not held). */
  readonly #wanted: () => types.ConsumerLayers;
  readonly #options: LayerGovernorOptions;
  /** The viewer's transport, for the climb assist; none: no assist. */
  readonly #link: ViewerLink | undefined;
  #current: number | undefined;
  /** Until when mediasoup refuses to climb (performance.now()), after its estimate's last fall. */
  #noClimbUntil = Number.NEGATIVE_INFINITY;
  /** Until when the climb assist watches (performance.now()). */
  #watchUntil = Number.NEGATIVE_INFINITY;
  #assist: NodeJS.Timeout | undefined;
  #assistYeses = 0;
  #probedAt = Number.NEGATIVE_INFINITY;
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
  /** Climbs the assist released (consumer paused and resumed). */
  assists = 0;
  /** Probes the assist asked for. */
  probes = 0;

  constructor(
    consumer: types.Consumer,
    wanted: () => types.ConsumerLayers,
    options: LayerGovernorOptions = DEFAULT_LAYER_GOVERNOR,
    link?: ViewerLink,
  ) {
    this.#consumer = consumer;
    this.#wanted = wanted;
    this.#options = options;
    this.#link = options.climbAssist ? link : undefined;
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
    clearInterval(this.#assist);
    this.#assist = undefined;
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
    this.#hold(this.#options.stepTo === 'lowest' ? 0 : current - 1);
  }

  #onLayers(layers: types.ConsumerLayers | undefined): void {
    const previous = this.#current;
    this.#current = layers?.spatialLayer;
    if (!layers || previous === undefined || this.#held || this.#consumer.closed) return;
    // Only a fall the estimate made: below the viewer's wish, from a higher layer.
    if (layers.spatialLayer >= previous || layers.spatialLayer >= this.#wanted().spatialLayer) return;
    this.#hold(this.#options.stepTo === 'lowest' ? 0 : layers.spatialLayer);
  }

  /** Cap the consumer at `spatialLayer` for the current hold time (doubled after a failed climb). */
  #hold(spatialLayer: number): void {
    const now = performance.now();
    const { holdMs, maxHoldMs } = this.#options;
    this.#holdMs = now - this.#releasedAt < FAILED_CLIMB_MS ? Math.min(this.#holdMs * 2, maxHoldMs) : holdMs;
    this.#held = true;
    this.#watchClimb();
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

  /**
   * mediasoup may now refuse to climb for 10 s: its estimate may have fallen a moment before the governor
   * stepped (seen: 31 ms before a NACK step down, which the consumer's layers never show). Watch, after the
   * hold, whether the estimate would allow the climb sooner; and ask for probes while it does not.
   */
  #watchClimb(): void {
    const now = performance.now();
    this.#noClimbUntil = now + MEDIASOUP_NO_CLIMB_MS;
    this.#watchUntil = now + WATCH_MS;
    if (!this.#link || this.#assist) return;
    this.#assistYeses = 0;
    this.#assist = setInterval(() => void this.#assistClimb(), ASSIST_POLL_MS);
  }

  async #assistClimb(): Promise<void> {
    const stop = () => {
      clearInterval(this.#assist);
      this.#assist = undefined;
    };
    const wanted = this.#wanted().spatialLayer;
    const current = this.#current;
    const now = performance.now();
    // Paused by someone else (not resumed yet): never resume what the viewer did not ask for.
    if (this.#consumer.closed || this.#consumer.paused || now >= this.#watchUntil) return stop();
    // Held (the governor's own back-off), or between a pause and its layers: ask again later.
    if (this.#held || current === undefined) return;
    if (current >= wanted) return stop();
    const carried = await this.#link!.carries(wanted).catch(() => false);
    if (this.#held || this.#consumer.closed) return;
    if (!carried) {
      this.#assistYeses = 0;
      if (now - this.#probedAt < PROBE_EVERY_MS) return;
      this.#probedAt = now;
      this.probes++;
      await this.#link!.probe(wanted).catch(() => undefined);
      return;
    }
    // Carried: mediasoup climbs by itself unless it is refusing; two yeses in a row give it the chance.
    if (++this.#assistYeses < ASSIST_YESES || now >= this.#noClimbUntil) return;
    this.assists++;
    this.#noClimbUntil = Number.NEGATIVE_INFINITY;
    await this.#consumer.pause().catch(() => undefined);
    await this.#consumer.resume().catch(() => undefined);
  }
}
