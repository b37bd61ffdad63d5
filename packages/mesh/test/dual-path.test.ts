import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DUAL_PATH_GROUP, pickSecondUpstream } from '../src/dual-path.ts';
import { FakeCluster, type FakeInbound, type TestNode } from './fakes.ts';

/*
 * The dual path of a critical region, on the in-memory fakes: which pipes its
 * holder opens (both into one merged source), from whom, that every other
 * region's link still carries one copy, and how the second path is kept.
 */

let cluster: FakeCluster;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
  cluster = new FakeCluster();
});
afterEach(() => {
  cluster.close();
  vi.useRealTimers();
});

const tick = () => vi.advanceTimersByTimeAsync(1000);
const QUIET = { heartbeatMs: 3_600_000 };
const open = (n: TestNode, stream: string): FakeInbound[] =>
  n.media.inbound.filter((p) => p.stream.stream === stream && !p.closed);

function rig() {
  const ingest = cluster.node('ingest-1', 'eu', QUIET);
  ingest.media.publish('final');
  cluster.directory.publish('final', 'ingest-1', null);
  const eu = cluster.node('relay-eu', 'eu', QUIET);
  const us = cluster.node('relay-us', 'us', QUIET);
  const asia = cluster.node('relay-asia', 'asia', { ...QUIET, dualPath: true });
  asia.viewers.set('final', 1);
  return { ingest, eu, us, asia };
}

describe('pickSecondUpstream', () => {
  const peers = [
    { id: 'ingest-1', region: 'eu', roles: ['ingest'] },
    { id: 'a-us', region: 'us', roles: ['relay'] },
    { id: 'b-eu', region: 'eu', roles: ['relay'] },
    { id: 'c-eu', region: 'eu', roles: ['relay'] },
    { id: 'd-asia', region: 'asia', roles: ['relay'] },
    { id: 'e-eu', region: 'eu', roles: ['relay'], draining: true },
  ];
  const base = { self: 'd-asia', region: 'asia', exclude: ['ingest-1'], holders: new Set<string>() };

  it("prefers a relay of the first upstream's region, its region's holder first, never ours or a draining one", () => {
    expect(pickSecondUpstream(peers, { ...base, nearRegion: 'eu' })).toBe('b-eu');
    expect(pickSecondUpstream(peers, { ...base, nearRegion: 'eu', holders: new Set(['c-eu', 'a-us']) })).toBe('c-eu');
    expect(pickSecondUpstream(peers, { ...base, holders: new Set(['a-us']) })).toBe('a-us');
    expect(pickSecondUpstream(peers, { ...base, nearRegion: 'eu', exclude: ['ingest-1', 'b-eu', 'c-eu'] })).toBe(
      'a-us',
    );
    expect(pickSecondUpstream(peers, { ...base, exclude: ['ingest-1', 'a-us', 'b-eu', 'c-eu'] })).toBeUndefined();
  });
});

describe('the dual path at a critical region’s holder', () => {
  it('pulls the copy from the ingest and a second from a relay of the ingest’s region, both into one merged source', async () => {
    const { ingest, eu, us, asia } = rig();
    await asia.mesh.resolveStream('final');
    await vi.waitFor(() => expect(open(asia, 'final')).toHaveLength(2));
    const [first, second] = open(asia, 'final');
    expect(first!.upstream).toBe('ingest-1');
    expect(first!.merge).toEqual({ merge: DUAL_PATH_GROUP, secondary: false });
    expect(second!.upstream).toBe('relay-eu');
    expect(second!.merge).toEqual({ merge: DUAL_PATH_GROUP, secondary: true });
    // The eu relay took eu's copy to serve it: still one copy on each of the ingest's links.
    expect(ingest.media.outbound.map((p) => p.peer.nodeId).sort()).toEqual(['relay-asia', 'relay-eu']);
    expect(eu.media.outbound.map((p) => p.peer.nodeId)).toEqual(['relay-asia']);
    expect(us.media.outbound).toHaveLength(0);
    // Ops see both paths.
    expect(asia.mesh.summaries().map((s) => [s.direction, s.peerNodeId])).toEqual([
      ['in', 'ingest-1'],
      ['in', 'relay-eu'],
    ]);
  });

  it('pulls the second path again when it falls silent (from another relay) or closes; the first is untouched', async () => {
    const { asia } = rig();
    await asia.mesh.resolveStream('final');
    await vi.waitFor(() => expect(open(asia, 'final')).toHaveLength(2));
    const [first, second] = open(asia, 'final');
    asia.media.streams.get('final')!.program.silent.add(`pipe-${second!.pipeId}`);
    await tick();
    await vi.waitFor(() => expect(second!.closed).toBe(true));
    // From another relay while there is one: the silent one's path may be what failed.
    const third = open(asia, 'final').find((p) => p !== first);
    expect(third?.upstream).toBe('relay-us');
    third!.close('transport closed');
    await tick();
    await vi.waitFor(() => expect(open(asia, 'final')).toHaveLength(2));
    expect(first!.closed).toBe(false);
  });

  it('another relay of the critical region pulls the holder’s copy alone; a region not critical pulls one copy', async () => {
    const { asia, us } = rig();
    const asia2 = cluster.node('relay-asia-2', 'asia', { ...QUIET, dualPath: true });
    await asia.mesh.resolveStream('final');
    await asia2.mesh.resolveStream('final');
    await us.mesh.resolveStream('final');
    await tick();
    expect(open(asia2, 'final').map((p) => [p.upstream, p.merge])).toEqual([['relay-asia', undefined]]);
    expect(open(us, 'final').map((p) => [p.upstream, p.merge])).toEqual([['ingest-1', undefined]]);
  });

  it('after the linger time both paths go and both upstreams are told (no orphan copy on the eu relay)', async () => {
    const ingest = cluster.node('ingest-1', 'eu', QUIET);
    ingest.media.publish('final');
    cluster.directory.publish('final', 'ingest-1', null);
    const eu = cluster.node('relay-eu', 'eu', QUIET);
    const asia = cluster.node('relay-asia', 'asia', { ...QUIET, dualPath: true, lingerMs: 1500 });
    await asia.mesh.resolveStream('final');
    await vi.waitFor(() => expect(open(asia, 'final')).toHaveLength(2));
    for (let i = 0; i < 3; i++) await tick();
    expect(open(asia, 'final')).toHaveLength(0);
    await vi.waitFor(() => expect(eu.media.outbound.every((p) => p.closed)).toBe(true));
    expect(ingest.media.outbound.filter((p) => p.peer.nodeId === 'relay-asia').every((p) => p.closed)).toBe(true);
  });

  it('letting the copy go (step down) drops the second path too', async () => {
    const { asia } = rig();
    await asia.mesh.resolveStream('final');
    await vi.waitFor(() => expect(open(asia, 'final')).toHaveLength(2));
    // Another relay holds the lease now (we were stalled past it): step down, pull from it.
    const other = cluster.node('relay-asia-2', 'asia', QUIET);
    other.media.publish('final');
    cluster.directory.claims.clear();
    await cluster.directory.claimRegionCopy('final', 'asia', 'relay-asia-2', 6000);
    await tick();
    await vi.waitFor(() => expect(open(asia, 'final').map((p) => p.upstream)).toEqual(['relay-asia-2']));
  });
});
