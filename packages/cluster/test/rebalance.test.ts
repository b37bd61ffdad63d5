import type { NodeRecord } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { rebalancePlan } from '../src/rebalance.ts';
import { nodeRecord } from './helpers.ts';

function relay(
  id: string,
  viewers: number,
  extra: Omit<Partial<NodeRecord>, 'capacity'> & { capacity?: number } = {},
): NodeRecord {
  const { capacity = 10, ...rest } = extra;
  const base = nodeRecord();
  return nodeRecord({
    id,
    region: 'eu',
    capacity: { viewers: capacity },
    load: { ...base.load, viewers },
    ...rest,
  });
}

describe('rebalancePlan: moves that even out a region', () => {
  it('a relay that joins takes its share from the relays above theirs', () => {
    // 9 viewers on one relay, two new ones: 3 each.
    expect(rebalancePlan([relay('a', 9), relay('b', 0), relay('c', 0)], { region: 'eu' })).toEqual([
      { from: 'a', to: 'b', count: 3 },
      { from: 'a', to: 'c', count: 3 },
    ]);
    // Two loaded relays and one new one: each gives down to its share (rounded up).
    expect(rebalancePlan([relay('a', 8), relay('b', 7), relay('c', 0)], { region: 'eu' })).toEqual([
      { from: 'a', to: 'c', count: 3 },
      { from: 'b', to: 'c', count: 2 },
    ]);
  });

  it('shares follow capacity, and a taker never gets more than its free slots', () => {
    // 12 viewers, capacities 20 and 10: shares 8 and 4.
    expect(rebalancePlan([relay('big', 0, { capacity: 20 }), relay('small', 12)], { region: 'eu' })).toEqual([
      { from: 'small', to: 'big', count: 8 },
    ]);
    // A taker whose worker is CPU-saturated has no room, whatever its count says.
    const busy = relay('b', 0, {
      load: { ...relay('b', 0).load, workers: [{ index: 0, pid: 1, sources: 0, viewers: 0, capacity: 10, cpu: 0.9 }] },
    });
    expect(rebalancePlan([relay('a', 9), busy], { region: 'eu' })).toEqual([]);
  });

  it('only within the region: other regions, ingests and draining relays take no part', () => {
    const nodes = [
      relay('a', 9),
      relay('asia-1', 0, { region: 'asia' }),
      relay('ingest', 0, { roles: ['ingest'] }),
      relay('leaving', 0, { draining: true }),
    ];
    expect(rebalancePlan(nodes, { region: 'eu' })).toEqual([]);
    const plan = rebalancePlan([...nodes, relay('b', 0)], { region: 'eu' });
    expect(plan).toEqual([{ from: 'a', to: 'b', count: 4 }]);
    expect(rebalancePlan([...nodes, relay('b', 0)], { region: 'asia' })).toEqual([]);
  });

  it('a small unevenness stays (tolerance), and a balanced region plans nothing', () => {
    // 6 and 4 of 10 each: share 5, 6 is within 10 % of capacity above it.
    expect(rebalancePlan([relay('a', 6), relay('b', 4)], { region: 'eu' })).toEqual([]);
    expect(rebalancePlan([relay('a', 6), relay('b', 4)], { region: 'eu', tolerance: 0 })).toEqual([
      { from: 'a', to: 'b', count: 1 },
    ]);
    expect(rebalancePlan([relay('a', 5), relay('b', 5)], { region: 'eu', tolerance: 0 })).toEqual([]);
  });

  it('never undoes itself: after the plan is carried out, the next plan is empty (no viewer moves twice)', () => {
    let nodes = [relay('a', 10, { capacity: 12 }), relay('b', 7, { capacity: 12 }), relay('c', 0, { capacity: 12 })];
    for (let round = 0; round < 3; round++) {
      const plan = rebalancePlan(nodes, { region: 'eu', tolerance: 0 });
      if (round > 0) expect(plan).toEqual([]);
      const delta = new Map<string, number>();
      for (const m of plan) {
        delta.set(m.from, (delta.get(m.from) ?? 0) - m.count);
        delta.set(m.to, (delta.get(m.to) ?? 0) + m.count);
      }
      nodes = nodes.map((n) => relay(n.id, n.load.viewers + (delta.get(n.id) ?? 0), { capacity: 12 }));
    }
    expect(nodes.map((n) => n.load.viewers).reduce((a, b) => a + b)).toBe(17);
    expect(
      Math.max(...nodes.map((n) => n.load.viewers)) - Math.min(...nodes.map((n) => n.load.viewers)),
    ).toBeLessThanOrEqual(1);
  });

  it('the same snapshot gives the same plan on every node, whatever the order it was listed in', () => {
    const nodes = [relay('a', 9), relay('b', 9), relay('c', 0), relay('d', 0)];
    const plan = rebalancePlan(nodes, { region: 'eu' });
    expect(rebalancePlan([...nodes].reverse(), { region: 'eu' })).toEqual(plan);
    // No taker is promised more than its share by two givers.
    const into = new Map<string, number>();
    for (const m of plan) into.set(m.to, (into.get(m.to) ?? 0) + m.count);
    for (const n of into.values()) expect(n).toBeLessThanOrEqual(5);
  });
});
