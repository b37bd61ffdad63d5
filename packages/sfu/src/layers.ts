import type { types } from 'mediasoup';
import type { LayerInfo } from './stable/types.ts';

/**
 * Simulcast layers as a viewer sees them: how many the program carries, which
 * the viewer prefers, which its consumer forwards now. mediasoup's simulcast
 * consumer forwards the best layer at or below the preferred one that the
 * viewer's bandwidth estimate allows (stepping down under congestion and back
 * up as it recovers), so "auto" is simply the highest preferred layer.
 */
export interface VideoLayers {
  /** Spatial layers of the program (lowest is 0); 1 without simulcast. */
  spatialLayers: number;
  /** Temporal layers in each spatial layer. */
  temporalLayers: number;
  /** The viewer's preference (the highest unless it chose one). */
  preferred: types.ConsumerLayers;
  /** What the consumer sends now; null while it sends nothing (paused, starting, no layer flowing). */
  current: types.ConsumerLayers | null;
  /**
   * Each spatial layer, lowest first, as this node's stable program sees it:
   * width/height from its last key frame (H.264 SPS, VP8), fps from its
   * timestamps — absent until seen (e.g. a layer that never flowed).
   */
  layers: LayerInfo[];
}

/** Priority of a viewer's program video among the simulcast consumers of its transport (mediasoup: 1–255). */
export const PROGRAM_VIDEO_PRIORITY = 2;

/** Spatial and temporal layer counts of a producer (from its encodings and their scalability mode). */
export function layerCounts(producer: types.Producer): { spatial: number; temporal: number } {
  const encodings = producer.consumableRtpParameters.encodings ?? [];
  const mode = /^[LS](\d+)T(\d+)/.exec(encodings[0]?.scalabilityMode ?? '');
  const temporal = mode ? Number(mode[2]) : 1;
  return { spatial: Math.max(1, encodings.length), temporal: Math.max(1, temporal) };
}

/** Does consuming this producer make a consumer with layers to choose from? */
export function hasLayers(producer: types.Producer): boolean {
  const { spatial, temporal } = layerCounts(producer);
  return producer.kind === 'video' && (spatial > 1 || temporal > 1);
}

/** The highest layers of a producer: what a consumer prefers unless told otherwise. */
export function highestLayers(producer: types.Producer): types.ConsumerLayers {
  const { spatial, temporal } = layerCounts(producer);
  return { spatialLayer: spatial - 1, temporalLayer: temporal - 1 };
}

/**
 * A wanted preference fitted to the producer: clamped to its layers, the
 * highest when none is wanted.
 */
export function fitLayers(producer: types.Producer, wanted?: types.ConsumerLayers): types.ConsumerLayers {
  const top = highestLayers(producer);
  if (!wanted) return top;
  return {
    spatialLayer: Math.min(Math.max(0, wanted.spatialLayer), top.spatialLayer),
    temporalLayer: Math.min(Math.max(0, wanted.temporalLayer ?? top.temporalLayer!), top.temporalLayer!),
  };
}

/**
 * Check a requested preference against the producer's layers; returns the
 * error message, or undefined when it is valid.
 */
export function invalidLayers(producer: types.Producer, spatial: number, temporal?: number): string | undefined {
  const { spatial: s, temporal: t } = layerCounts(producer);
  if (!Number.isInteger(spatial) || spatial < 0 || spatial >= s) {
    return `spatial layer must be an integer from 0 to ${s - 1} (the program has ${s})`;
  }
  if (temporal !== undefined && (!Number.isInteger(temporal) || temporal < 0 || temporal >= t)) {
    return `temporal layer must be an integer from 0 to ${t - 1} (the program has ${t})`;
  }
  return undefined;
}

/** The layers of a viewer's consumer of `producer`; `info`: the program's description of each layer. */
export function layersOf(consumer: types.Consumer, producer: types.Producer, info: LayerInfo[] = []): VideoLayers {
  const { spatial, temporal } = layerCounts(producer);
  const current = consumer.currentLayers;
  return {
    spatialLayers: spatial,
    temporalLayers: temporal,
    preferred: consumer.preferredLayers ?? highestLayers(producer),
    current: current ? { spatialLayer: current.spatialLayer, temporalLayer: current.temporalLayer ?? 0 } : null,
    layers: Array.from({ length: spatial }, (_, i) => info.find((l) => l.spatialLayer === i) ?? { spatialLayer: i }),
  };
}
