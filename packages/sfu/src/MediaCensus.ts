import type { types } from 'mediasoup';

export const MEDIA_OBJECT_KINDS = [
  'router',
  'transport',
  'producer',
  'consumer',
  'dataProducer',
  'dataConsumer',
] as const;
export type MediaObjectKind = (typeof MEDIA_OBJECT_KINDS)[number];
export type MediaObjectCounts = Record<MediaObjectKind, number>;

interface Closable {
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Live count of every mediasoup object the node's workers hold, kept from
 * mediasoup's own `observer` events (new* on creation, 'close' on any close,
 * including the cascade when a worker dies). This is what leak checks and the
 * `mm_media_objects` gauge read: after viewers leave, every count must come
 * back to where it was.
 */
export class MediaCensus {
  readonly #live: MediaObjectCounts = {
    router: 0,
    transport: 0,
    producer: 0,
    consumer: 0,
    dataProducer: 0,
    dataConsumer: 0,
  };

  watchWorker(worker: types.Worker): void {
    worker.observer.on('newrouter', (router) => {
      this.#track('router', router.observer);
      router.observer.on('newtransport', (transport) => {
        this.#track('transport', transport.observer);
        transport.observer.on('newproducer', (p) => this.#track('producer', p.observer));
        transport.observer.on('newconsumer', (c) => this.#track('consumer', c.observer));
        transport.observer.on('newdataproducer', (p) => this.#track('dataProducer', p.observer));
        transport.observer.on('newdataconsumer', (c) => this.#track('dataConsumer', c.observer));
      });
    });
  }

  snapshot(): MediaObjectCounts {
    return { ...this.#live };
  }

  #track(kind: MediaObjectKind, observer: Closable): void {
    this.#live[kind]++;
    observer.once('close', () => {
      this.#live[kind]--;
    });
  }
}
