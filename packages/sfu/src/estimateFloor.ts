import type { types } from 'mediasoup';

/**
 * How far above the lowest layer's bitrate the floor sits. mediasoup discounts
 * the estimate by half the receiver's loss before it picks a layer
 * (SimulcastProducerStreamManager::IncreaseLayer), so at 50 % loss the floor
 * still leaves the lowest layer's whole rate.
 */
const FLOOR_OVER_LOWEST = 1 / (1 - 0.5 * 0.5);

/** One stats request per producer a second, however many of its viewers change layer at once. */
const STATS_TTL_MS = 1000;
const lowestRates = new WeakMap<types.Producer, { at: number; bitrate: Promise<number> }>();

/** The lowest layer's receive bitrate (bit/s) as the producer's stats give it; 0 before it flowed. */
function lowestLayerBitrate(producer: types.Producer): Promise<number> {
  const cached = lowestRates.get(producer);
  if (cached && performance.now() - cached.at < STATS_TTL_MS) return cached.bitrate;
  const ssrc = producer.rtpParameters.encodings?.[0]?.ssrc;
  const bitrate = producer
    .getStats()
    .then((stats) => (stats.find((s) => s.ssrc === ssrc) ?? stats[0])?.bitrate ?? 0)
    .catch(() => 0);
  lowestRates.set(producer, { at: performance.now(), bitrate });
  return bitrate;
}

/**
 * Keeps a viewer's bandwidth estimate at or above what the program's lowest
 * simulcast layer needs. A link that drops packets for a moment (a full
 * bottleneck queue while the estimate still allows the top layer) makes the
 * loss-based estimate collapse to far below the link's real rate; below the
 * lowest layer mediasoup forwards no video at all and the viewer freezes for
 * the seconds the estimate takes to recover (measured: 116 kbit/s on a 450
 * kbit/s link, 3.5 s without video). With the floor the viewer keeps the
 * lowest layer: a link that truly cannot carry it stalls the player, which
 * then leaves for HLS as it would without video.
 *
 * Returns the floor now in force (bit/s): the new one, or `current` when the
 * lowest layer's rate would not raise it (0 before the layer flowed).
 */
export async function floorEstimateAtLowestLayer(
  transport: types.Transport,
  producer: types.Producer,
  current: number,
): Promise<number> {
  if (transport.closed || producer.closed) return current;
  const floor = Math.round((await lowestLayerBitrate(producer)) * FLOOR_OVER_LOWEST);
  // Only up: a key-frame-less second of the layer must not lower it below what a key frame needs.
  if (floor <= current || transport.closed) return current;
  await transport.setMinOutgoingBitrate(floor).catch(() => undefined);
  return floor;
}

/**
 * How far the estimate must exceed a layer's measured rate before the climb
 * assist calls it carried: the program audio rides on the same estimate.
 * mediasoup itself climbs at the layer's rate (plus the audio consumer's
 * share); 1.25 was stricter than that and an estimate of 734 kbit/s waited
 * out mediasoup's 10 s for a 600 kbit/s layer (bench adapt).
 */
const CARRY_OVER_LAYER = 1.1;

/**
 * Whether the viewer transport's bandwidth estimate carries `spatialLayer` of
 * the producer now (the LayerGovernor's climb assist): the layer is flowing
 * (score > 0) and the estimate is at least its measured rate × 1.1. Any
 * unknown answers no.
 */
export async function estimateCarriesLayer(
  transport: types.WebRtcTransport,
  producer: types.Producer,
  spatialLayer: number,
): Promise<boolean> {
  const need = await layerNeed(producer, spatialLayer);
  if (need === 0 || transport.closed) return false;
  const estimate = await transport.getStats().then((s) => s[0]?.availableOutgoingBitrate ?? 0);
  return estimate >= need;
}

/** The estimate (bit/s) a layer needs: its measured rate × 1.1; 0 when unknown or not flowing. */
async function layerNeed(producer: types.Producer, spatialLayer: number): Promise<number> {
  const ssrc = producer.rtpParameters.encodings?.[spatialLayer]?.ssrc;
  if (ssrc === undefined || producer.closed) return 0;
  const layer = await producer.getStats().then((s) => s.find((x) => x.ssrc === ssrc));
  return layer && layer.score > 0 ? Math.round(layer.bitrate * CARRY_OVER_LAYER) : 0;
}

/**
 * Ask the viewer transport's estimator (libwebrtc's ProbeController inside
 * mediasoup) for probes at what `spatialLayer` needs: a change of the
 * transport's most allocated bitrate starts allocation probes (at it and
 * twice it), so the cap is set to the need for a moment and lifted again.
 * A link that recovered is found at once; one that did not costs two short
 * padding bursts.
 */
export async function probeForLayer(
  transport: types.WebRtcTransport,
  producer: types.Producer,
  spatialLayer: number,
): Promise<void> {
  const need = await layerNeed(producer, spatialLayer);
  if (need === 0 || transport.closed) return;
  // Below the estimate floor (setMinOutgoingBitrate) mediasoup refuses a cap: nothing to probe then.
  await transport.setMaxOutgoingBitrate(need).catch(() => undefined);
  if (!transport.closed) await transport.setMaxOutgoingBitrate(0).catch(() => undefined);
}
