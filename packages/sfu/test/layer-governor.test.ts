import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LayerGovernor, type LayerGovernorOptions } from '../src/LayerGovernor.ts';

/**
 * A stand-in for a mediasoup simulcast consumer (unit test only): the
 * governor listens to 'layerschange' and 'trace', and answers with
 * setPreferredLayers. The real consumer is exercised by the e2e constrained
 * link (test/e2e/simulcast.test.ts).
 */
class FakeConsumer extends EventEmitter {
  closed = false;
  readonly observer = new EventEmitter();
  readonly preferred: types.ConsumerLayers[] = [];
  readonly traced: string[][] = [];
  async setPreferredLayers(layers: types.ConsumerLayers): Promise<void> {
    this.preferred.push(layers);
  }
  async enableTraceEvent(types: string[]): Promise<void> {
    this.traced.push(types);
  }
  nacks(n: number): void {
    for (let i = 0; i < n; i++) this.emit('trace', { type: 'nack', direction: 'in', timestamp: 0, info: {} });
  }
}

const TOP: types.ConsumerLayers = { spatialLayer: 2, temporalLayer: 0 };

function governed(options?: LayerGovernorOptions): { consumer: FakeConsumer; governor: LayerGovernor } {
  const consumer = new FakeConsumer();
  const governor = new LayerGovernor(consumer as unknown as types.Consumer, () => TOP, options);
  consumer.emit('layerschange', { spatialLayer: 2, temporalLayer: 0 });
  return { consumer, governor };
}

describe('LayerGovernor', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("asks for the consumer's NACK trace", () => {
    const { consumer } = governed();
    expect(consumer.traced).toEqual([['nack']]);
  });

  it('a burst of NACKs steps the viewer to the lowest layer at once and holds it; the hold ends by itself', () => {
    vi.useFakeTimers();
    const { consumer, governor } = governed();
    consumer.nacks(9);
    expect(consumer.preferred).toEqual([]);
    consumer.nacks(1);
    expect(consumer.preferred).toEqual([{ spatialLayer: 0, temporalLayer: 0 }]);
    expect(governor.held).toBe(true);
    expect(governor.nackStepDowns).toBe(1);
    // Held: more NACKs while the step down takes effect do not step again.
    consumer.nacks(20);
    expect(consumer.preferred).toHaveLength(1);
    vi.advanceTimersByTime(2000);
    expect(governor.held).toBe(false);
    expect(consumer.preferred.at(-1)).toEqual(TOP);
  });

  it("with nackStepTo 'below' (the behaviour before) a burst steps one layer down", () => {
    const { consumer } = governed({ holdMs: 2000, maxHoldMs: 8000, nackStepTo: 'below' });
    consumer.nacks(10);
    expect(consumer.preferred).toEqual([{ spatialLayer: 1, temporalLayer: 0 }]);
  });

  it('NACKs spread over more than a second (a lossy link that carries the layer) step nothing', () => {
    vi.useFakeTimers();
    const { consumer } = governed();
    for (let i = 0; i < 30; i++) {
      consumer.nacks(1);
      vi.advanceTimersByTime(150);
    }
    expect(consumer.preferred).toEqual([]);
  });

  it('the lowest layer has nowhere to go: NACKs there step nothing', () => {
    const consumer = new FakeConsumer();
    new LayerGovernor(consumer as unknown as types.Consumer, () => TOP);
    consumer.emit('layerschange', { spatialLayer: 0, temporalLayer: 0 });
    consumer.nacks(50);
    expect(consumer.preferred).toEqual([]);
  });

  it("an estimate's fall is held too, and a fall soon after the hold ended holds twice as long", () => {
    vi.useFakeTimers();
    const { consumer, governor } = governed();
    consumer.emit('layerschange', { spatialLayer: 1, temporalLayer: 0 });
    expect(consumer.preferred).toEqual([{ spatialLayer: 1, temporalLayer: 0 }]);
    vi.advanceTimersByTime(2000);
    expect(governor.held).toBe(false);
    consumer.emit('layerschange', { spatialLayer: 2, temporalLayer: 0 });
    consumer.emit('layerschange', { spatialLayer: 1, temporalLayer: 0 });
    expect(governor.held).toBe(true);
    vi.advanceTimersByTime(2000);
    expect(governor.held).toBe(true);
    vi.advanceTimersByTime(2000);
    expect(governor.held).toBe(false);
  });

  it('the hold stops growing at maxHoldMs however many climbs fail (a recovered link is climbed soon)', () => {
    vi.useFakeTimers();
    const { consumer, governor } = governed();
    const holdAfterFall = (): number => {
      consumer.emit('layerschange', { spatialLayer: 2, temporalLayer: 0 });
      consumer.emit('layerschange', { spatialLayer: 1, temporalLayer: 0 });
      expect(governor.held).toBe(true);
      let ms = 0;
      while (governor.held) {
        vi.advanceTimersByTime(500);
        ms += 500;
      }
      return ms;
    };
    expect([holdAfterFall(), holdAfterFall(), holdAfterFall(), holdAfterFall()]).toEqual([2000, 4000, 4000, 4000]);
  });
});
