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
  paused = false;
  /** pause/resume calls, in order (the climb assist). */
  readonly pauses: string[] = [];
  async pause(): Promise<void> {
    this.paused = true;
    this.pauses.push('pause');
  }
  async resume(): Promise<void> {
    this.paused = false;
    this.pauses.push('resume');
  }
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

  it("with stepTo 'below' (the behaviour before) a burst steps one layer down, an estimate's fall holds where it fell", () => {
    const before = { holdMs: 2000, maxHoldMs: 8000, stepTo: 'below', climbAssist: false } as const;
    const { consumer } = governed(before);
    consumer.nacks(10);
    expect(consumer.preferred).toEqual([{ spatialLayer: 1, temporalLayer: 0 }]);
    const fell = governed(before).consumer;
    fell.emit('layerschange', { spatialLayer: 1, temporalLayer: 0 });
    expect(fell.preferred).toEqual([{ spatialLayer: 1, temporalLayer: 0 }]);
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

  it("an estimate's fall is held too (at the lowest layer), and a fall soon after the hold ended holds twice as long", () => {
    vi.useFakeTimers();
    const { consumer, governor } = governed();
    consumer.emit('layerschange', { spatialLayer: 1, temporalLayer: 0 });
    expect(consumer.preferred).toEqual([{ spatialLayer: 0, temporalLayer: 0 }]);
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

  describe('climb assist', () => {
    /** A governor whose link's `carries` answers from `carries()` (layers asked for and probes recorded). */
    const assisted = (carries: () => boolean) => {
      const consumer = new FakeConsumer();
      const asked: number[] = [];
      const probed: number[] = [];
      const governor = new LayerGovernor(consumer as unknown as types.Consumer, () => TOP, undefined, {
        carries: async (l) => {
          asked.push(l);
          return carries();
        },
        probe: async (l) => {
          probed.push(l);
        },
      });
      consumer.emit('layerschange', { spatialLayer: 2, temporalLayer: 0 });
      return { consumer, governor, asked, probed };
    };

    it("after the estimate's fall, once the hold is over and the estimate carries the wanted layer twice, pause + resume", async () => {
      vi.useFakeTimers();
      const { consumer, governor, asked } = assisted(() => true);
      consumer.emit('layerschange', { spatialLayer: 1, temporalLayer: 0 });
      expect(governor.held).toBe(true);
      await vi.advanceTimersByTimeAsync(2000);
      // Held until now: not asked yet.
      expect(asked).toEqual([]);
      await vi.advanceTimersByTimeAsync(1000);
      expect(consumer.pauses).toEqual([]);
      await vi.advanceTimersByTimeAsync(1000);
      expect(asked).toEqual([2, 2]);
      expect(consumer.pauses).toEqual(['pause', 'resume']);
      expect(governor.assists).toBe(1);
      // Done for this fall: nothing more.
      await vi.advanceTimersByTimeAsync(10_000);
      expect(consumer.pauses).toHaveLength(2);
    });

    it('an estimate that does not carry the layer, or a climb mediasoup made itself, leaves the consumer alone', async () => {
      vi.useFakeTimers();
      let yes = false;
      const { consumer } = assisted(() => {
        yes = !yes;
        return yes;
      });
      consumer.emit('layerschange', { spatialLayer: 1, temporalLayer: 0 });
      await vi.advanceTimersByTimeAsync(12_000);
      expect(consumer.pauses).toEqual([]);
      const climbed = assisted(() => false);
      climbed.consumer.emit('layerschange', { spatialLayer: 1, temporalLayer: 0 });
      await vi.advanceTimersByTimeAsync(2500);
      climbed.consumer.emit('layerschange', { spatialLayer: 2, temporalLayer: 0 });
      await vi.advanceTimersByTimeAsync(10_000);
      expect(climbed.asked.length).toBeLessThanOrEqual(1);
      expect(climbed.consumer.pauses).toEqual([]);
    });

    it('after a NACK step down too (the estimate may have fallen a moment before); probes while not carried', async () => {
      vi.useFakeTimers();
      const { consumer, asked } = assisted(() => true);
      consumer.nacks(10);
      consumer.emit('layerschange', { spatialLayer: 0, temporalLayer: 0 });
      await vi.advanceTimersByTimeAsync(4000);
      expect(asked).toEqual([2, 2]);
      expect(consumer.pauses).toEqual(['pause', 'resume']);
      const late = assisted(() => false);
      late.consumer.nacks(10);
      late.consumer.emit('layerschange', { spatialLayer: 0, temporalLayer: 0 });
      await vi.advanceTimersByTimeAsync(30_000);
      // Asked each second after the hold (2 s) until 20 s after the step: at 3 s .. 19 s; a probe at most
      // every 3 s while not carried (3, 6, ... 18 s); never a pause.
      expect(late.asked).toHaveLength(17);
      expect(late.probed).toEqual([2, 2, 2, 2, 2, 2]);
      expect(late.consumer.pauses).toEqual([]);
    });

    it('off (climbAssist false): never asks', async () => {
      vi.useFakeTimers();
      const consumer = new FakeConsumer();
      const asked: number[] = [];
      new LayerGovernor(
        consumer as unknown as types.Consumer,
        () => TOP,
        { holdMs: 2000, maxHoldMs: 8000, stepTo: 'below', climbAssist: false },
        {
          carries: async (l) => {
            asked.push(l);
            return true;
          },
          probe: async () => undefined,
        },
      );
      consumer.emit('layerschange', { spatialLayer: 2, temporalLayer: 0 });
      consumer.emit('layerschange', { spatialLayer: 1, temporalLayer: 0 });
      await vi.advanceTimersByTimeAsync(12_000);
      expect(asked).toEqual([]);
      expect(consumer.pauses).toEqual([]);
    });
  });
});
