import type { NodeRecord } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import {
  acceptsViewers,
  alternativeRelay,
  candidateRelays,
  compareByLoad,
  freeViewerSlots,
  guessRegion,
  loadRatio,
  relayAlternative,
  WORKER_CPU_SATURATED,
  workerHasRoom,
} from '../src/placement.ts';
import { nodeRecord } from './helpers.ts';

function node(id: string, region: string, viewers: number, capacity: number, extra: Partial<NodeRecord> = {}) {
  return nodeRecord({
    id,
    region,
    capacity: { viewers: capacity },
    load: {
      viewers,
      leaving: 0,
      streams: 1,
      bitrateOut: 0,
      workerCpu: 0,
      egressBytes: 0,
      egressCostUsd: 0,
      streamViewers: {},
      workers: [],
    },
    ...extra,
  });
}

const nodes = [
  node('eu-1', 'eu', 50, 100), // 0.5
  node('eu-2', 'eu', 30, 100), // 0.3
  node('eu-3', 'eu', 10, 100, { draining: true }),
  node('eu-ingest', 'eu', 0, 100, { roles: ['ingest'] }),
  node('asia-1', 'asia', 100, 100), // full
  node('asia-2', 'asia', 90, 100), // 0.9
  node('us-1', 'us', 5, 0), // zero capacity
];

describe('placement', () => {
  it('loadRatio and acceptsViewers', () => {
    expect(loadRatio(nodes[0]!)).toBe(0.5);
    expect(loadRatio(nodes[6]!)).toBe(Number.POSITIVE_INFINITY);
    expect(nodes.filter(acceptsViewers).map((n) => n.id)).toEqual(['eu-1', 'eu-2', 'asia-2']);
  });

  it('candidateRelays compares ratios, not absolute counts, and breaks ties deterministically', () => {
    const mixed = [node('small', 'eu', 5, 10), node('big', 'eu', 100, 1000)];
    expect(candidateRelays(mixed)[0]?.nodes.map((n) => n.id)).toEqual(['big', 'small']);
    const tied = [node('b', 'eu', 10, 100), node('a', 'eu', 10, 100)];
    expect(candidateRelays(tied)[0]?.nodes.map((n) => n.id)).toEqual(['a', 'b']);
  });

  it('candidateRelays: per region, least loaded first, capped, regions without capacity left out', () => {
    const c = candidateRelays(nodes);
    expect(c.map((r) => r.region)).toEqual(['asia', 'eu']);
    expect(c[1]?.nodes.map((n) => n.id)).toEqual(['eu-2', 'eu-1']);
    expect(candidateRelays(nodes, { perRegion: 1 })[1]?.nodes.map((n) => n.id)).toEqual(['eu-2']);
  });

  it('guessRegion: first usable hint, then own region, then most free capacity', () => {
    expect(guessRegion(nodes, { hints: ['asia'] })).toBe('asia');
    expect(guessRegion(nodes, { hints: [null, 'us', 'mars', 'asia'], self: 'eu' })).toBe('asia');
    expect(guessRegion(nodes, { hints: ['us'], self: 'eu' })).toBe('eu');
    expect(guessRegion(nodes, { self: 'us' })).toBe('eu'); // eu has 120 free slots, asia 10
    expect(guessRegion(nodes)).toBe('eu');
    expect(guessRegion([node('x', 'eu', 1, 1)])).toBeNull();
  });
});

/** A node reporting its workers: [viewers, cpu] per worker, `perWorker` viewers each. */
function withWorkers(
  id: string,
  region: string,
  workers: [viewers: number, cpu: number][],
  perWorker = 100,
  extra: Partial<NodeRecord> = {},
) {
  const viewers = workers.reduce((t, [v]) => t + v, 0);
  const base = node(id, region, viewers, perWorker * workers.length, extra);
  return {
    ...base,
    capacity: { ...base.capacity, viewersPerWorker: perWorker },
    load: {
      ...base.load,
      workers: workers.map(([v, cpu], index) => ({
        index,
        pid: 100 + index,
        sources: 0,
        viewers: v,
        capacity: perWorker,
        cpu,
      })),
    },
  };
}

