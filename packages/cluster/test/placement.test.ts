import type { NodeRecord } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { acceptsViewers, candidateRelays, guessRegion, loadRatio } from '../src/placement.ts';
import { nodeRecord } from './helpers.ts';

function node(id: string, region: string, viewers: number, capacity: number, extra: Partial<NodeRecord> = {}) {
  return nodeRecord({
    id,
    region,
    capacity: { viewers: capacity },
    load: { viewers, streams: 1, bitrateOut: 0, workerCpu: 0, egressBytes: 0, egressCostUsd: 0, streamViewers: {} },
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
