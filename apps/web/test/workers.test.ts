import type { NodeRecord } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { workerCells } from '../src/ops/workers.ts';

const node = (workers: NodeRecord['load']['workers']): NodeRecord => ({
  id: 'relay-eu-1',
  region: 'eu',
  roles: ['relay'],
  url: 'http://127.0.0.1:8080',
  mediaAddress: '127.0.0.1',
  capacity: { viewers: 300, viewersPerWorker: 150 },
  load: {
    viewers: 0,
    leaving: 0,
    streams: 0,
    bitrateOut: 0,
    workerCpu: 0,
    egressBytes: 0,
    egressCostUsd: 0,
    streamViewers: {},
    workers,
  },
  draining: false,
  startedAt: 0,
  heartbeatAt: 0,
});

describe('ops page: worker cells', () => {
  it('one cell per worker, by index, with viewers/capacity and CPU; full and saturated flagged', () => {
    const cells = workerCells(
      node([
        { index: 1, pid: 101, sources: 0, viewers: 150, capacity: 150, cpu: 0.62 },
        { index: 0, pid: 100, sources: 1, viewers: 12, capacity: 150, cpu: 0.91 },
      ]),
    );
    expect(cells).toEqual([
      { index: 0, label: 'w0 12/150 · 91 %', full: false, hot: true },
      { index: 1, label: 'w1 150/150 · 62 %', full: true, hot: false },
    ]);
  });

  it('nothing for a node older than per-worker load', () => {
    expect(workerCells(node([]))).toEqual([]);
  });
});