describe('placement with per-worker load', () => {
  it('a worker has room under its capacity and below CPU saturation', () => {
    expect(workerHasRoom({ index: 0, pid: 1, sources: 0, viewers: 99, capacity: 100, cpu: 0.5 })).toBe(true);
    expect(workerHasRoom({ index: 0, pid: 1, sources: 0, viewers: 100, capacity: 100, cpu: 0.1 })).toBe(false);
    expect(workerHasRoom({ index: 0, pid: 1, sources: 0, viewers: 10, capacity: 100, cpu: WORKER_CPU_SATURATED })).toBe(
      false,
    );
    expect(workerHasRoom({ index: 0, pid: 1, sources: 0, viewers: 0, capacity: 0, cpu: 0 })).toBe(false);
  });

  it('a node accepts viewers while some worker has room', () => {
    expect(
      acceptsViewers(
        withWorkers('a', 'eu', [
          [100, 0.6],
          [20, 0.1],
        ]),
      ),
    ).toBe(true);
    // One saturated worker (CPU) does not close the node...
    expect(
      acceptsViewers(
        withWorkers('b', 'eu', [
          [10, 0.99],
          [20, 0.1],
        ]),
      ),
    ).toBe(true);
    // ...every worker full or saturated does, though the node total is under its capacity.
    const full = withWorkers('c', 'eu', [
      [100, 0.5],
      [30, 0.9],
    ]);
    expect(full.load.viewers).toBeLessThan(full.capacity.viewers);
    expect(acceptsViewers(full)).toBe(false);
  });

  it("the node's own capacity stays a ceiling, draining and roles still count", () => {
    const capped = withWorkers('a', 'eu', [
      [50, 0.1],
      [50, 0.1],
    ]);
    expect(acceptsViewers({ ...capped, capacity: { ...capped.capacity, viewers: 100 } })).toBe(false);
    expect(acceptsViewers(withWorkers('b', 'eu', [[0, 0]], 100, { draining: true }))).toBe(false);
    expect(acceptsViewers(withWorkers('c', 'eu', [[0, 0]], 100, { roles: ['ingest'] }))).toBe(false);
  });

  it('an older record (no workers) falls back to the node totals', () => {
    expect(acceptsViewers(node('old', 'eu', 99, 100))).toBe(true);
    expect(acceptsViewers(node('old', 'eu', 100, 100))).toBe(false);
    expect(loadRatio(node('old', 'eu', 25, 100))).toBe(0.25);
    expect(freeViewerSlots(node('old', 'eu', 25, 100))).toBe(75);
  });

  it('loadRatio: viewers over capacity when CPU is light, CPU when it binds, full workers count as 1', () => {
    expect(
      loadRatio(
        withWorkers('a', 'eu', [
          [50, 0.2],
          [30, 0.2],
        ]),
      ),
    ).toBeCloseTo(0.4);
    // Worker 0 burns its core with few viewers: it counts as its CPU says.
    expect(
      loadRatio(
        withWorkers('b', 'eu', [
          [10, WORKER_CPU_SATURATED / 2],
          [10, 0],
        ]),
      ),
    ).toBeCloseTo(0.3);
    // A saturated worker weighs 1, not more.
    expect(
      loadRatio(
        withWorkers('c', 'eu', [
          [10, 1.2],
          [0, 0],
        ]),
      ),
    ).toBe(0.5);
    // The node's total stays a floor.
    expect(
      loadRatio(
        withWorkers('d', 'eu', [
          [150, 0.5],
          [0, 0],
        ]),
      ),
    ).toBe(0.75);
    // Half-full workers rank before three full ones and an empty one (the least-loaded
    // worker's room would rank them the other way round).
    const even = withWorkers('z-even', 'eu', [
      [50, 0.3],
      [50, 0.3],
      [50, 0.3],
      [50, 0.3],
    ]);
    const lopsided = withWorkers('a-lopsided', 'eu', [
      [100, 0.6],
      [100, 0.6],
      [100, 0.6],
      [0, 0],
    ]);
    expect(loadRatio(even)).toBe(0.5);
    expect(loadRatio(lopsided)).toBe(0.75);
    expect(compareByLoad(even, lopsided)).toBeLessThan(0);
  });

  it('loadRatio < 1 exactly when the node accepts viewers (clients read load < 1 as "may join")', () => {
    const cases = [
      withWorkers('a', 'eu', [
        [100, 0.6],
        [20, 0.1],
      ]),
      withWorkers('b', 'eu', [
        [10, 0.99],
        [20, 0.1],
      ]),
      withWorkers('c', 'eu', [
        [100, 0.5],
        [30, 0.9],
      ]),
      withWorkers('d', 'eu', [
        [120, 1.1],
        [100, 0.2],
      ]),
      withWorkers('e', 'eu', [[0, 0]], 0),
      {
        ...withWorkers('f', 'eu', [
          [50, 0.1],
          [50, 0.1],
        ]),
        capacity: { viewers: 100, viewersPerWorker: 100 },
      },
      node('g', 'eu', 99, 100),
      node('h', 'eu', 100, 100),
    ];
    for (const n of cases) expect(loadRatio(n) < 1, n.id).toBe(acceptsViewers(n));
  });

  it('free slots: only workers with room, never above the node capacity', () => {
    expect(
      freeViewerSlots(
        withWorkers('a', 'eu', [
          [100, 0.6],
          [20, 0.1],
        ]),
      ),
    ).toBe(80);
    expect(
      freeViewerSlots(
        withWorkers('b', 'eu', [
          [10, 0.99],
          [20, 0.1],
        ]),
      ),
    ).toBe(80);
    const capped = withWorkers('c', 'eu', [
      [0, 0],
      [0, 0],
    ]);
    expect(freeViewerSlots({ ...capped, capacity: { ...capped.capacity, viewers: 50 } })).toBe(50);
  });

  it('candidateRelays and guessRegion use the per-worker figures', () => {
    const eu = [
      withWorkers('eu-hot', 'eu', [
        [10, 0.99],
        [100, 0.5],
      ]),
      withWorkers('eu-ok', 'eu', [
        [90, 0.5],
        [90, 0.5],
      ]),
    ];
    const asia = [
      withWorkers('asia-1', 'asia', [
        [0, 0],
        [0, 0],
      ]),
    ];
    // eu-hot's node total (110 of 200) is lower, but neither of its workers has room.
    expect(candidateRelays([...eu, ...asia]).map((r) => [r.region, r.nodes.map((n) => n.id)])).toEqual([
      ['asia', ['asia-1']],
      ['eu', ['eu-ok']],
    ]);
    expect(guessRegion(eu)).toBe('eu');
    expect(guessRegion([...eu, ...asia])).toBe('asia'); // 200 free slots against 20
  });

  describe('alternativeRelay', () => {
    const mesh = [
      withWorkers('eu-1', 'eu', [
        [100, 0.7],
        [100, 0.7],
      ]), // full: the refusing node
      withWorkers('eu-2', 'eu', [
        [80, 0.5],
        [60, 0.4],
      ]), // 0.7
      withWorkers('eu-3', 'eu', [
        [20, 0.2],
        [30, 0.2],
      ]), // 0.25
      withWorkers(
        'eu-4',
        'eu',
        [
          [0, 0],
          [0, 0],
        ],
        100,
        { draining: true },
      ),
      withWorkers('eu-ingest', 'eu', [[0, 0]], 100, { roles: ['ingest'] }),
      withWorkers('asia-1', 'asia', [
        [0, 0],
        [0, 0],
      ]),
      node('eu-old', 'eu', 40, 100), // older record: 0.4 by its totals
    ];

    it('the least loaded relay of the region that accepts viewers, never the refusing node', () => {
      expect(alternativeRelay(mesh, { region: 'eu', excludeNodeId: 'eu-1' })?.id).toBe('eu-3');
      expect(alternativeRelay(mesh, { region: 'eu', excludeNodeId: 'eu-3' })?.id).toBe('eu-old');
      expect(alternativeRelay(mesh, { region: 'asia', excludeNodeId: 'eu-1' })?.id).toBe('asia-1');
    });

    it('null when no other relay of the region has room', () => {
      expect(alternativeRelay(mesh, { region: 'asia', excludeNodeId: 'asia-1' })).toBeNull();
      expect(alternativeRelay(mesh, { region: 'us' })).toBeNull();
      expect(alternativeRelay([mesh[0]!, mesh[3]!, mesh[4]!], { region: 'eu', excludeNodeId: 'x' })).toBeNull();
    });

    it('without excludeNodeId any relay of the region may be named; the wire shape is relayAlternative', () => {
      const best = alternativeRelay(mesh, { region: 'eu' });
      expect(best?.id).toBe('eu-3');
      expect(relayAlternative(best!)).toEqual({ nodeId: 'eu-3', url: best!.url, region: 'eu' });
    });
  });
});
