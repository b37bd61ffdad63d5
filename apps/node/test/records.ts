import { NodeRecord, type NodeRecordInput } from '@matchmesh/protocol';

/** A valid relay record (defaults filled by the schema) with overrides; `viewers` sets load.viewers. */
export function nodeRecord(overrides: Partial<NodeRecordInput> & { viewers?: number } = {}): NodeRecord {
  const { viewers = 0, ...rest } = overrides;
  const now = Date.now();
  return NodeRecord.parse({
    id: 'node-1',
    region: 'eu',
    roles: ['relay'],
    url: `http://${overrides.id ?? 'node-1'}.test`,
    mediaAddress: '127.0.0.1',
    capacity: { viewers: 10 },
    load: { viewers, streams: 1, bitrateOut: 0, workerCpu: 0 },
    draining: false,
    startedAt: now,
    heartbeatAt: now,
    ...rest,
  });
}
