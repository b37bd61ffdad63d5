import type { VideoLayersInfo } from '@matchmesh/protocol';

/** The viewer's quality choice: automatic, or a spatial layer (0 = lowest). */
export type Quality = 'auto' | number;

/**
 * The highest layer a choice allows. 'auto' allows the smallest layer at least
 * as tall as the picture is shown (`shownHeight`, in device pixels): a phone
 * showing the video 360 px tall never pulls 1080p however fast its link. The
 * node's bandwidth estimate still steps below it when the link cannot carry
 * it. Null: no cap (layer sizes unknown, or nothing shown yet).
 */
export function maxLayerFor(quality: Quality, available: VideoLayersInfo, shownHeight: number | null): number | null {
  const top = available.spatialLayers - 1;
  if (quality !== 'auto') return Math.max(0, Math.min(quality, top));
  const heights = available.layers.map((l) => l.height);
  if (heights.length === 0 || heights.some((h) => h === undefined) || !shownHeight || shownHeight <= 0) return null;
  const fit = heights.findIndex((h) => h! >= shownHeight);
  return fit < 0 ? top : fit;
}

/** A menu label: "1080p60", "360p", else "layer 2". */
export function layerLabel(available: VideoLayersInfo, layer: number): string {
  const size = available.layers[layer];
  if (!size?.height) return `layer ${layer + 1}`;
  return `${size.height}p${size.fps ? Math.round(size.fps) : ''}`;
}
