import type { NodeRecord, OpsEvent } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { appendHistory, byRegion, mergeEvents, nodeHealth, nodeStreams, SPARK_POINTS } from '../src/ops/model.ts';

const NOW = 1_000_000;
const node = (
  id: string,
  region: string,
  load: Partial<NodeRecord['load']> = {},
  heartbeatAgoMs = 500,
): NodeRecord => ({
  id,
  region,
  roles: ['relay'],
  url: `http://${id}`,
  mediaAddress: '127.0.0.1',
  capacity: { viewers: 100 },
  load: {
    viewers: 0,
    leaving: 0,
    streams: 0,
    bitrateOut: 0,
    workerCpu: 0,
    egressBytes: 0,
    egressCostUsd: 0,
    streamViewers: {},
    workers: [],
    ...load,
  },
  draining: false,
  startedAt: 0,
  heartbeatAt: NOW - heartbeatAgoMs,
});

describe('ops page model', () => {
  it('colours a node by the worst of load, worker CPU and heartbeat age, and says why', () => {
    expect(nodeHealth(node('a', 'eu', { viewers: 10 }), NOW)).toEqual({ health: 'ok', why: 'healthy' });
    expect(nodeHealth(node('a', 'eu', { viewers: 75 }), NOW)).toEqual({ health: 'warn', why: '75 % of capacity' });
    expect(nodeHealth(node('a', 'eu', { viewers: 95 }), NOW).health).toBe('bad');
    const hotWorker = { index: 1, pid: 2, sources: 1, viewers: 5, capacity: 50, cpu: 0.93 };
    expect(nodeHealth(node('a', 'eu', { workerCpu: 0.2, workers: [hotWorker] }), NOW)).toEqual({
      health: 'bad',
      why: 'CPU 93 %',
    });
    expect(nodeHealth(node('a', 'eu', {}, 6_000), NOW)).toEqual({ health: 'warn', why: 'heartbeat 6 s ago' });
    expect(nodeHealth(node('a', 'eu', {}, 9_000), NOW).health).toBe('bad');
  });

  it('groups nodes by region with totals, WebRTC and HLS apart', () => {
    const regions = byRegion([
      node('b', 'eu', { viewers: 3, bitrateOut: 2e6, streamHlsPlayers: { m: 2 } }),
      node('a', 'eu', { viewers: 1, bitrateOut: 1e6 }),
      node('c', 'asia', { viewers: 5 }),
    ]);
    expect(regions.map((r) => [r.region, r.nodes.map((n) => n.id), r.viewers, r.hlsViewers, r.bitrateOut])).toEqual([
      ['asia', ['c'], 5, 0, 0],
      ['eu', ['a', 'b'], 4, 2, 3e6],
    ]);
    expect(nodeStreams(node('b', 'eu', { streamViewers: { m: 3 }, streamHlsPlayers: { m: 2, x: 1 } }))).toEqual([
      { stream: 'm', viewers: 3, hls: 2 },
      { stream: 'x', viewers: 0, hls: 1 },
    ]);
  });

  it('keeps a bounded history per series for the sparklines, dropping series that went away', () => {
    let h = new Map<string, number[]>();
    for (let i = 0; i < SPARK_POINTS + 5; i++) h = appendHistory(h, { a: i, ...(i < 3 ? { gone: i } : {}) });
    expect(h.get('a')).toHaveLength(SPARK_POINTS);
    expect(h.get('a')!.at(-1)).toBe(SPARK_POINTS + 4);
    expect(h.has('gone')).toBe(false);
  });

  it('merges the history and live events newest first, each once, by stream id order', () => {
    const e = (id: string): OpsEvent => ({ id, at: 0, kind: 'drain', detail: id });
    const merged = mergeEvents([e('5-0'), e('10-0')], [e('10-0'), e('10-1'), e('9-3')]);
    expect(merged.map((x) => x.id)).toEqual(['10-1', '10-0', '9-3', '5-0']);
    expect(mergeEvents([], [e('1-0'), e('2-0'), e('3-0')], 2).map((x) => x.id)).toEqual(['3-0', '2-0']);
  });
});
