import { Device, detectDeviceAsync, type types as ms } from 'mediasoup-client';
import { Chrome74 } from 'mediasoup-client/handlers/Chrome74';
import { Chrome111 } from 'mediasoup-client/handlers/Chrome111';
import { Firefox120 } from 'mediasoup-client/handlers/Firefox120';
import { ReactNative106 } from 'mediasoup-client/handlers/ReactNative106';
import { Safari12 } from 'mediasoup-client/handlers/Safari12';
import { markStep } from './timing.ts';

/*
 * Loading a mediasoup-client Device asks the browser for its native RTP capabilities: a throwaway
 * RTCPeerConnection and an offer, once for receiving and once more for sending, one after the other.
 * The first RTCPeerConnection of a page also starts the browser's WebRTC machinery (tens of ms, more on a
 * busy machine), and a one-round-trip join cannot leave before the Device's capabilities are known (issue
 * 20). Those capabilities depend on the browser, not on the router: they are asked once per page, as early
 * as the page likes (warmUpDevice() at the watch page's start), both directions at once, and every later
 * Device (each session: a join, a drain move, a failover) loads from them without a peer connection.
 */

type HandlerFactory = NonNullable<ms.DeviceOptions['handlerFactory']>;
type NativeCaps = ReturnType<HandlerFactory['getNativeRtpCapabilities']>;

const FACTORIES = { Chrome111, Chrome74, Firefox120, Safari12, ReactNative106 } as const;

let shared: Promise<HandlerFactory | null> | undefined;

/**
 * `inner` with its native capabilities asked once per direction, the answer shared by every Device that
 * loads with it (Device.load() clones what it gets). A failed ask is asked again by the next load.
 */
export function askingNativeOnce(inner: HandlerFactory): HandlerFactory {
  const asked = new Map<string, NativeCaps>();
  return {
    name: inner.name,
    factory: inner.factory,
    getNativeRtpCapabilities: (options) => {
      let caps = asked.get(options.direction);
      if (!caps) {
        caps = inner.getNativeRtpCapabilities(options);
        asked.set(options.direction, caps);
        caps.catch(() => asked.delete(options.direction));
      }
      return caps;
    },
  };
}

/** The browser's handler, asking its native capabilities once (null: no known handler). */
function sharedFactory(): Promise<HandlerFactory | null> {
  shared ??= (async () => {
    const name = await detectDeviceAsync();
    return name ? askingNativeOnce(FACTORIES[name].createFactory({})) : null;
  })();
  shared.catch(() => {
    shared = undefined;
  });
  return shared;
}

/**
 * Starts asking the browser for its native RTP capabilities (both directions at once) so that a later
 * Device loads without waiting on a peer connection. Idempotent, never throws; a no-op outside a browser.
 */
export function warmUpDevice(): void {
  if (typeof globalThis.RTCPeerConnection !== 'function') return;
  markStep('device-warm-up');
  sharedFactory()
    .then((factory) =>
      factory
        ? Promise.all([
            factory.getNativeRtpCapabilities({ direction: 'recvonly' }),
            factory.getNativeRtpCapabilities({ direction: 'sendonly' }),
          ]).then(() => markStep('device-warmed-up'))
        : undefined,
    )
    .catch(() => {}); // the Device's own load asks again and reports the error
}

/**
 * A Device loaded with a router's capabilities. `options` with a handler factory (tests' FakeHandler) or
 * a handler name: as given; otherwise the page's shared handler, whose native capabilities are asked once.
 */
export async function loadDevice(
  routerRtpCapabilities: ms.RtpCapabilities,
  options?: ms.DeviceOptions,
): Promise<Device> {
  const custom =
    options?.handlerFactory !== undefined ||
    options?.handlerName !== undefined ||
    options?.forcedRtpExtensions !== undefined;
  const handlerFactory = custom ? undefined : await sharedFactory().catch(() => null);
  const device = handlerFactory
    ? new Device({ ...options, handlerFactory })
    : options?.handlerFactory
      ? new Device(options)
      : await Device.factory(options);
  await device.load({ routerRtpCapabilities });
  return device;
}
