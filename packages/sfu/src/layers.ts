import type { ConsumerInfo } from '@matchmesh/protocol';
import type { types } from 'mediasoup';

/** A layer's picture, lowest first, as the publisher declared it (rid restrictions): the stable producer's appData.layers. */
export interface LayerSize {
  width?: number;
  height?: number;
  fps?: number;
}

/**
 * The layers a simulcast or SVC consumer can forward, from the scalability
 * mode mediasoup gives its encoding ("S3T3": 3 spatial, 3 temporal; "L1T3":
 * one spatial layer in 3 temporal ones), and the producer's declared sizes.
 * Undefined for a consumer of one layer: nothing to choose.
 */
export function layersOf(consumer: types.Consumer, producer: types.Producer): ConsumerInfo['layers'] {
  if (consumer.type !== 'simulcast' && consumer.type !== 'svc') return undefined;
  const mode = consumer.rtpParameters.encodings?.[0]?.scalabilityMode ?? '';
  const m = /^[LS](\d+)T(\d+)/.exec(mode);
  const spatial = m ? Number(m[1]) : (producer.rtpParameters.encodings?.length ?? 1);
  const temporal = m ? Number(m[2]) : 1;
  const declared = (producer.appData as { layers?: LayerSize[] }).layers;
  return {
    spatial,
    temporal,
    ...(Array.isArray(declared) && declared.length === spatial ? { sizes: declared } : {}),
  };
}

/**
 * A viewer's choice: the highest spatial layer the consumer may forward
 * (clamped to what exists), every temporal layer of it; `null` = the top one,
 * so mediasoup's bandwidth estimate alone picks. mediasoup still forwards a
 * lower layer when the link cannot carry the preferred one.
 */
export async function preferLayers(
  consumer: types.Consumer,
  spatialLayer: number | null,
  info: ConsumerInfo['layers'],
): Promise<void> {
  if (!info) return;
  const top = info.spatial - 1;
  const spatial = spatialLayer === null ? top : Math.min(spatialLayer, top);
  await consumer.setPreferredLayers({ spatialLayer: spatial, temporalLayer: info.temporal - 1 });
}
