import { Device, FakeHandler, type types as ms, testFakeParameters } from 'mediasoup-client';
import { describe, expect, it } from 'vitest';
import { askingNativeOnce } from '../src/warmDevice.ts';

/** FakeHandler's factory, counting the native-capability asks (each is a throwaway RTCPeerConnection in a browser). */
function countingFactory(failFirst = false) {
  const base = FakeHandler.createFactory(testFakeParameters);
  const asks: string[] = [];
  const factory: NonNullable<ms.DeviceOptions['handlerFactory']> = {
    ...base,
    getNativeRtpCapabilities: async (options) => {
      asks.push(options.direction);
      if (failFirst && asks.length === 1) throw new Error('no peer connection yet');
      return base.getNativeRtpCapabilities(options);
    },
  };
  return { factory, asks };
}

describe('askingNativeOnce', () => {
  it('asks each direction once for any number of Devices, and they load the same capabilities', async () => {
    const { factory, asks } = countingFactory();
    const shared = askingNativeOnce(factory);
    const router = testFakeParameters.generateRouterRtpCapabilities();
    const devices = await Promise.all(
      [1, 2, 3].map(async () => {
        const device = new Device({ handlerFactory: shared });
        await device.load({ routerRtpCapabilities: router });
        return device;
      }),
    );
    expect(asks.sort()).toEqual(['recvonly', 'sendonly']);
    const plain = new Device({ handlerFactory: factory });
    await plain.load({ routerRtpCapabilities: router });
    for (const device of devices) expect(device.recvRtpCapabilities).toEqual(plain.recvRtpCapabilities);
  });

  it('asks again after a failed ask instead of remembering the failure', async () => {
    const { factory, asks } = countingFactory(true);
    const shared = askingNativeOnce(factory);
    const router = testFakeParameters.generateRouterRtpCapabilities();
    await expect(new Device({ handlerFactory: shared }).load({ routerRtpCapabilities: router })).rejects.toThrow(
      'no peer connection yet',
    );
    const device = new Device({ handlerFactory: shared });
    await device.load({ routerRtpCapabilities: router });
    expect(device.loaded).toBe(true);
    expect(asks).toEqual(['recvonly', 'recvonly', 'sendonly']);
  });
});
