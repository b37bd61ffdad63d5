import { layerLabel, type Player, type Quality, type VideoLayers } from '@matchmesh/client';
import { type RefObject, useEffect, useState } from 'react';

const STORAGE_KEY = 'matchmesh.quality';

function remembered(): Quality {
  const v = globalThis.localStorage?.getItem(STORAGE_KEY);
  if (v === null || v === undefined || v === 'auto') return 'auto';
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : 'auto';
}

/**
 * The quality menu of a simulcast program on WebRTC: Auto (the node's
 * bandwidth estimate, never above what the video element shows) or one
 * layer, labelled by height and frame rate. The choice is remembered across
 * visits. Hidden while the program has one layer (or plays over HLS, where
 * hls.js picks the rendition).
 */
export function QualityMenu({ player, video }: { player: Player | null; video: RefObject<HTMLVideoElement | null> }) {
  const [layers, setLayers] = useState<VideoLayers | null>(null);
  const [quality, setQuality] = useState<Quality>('auto');

  useEffect(() => {
    if (!player) return;
    const q = remembered();
    setQuality(q);
    player.setQuality(q);
    setLayers(player.videoLayers);
    player.on('layers', setLayers);
    return () => {
      player.off('layers', setLayers);
    };
  }, [player]);

  // 'auto' follows the element's size: a bigger window may take a bigger layer.
  useEffect(() => {
    const el = video.current;
    if (!player || !el || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      if (player.quality === 'auto') player.setQuality('auto');
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [player, video]);

  if (!player || !layers) return null;
  const choose = (value: string) => {
    const q: Quality = value === 'auto' ? 'auto' : Number(value);
    setQuality(q);
    player.setQuality(q);
    globalThis.localStorage?.setItem(STORAGE_KEY, String(q));
  };
  const top = layers.spatialLayers - 1;
  const options = Array.from({ length: layers.spatialLayers }, (_, i) => top - i);
  return (
    <select
      className="quality"
      data-testid="quality"
      aria-label="Quality"
      value={String(quality)}
      onChange={(e) => choose(e.target.value)}
    >
      <option value="auto">
        Auto{layers.current ? ` (${layerLabel(layers, layers.current.spatialLayer ?? 0)})` : ''}
      </option>
      {options.map((i) => (
        <option key={i} value={String(i)}>
          {layerLabel(layers, i)}
        </option>
      ))}
    </select>
  );
}
