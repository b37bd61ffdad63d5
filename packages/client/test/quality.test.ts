import type { VideoLayersInfo } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { layerLabel, maxLayerFor } from '../src/quality.ts';

const ladder: VideoLayersInfo = {
  spatialLayers: 3,
  temporalLayers: 1,
  preferred: { spatialLayer: 2, temporalLayer: 0 },
  current: null,
  layers: [
    { spatialLayer: 0, width: 640, height: 360, fps: 30 },
    { spatialLayer: 1, width: 1280, height: 720, fps: 60 },
    { spatialLayer: 2, width: 1920, height: 1080, fps: 60 },
  ],
};
/** Layers whose pictures the node has not seen yet. */
const unmeasured: VideoLayersInfo = {
  ...ladder,
  spatialLayers: 2,
  layers: [{ spatialLayer: 0 }, { spatialLayer: 1 }],
};

describe('quality choice', () => {
  it("'auto' allows the smallest layer at least as tall as the picture is shown", () => {
    expect(maxLayerFor('auto', ladder, 300)).toBe(0);
    expect(maxLayerFor('auto', ladder, 360)).toBe(0);
    expect(maxLayerFor('auto', ladder, 361)).toBe(1);
    expect(maxLayerFor('auto', ladder, 800)).toBe(2);
    // Taller than the top layer: the top layer.
    expect(maxLayerFor('auto', ladder, 2160)).toBe(2);
  });

  it("'auto' sets no cap when the sizes or the element's height are unknown", () => {
    expect(maxLayerFor('auto', unmeasured, 720)).toBeNull();
    expect(maxLayerFor('auto', ladder, null)).toBeNull();
    expect(maxLayerFor('auto', ladder, 0)).toBeNull();
  });

  it('a chosen layer is clamped to the layers there are', () => {
    expect(maxLayerFor(1, ladder, 100)).toBe(1);
    expect(maxLayerFor(7, ladder, 100)).toBe(2);
    expect(maxLayerFor(-1, ladder, 100)).toBe(0);
  });

  it('labels layers by height and frame rate', () => {
    expect(layerLabel(ladder, 2)).toBe('1080p60');
    expect(layerLabel(unmeasured, 1)).toBe('layer 2');
  });
});
