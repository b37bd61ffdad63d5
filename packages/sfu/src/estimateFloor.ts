import type { types } from 'mediasoup';

/**
 * How far above the lowest layer's bitrate the floor sits. mediasoup discounts
 * the estimate by half the receiver's loss before it picks a layer
 * (SimulcastProducerStreamManager::IncreaseLayer), so at 50 % loss the floor
 * still leaves the lowest layer's whole rate.
 */
const FLOOR_OVER_LOWEST = 1 / (1 - 0.5 * 0.5);

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
 * Returns the floor set (bit/s), or 0 when the lowest layer has not flowed yet.
 */
export async function floorEstimateAtLowestLayer(
  transport: types.Transport,
  producer: types.Producer,
  current: number,
): Promise<number> {
  if (transport.closed || producer.closed) return current;
  const ssrc = producer.rtpParameters.encodings?.[0]?.ssrc;
  const stats = await producer.getStats().catch(() => []);
  const lowest = stats.find((s) => s.ssrc === ssrc) ?? stats[0];
  const floor = Math.round((lowest?.bitrate ?? 0) * FLOOR_OVER_LOWEST);
  // Only up: a key-frame-less second of the layer must not lower it below what a key frame needs.
  if (floor <= current || transport.closed) return current;
  await transport.setMinOutgoingBitrate(floor).catch(() => undefined);
  return floor;
}
