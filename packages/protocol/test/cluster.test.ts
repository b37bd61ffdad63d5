import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  MAX_WORKERS,
  NodeRecord,
  type NodeRecordInput,
  RelayAlternative,
  SignalingError,
  SignalingErrorCode,
  WorkerLoad,
} from '../src/index.ts';

/*
 * Per-worker load in the node record, and the 'full' signaling error: what a
 * new node writes parses, and so does what an older node (or an older
 * client's view of the error) carries — rolling upgrades mix both.
 */

/** A record as a node from before per-worker load wrote it. */
const olderRecord = {
  id: 'relay-eu-1',
  region: 'eu',
  roles: ['relay' as const],
  url: 'http://10.0.0.1:8080',
  mediaAddress: '10.0.0.1',
  capacity: { viewers: 300 },
  load: {
    viewers: 12,
    streams: 1,
    bitrateOut: 1e6,
    workerCpu: 0.1,
    egressBytes: 0,
    egressCostUsd: 0,
    streamViewers: {},
  },
  draining: false,
  startedAt: 1,
  heartbeatAt: 2,
};

const workers = [
  { index: 0, pid: 4100, sources: 1, viewers: 150, capacity: 150, cpu: 0.71 },
  { index: 1, pid: 4101, sources: 0, viewers: 3, capacity: 150, cpu: 1.02 },
];

describe('NodeRecord per-worker load', () => {
  it("an older node's record parses: no workers, no per-worker capacity", () => {
    const parsed = NodeRecord.parse(olderRecord);
    expect(parsed.load.workers).toEqual([]);
    expect(parsed.capacity.viewersPerWorker).toBeUndefined();
  });

  it("a new node's record keeps its workers and per-worker capacity", () => {
    const parsed = NodeRecord.parse({
      ...olderRecord,
      capacity: { viewers: 300, viewersPerWorker: 150 },
      load: { ...olderRecord.load, workers },
    });
    expect(parsed.load.workers).toEqual(workers);
    expect(parsed.capacity.viewersPerWorker).toBe(150);
  });

  it('the worker list is bounded and each entry is checked', () => {
    const many = Array.from({ length: MAX_WORKERS + 1 }, (_v, index) => ({ index, viewers: 0, capacity: 1, cpu: 0 }));
    expect(NodeRecord.safeParse({ ...olderRecord, load: { ...olderRecord.load, workers: many } }).success).toBe(false);
    expect(WorkerLoad.safeParse({ index: 0, viewers: -1, capacity: 150, cpu: 0 }).success).toBe(false);
    expect(WorkerLoad.safeParse({ index: 0, viewers: 1.5, capacity: 150, cpu: 0 }).success).toBe(false);
    expect(WorkerLoad.safeParse({ index: 0, viewers: 1, capacity: 150, cpu: -0.1 }).success).toBe(false);
    expect(WorkerLoad.safeParse({ index: MAX_WORKERS, viewers: 1, capacity: 150, cpu: 0 }).success).toBe(false);
  });

  it('types: the parsed record always has workers; a node may write one without', () => {
    expectTypeOf<NodeRecord['load']['workers']>().toEqualTypeOf<WorkerLoad[]>();
    expectTypeOf<NodeRecord['capacity']['viewersPerWorker']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<typeof olderRecord>().toExtend<NodeRecordInput>();
    expectTypeOf<WorkerLoad>().toEqualTypeOf<{
      index: number;
      pid: number;
      sources: number;
      viewers: number;
      capacity: number;
      cpu: number;
    }>();
  });
});

describe("signaling error 'full'", () => {
  const alternative = { nodeId: 'relay-eu-2', url: 'http://10.0.0.2:8080', region: 'eu' };

  it('carries an optional alternative relay', () => {
    expect(SignalingError.parse({ code: 'full', message: 'every worker is full', alternative })).toEqual({
      code: 'full',
      message: 'every worker is full',
      alternative,
    });
    expect(SignalingError.parse({ code: 'full', message: 'no relay of the region has room' })).toEqual({
      code: 'full',
      message: 'no relay of the region has room',
    });
  });

  it('the alternative is checked', () => {
    expect(RelayAlternative.safeParse({ ...alternative, url: 'not a url' }).success).toBe(false);
    expect(RelayAlternative.safeParse({ ...alternative, region: 'EU' }).success).toBe(false);
    expect(RelayAlternative.safeParse({ ...alternative, nodeId: '' }).success).toBe(false);
  });

  it('an error from an older node (no alternative) still parses', () => {
    expect(SignalingError.parse({ code: 'unavailable', message: 'redis down' })).toEqual({
      code: 'unavailable',
      message: 'redis down',
    });
  });

  it("types: 'full' is a code, the alternative is typed", () => {
    expectTypeOf<'full'>().toExtend<SignalingErrorCode>();
    expectTypeOf<SignalingError['alternative']>().toEqualTypeOf<RelayAlternative | undefined>();
    expectTypeOf<RelayAlternative>().toEqualTypeOf<{ nodeId: string; url: string; region: string }>();
    expect(SignalingErrorCode.options).toContain('full');
  });
});
