import type { types } from 'mediasoup';
import { estimateCarriesLayer, floorEstimateAtLowestLayer, probeForLayer } from './estimateFloor.ts';
import { LayerGovernor, type LayerGovernorOptions } from './LayerGovernor.ts';
import { fitLayers, invalidLayers, layersOf, PROGRAM_VIDEO_PRIORITY, type VideoLayers } from './layers.ts';
import { PeerMediaError } from './PeerMediaError.ts';
import type { StreamOutlet } from './StreamOutlet.ts';
import type { LayerInfo } from './stable/types.ts';

/** What PeerVideoLayers needs of the peer that owns it. */
export type PeerVideoLayersOwner = {
  readonly outlet: StreamOutlet;
  readonly governor: LayerGovernorOptions | undefined;
  readonly closed: boolean;
  /** The program video's layers changed (PeerMedia's 'layerschange'). */
  layersChanged(layers: VideoLayers): void;
};

/**
 * One peer's program video with layers (simulcast): the viewer's layer
 * choice, the consumer forwarding it and the LayerGovernor holding it below
 * a layer the viewer's link just failed to carry. PeerMedia consumes; this
 * decides which layer its program video consumer forwards.
 */
export class PeerVideoLayers {
  readonly #owner: PeerVideoLayersOwner;
  /** The consumer of the program video when it has layers, and its producer. */
  #video: { consumer: types.Consumer; producer: types.Producer } | undefined;
  /** The viewer's layer choice (kept for the next program video consumer); undefined: the highest. */
  #wantedLayers: types.ConsumerLayers | undefined;
  /** Holds the program video below a layer its link just failed to carry (see LayerGovernor). */
  #governor: LayerGovernor | undefined;

  constructor(owner: PeerVideoLayersOwner) {
    this.#owner = owner;
  }

  /** The best layer the viewer's bandwidth estimate allows, up to its choice (the highest unless it chose). */
  fit(producer: types.Producer): types.ConsumerLayers {
    return fitLayers(producer, this.#wantedLayers);
  }

  /**
   * The program video's layers (count, the viewer's preference, what flows
   * now), or undefined when the peer consumes no program video with layers.
   */
  get layers(): VideoLayers | undefined {
    const v = this.#video;
    return v && !v.consumer.closed ? layersOf(v.consumer, v.producer, this.#layerInfo()) : undefined;
  }

  /**
   * Prefer a spatial (and temporal) layer of the program video: the consumer
   * forwards it when the viewer's bandwidth estimate allows, else the best
   * one below. The highest layer is "auto". The choice is kept for the
   * program's next video consumer (a new program after a long outage).
   */
  async setPreferredLayers(spatialLayer: number, temporalLayer?: number): Promise<VideoLayers> {
    const v = this.#video;
    if (!v || v.consumer.closed) throw new PeerMediaError('not_found', 'no program video with layers is consumed');
    const invalid = invalidLayers(v.producer, spatialLayer, temporalLayer);
    if (invalid) throw new PeerMediaError('bad_request', invalid);
    this.#wantedLayers = temporalLayer === undefined ? { spatialLayer } : { spatialLayer, temporalLayer };
    this.#governor?.reset();
    await v.consumer.setPreferredLayers(fitLayers(v.producer, this.#wantedLayers));
    const layers = layersOf(v.consumer, v.producer, this.#layerInfo());
    this.#owner.layersChanged(layers);
    return layers;
  }

  /** The program's description of its layers (this node's stable video track). */
  #layerInfo(): LayerInfo[] {
    return this.#owner.outlet.source.program.track('video')?.layers.map((l) => l.info) ?? [];
  }

  /** `consumer` is the program video now: govern its layers and report their changes. */
  async watch(consumer: types.Consumer, producer: types.Producer, transport: types.WebRtcTransport): Promise<void> {
    this.#video = { consumer, producer };
    this.#governor?.close();
    this.#governor = new LayerGovernor(consumer, () => fitLayers(producer, this.#wantedLayers), this.#owner.governor, {
      carries: (spatialLayer) => estimateCarriesLayer(transport, producer, spatialLayer),
      probe: (spatialLayer) => probeForLayer(transport, producer, spatialLayer),
    });
    let floor = await floorEstimateAtLowestLayer(transport, producer, 0);
    consumer.on('layerschange', () => {
      // The lowest layer's rate is known once it flowed; a change of layer is a cheap moment to look again.
      void floorEstimateAtLowestLayer(transport, producer, floor).then((f) => {
        floor = f;
      });
      if (!this.#owner.closed && this.#video?.consumer === consumer)
        this.#owner.layersChanged(layersOf(consumer, producer, this.#layerInfo()));
    });
    consumer.observer.once('close', () => {
      if (this.#video?.consumer === consumer) this.#video = undefined;
    });
    // Ahead of any other simulcast consumer of the transport when bandwidth is shared.
    await consumer.setPriority(PROGRAM_VIDEO_PRIORITY);
  }
}
