import type { NodeRecord, RelayAlternative } from '@matchmesh/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type MovableViewer, Rebalancer, type RebalancerConfig } from '../src/wiring/Rebalancer.ts';
import { nodeRecord } from './records.ts';

class Viewer implements MovableViewer {
  closed = false;
  told: RelayAlternative[] = [];
  constructor(readonly joinedAt: number) {}
  notifyMove(target: RelayAlternative): void {
    this.told.push(target);
  }
}

/** Relay "a" of region eu with `viewers` here, beside the listed others; a clock the test moves. */
function rig(viewerCount: number, config: Partial<RebalancerConfig> = {}) {
  // Records are stamped with the real clock; the test's runs ahead of them (their heartbeats are older).
  const clock = { now: Date.now() + 1000 };
  const viewers = new Set(Array.from({ length: viewerCount }, (_, i) => new Viewer(clock.now - 60_000 + i)));
  let others: NodeRecord[] = [nodeRecord({ id: 'b', viewers: 0, capacity: { viewers: 20 } })];
  const self = (): NodeRecord => nodeRecord({ id: 'a', viewers: viewers.size, capacity: { viewers: 20 } });
  const rebalancer = new Rebalancer(
    {
      nodeId: 'a',
      region: 'eu',
      list: async () => [nodeRecord({ id: 'a', viewers: 0, capacity: { viewers: 20 } }), ...others],
      self,
      viewers: () => viewers,
      log: pino({ level: 'silent' }),
      now: () => clock.now,
    },
    { movesPerSecond: 2, holdMs: 10_000, tolerance: 0.1, intervalMs: 500, ...config },
  );
  const told = () => [...viewers].filter((v) => v.told.length > 0);
  /** The told viewers reach `to`: they leave here, and `to`'s next heartbeat counts them. */
  const land = (to: string) => {
    for (const v of told()) viewers.delete(v);
    const arrived = 20 - viewers.size;
    others = others.map((n) =>
      n.id === to ? nodeRecord({ id: to, viewers: arrived, capacity: { viewers: 20 }, heartbeatAt: clock.now + 1 }) : n,
    );
  };
  const setOthers = (n: NodeRecord[]): void => {
    others = n;
  };
  return { clock, viewers, rebalancer, told, land, setOthers };
}

describe("Rebalancer: carries out this relay's share of the plan", () => {
  it('moves at most MM_REBALANCE_MOVES_PER_SECOND, to the named relay of the region', async () => {
    const r = rig(20);
    r.clock.now += 1000; // one second of tokens: 2 moves
    expect(await r.rebalancer.round()).toBe(2);
    r.clock.now += 500;
    expect(await r.rebalancer.round()).toBe(1);
    // A burst never exceeds one second's worth, however long the pause.
    r.clock.now += 5000;
    expect(await r.rebalancer.round()).toBe(2);
    expect(r.told().length).toBe(5);
    for (const v of r.told()) expect(v.told).toEqual([{ nodeId: 'b', url: 'http://b.test', region: 'eu' }]);
  });

  it('counts its moves in flight: no more than the plan, and never the same viewer twice', async () => {
    // 20 viewers here, none on b: the plan is 10 moves. Plenty of tokens.
    const r = rig(20, { movesPerSecond: 100 });
    r.clock.now += 1000;
    expect(await r.rebalancer.round()).toBe(10);
    // Still here (moving) and b's record is stale: nothing more is told.
    r.clock.now += 500;
    expect(await r.rebalancer.round()).toBe(0);
    // They left, b's heartbeat has not counted them yet: still nothing.
    for (const v of r.told()) r.viewers.delete(v);
    r.clock.now += 500;
    expect(await r.rebalancer.round()).toBe(0);
    r.land('b');
    r.clock.now += 500;
    expect(await r.rebalancer.round()).toBe(0);
    expect(r.rebalancer.inFlight).toBe(0);
    expect([...r.viewers].every((v) => v.told.length === 0)).toBe(true);
  });

  it('never moves a viewer who joined within the hold window (one just moved here)', async () => {
    const r = rig(0, { movesPerSecond: 100 });
    for (let i = 0; i < 10; i++) r.viewers.add(new Viewer(r.clock.now - 1000));
    r.clock.now += 1000;
    expect(await r.rebalancer.round()).toBe(0);
    r.clock.now += 10_000;
    expect(await r.rebalancer.round()).toBe(5);
  });

  it('does nothing while the region is even, while draining, or when turned off', async () => {
    const even = rig(10, { movesPerSecond: 100 });
    even.setOthers([nodeRecord({ id: 'b', viewers: 10, capacity: { viewers: 20 } })]);
    even.clock.now += 1000;
    expect(await even.rebalancer.round()).toBe(0);
    const other = rig(20, { movesPerSecond: 100 });
    other.setOthers([nodeRecord({ id: 'b', region: 'asia', viewers: 0, capacity: { viewers: 20 } })]);
    other.clock.now += 1000;
    expect(await other.rebalancer.round()).toBe(0);
    const off = rig(20, { movesPerSecond: 0 });
    off.clock.now += 1000;
    expect(await off.rebalancer.round()).toBe(0);
  });
});
