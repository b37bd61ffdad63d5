import type { NodeRecord } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { scaleAdvice } from '../src/scale.ts';
import { nodeRecord } from './helpers.ts';

function relay(id: string, region: string, viewers: number, capacity = 400, extra: Partial<NodeRecord> = {}) {
  return nodeRecord({
    id,
    region,
    roles: ['relay'],
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

describe('scaleAdvice: relays per region for the audience now', () => {
  it('adds relays under a ramp, with the headroom kept spare', () => {
    // 700 viewers × 1.25 = 875 → 3 relays of 400.
    const [eu] = scaleAdvice([relay('eu-1', 'eu', 400), relay('eu-2', 'eu', 300)]);
    expect(eu).toMatchObject({ region: 'eu', relays: 2, viewers: 700, viewersPerRelay: 400, needed: 3, change: 1 });
    expect(eu!.note).toBe('add 1 relay');
  });

  it('says which can go after the match, never below one relay', () => {
    const [asia] = scaleAdvice([relay('a-1', 'asia', 10), relay('a-2', 'asia', 5), relay('a-3', 'asia', 0)]);
    expect(asia).toMatchObject({ relays: 3, needed: 1, change: -2, note: '2 relays can be drained and removed' });
    const [empty] = scaleAdvice([relay('a-1', 'asia', 0)]);
    expect(empty).toMatchObject({ needed: 1, change: 0, note: 'enough relays' });
  });

  it('counts draining relays apart (their viewers still need a seat), ingests not at all', () => {
    const advice = scaleAdvice(
      [
        relay('eu-1', 'eu', 300),
        relay('eu-2', 'eu', 200, 400, { draining: true }),
        relay('in-1', 'eu', 0, 400, { roles: ['ingest'] }),
      ],
      0,
    );
    expect(advice).toEqual([
      expect.objectContaining({ region: 'eu', relays: 1, draining: 1, viewers: 500, needed: 2, change: 1 }),
    ]);
  });

  it('a viewer in the middle of a move is counted at its target only', () => {
    // Make-before-break: the viewer is a session on eu-1 (told to move, leaving) and on eu-3 at once.
    // 5 viewers × 1.5 / 3 = 2.5 → 3 relays; counted twice (6 × 1.5 / 3 = 3) would still be 3, and
    // two moves at once (7 × 1.5 / 3 = 3.5) would ask for a fourth.
    const eu1 = relay('eu-1', 'eu', 3, 3);
    eu1.load.leaving = 2;
    const [eu] = scaleAdvice([eu1, relay('eu-2', 'eu', 2, 3), relay('eu-3', 'eu', 2, 3)], 0.5);
    expect(eu).toMatchObject({ relays: 3, viewers: 5, needed: 3, change: 0 });
    // A relay never counts below zero, whatever a stale `leaving` says.
    const odd = relay('eu-1', 'eu', 1, 3);
    odd.load.leaving = 4;
    expect(scaleAdvice([odd])[0]).toMatchObject({ viewers: 0, needed: 1 });
  });

  it('a region whose relays are all draining has no capacity to measure by: it says so', () => {
    const [r] = scaleAdvice([relay('us-1', 'us', 50, 400, { draining: true })]);
    expect(r).toMatchObject({ relays: 0, draining: 1, viewersPerRelay: null, needed: 1, change: 1 });
    expect(r!.note).toMatch(/no serving relay/);
  });

  it('a region with no relay (only an ingest, or asked for by name) says so', () => {
    const advice = scaleAdvice([relay('eu-1', 'eu', 10), relay('in-us', 'us', 0, 400, { roles: ['ingest'] })], 0.25, [
      'asia',
    ]);
    expect(advice.map((r) => r.region)).toEqual(['asia', 'eu', 'us']);
    for (const r of [advice[0]!, advice[2]!]) {
      expect(r).toMatchObject({ relays: 0, draining: 0, viewers: 0, viewersPerRelay: null, needed: 0, change: 0 });
      expect(r.note).toMatch(/no relay in this region/);
    }
  });

  it('sorts regions by name; headroom changes the figure', () => {
    const nodes = [relay('z-1', 'zz', 390), relay('a-1', 'aa', 390)];
    expect(scaleAdvice(nodes).map((r) => r.region)).toEqual(['aa', 'zz']);
    expect(scaleAdvice(nodes, 0)[0]!.needed).toBe(1);
    expect(scaleAdvice(nodes, 0.25)[0]!.needed).toBe(2);
  });
});
