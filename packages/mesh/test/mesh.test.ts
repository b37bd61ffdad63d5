import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PIPE_METHODS } from '../src/pipe-broker.ts';
import { FakeCluster, type FakeInbound, type TestNode } from './fakes.ts';

/*
 * The mesh objects wired as in production (Mesh facade), against in-memory
 * fakes of the bus, directory, liveness and media. Timers are fake: a region
 * copy's tick (renew, linger, feed check) runs when the test advances the clock.
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

/** One copy tick (claimTtlMs 6000 → every 1000 ms); the sweeper runs every heartbeatMs (set high). */
const tick = () => vi.advanceTimersByTimeAsync(1000);
const QUIET = { heartbeatMs: 3_600_000 };

function ingestWith(stream: string, backup = false): { ingest: TestNode; backupNode?: TestNode } {
  const ingest = cluster.node('ingest-1', 'eu', QUIET);
  ingest.media.publish(stream);
  const backupNode = backup ? cluster.node('ingest-2', 'eu', QUIET) : undefined;
  backupNode?.media.publish(stream);
  cluster.directory.publish(stream, 'ingest-1', backup ? 'ingest-2' : null);
  return { ingest, backupNode };
}

const primaryIn = (n: TestNode, stream: string): FakeInbound[] =>
  n.media.inbound.filter((p) => p.stream.stream === stream && p.role === 'primary');

describe('region copy: take, renew, release, step down', () => {
  it('the first relay of a region takes the lease and pulls from the ingest; the next pulls from it', async () => {
    const { ingest } = ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    const r2 = cluster.node('relay-2', 'asia', QUIET);
    expect((await r1.mesh.resolveStream('final'))?.stream).toBe('final');
    expect(await r2.mesh.resolveStream('final')).toBeDefined();
    expect(cluster.directory.holder('final', 'asia')).toBe('relay-1');
    expect(primaryIn(r1, 'final')[0]?.upstream).toBe('ingest-1');
    expect(primaryIn(r2, 'final')[0]?.upstream).toBe('relay-1');
    // One copy crossed into the region: the ingest sends one pipe, relay-1 the other.
    expect(ingest.media.outbound.map((p) => p.peer.nodeId)).toEqual(['relay-1']);
    expect(r1.media.outbound.map((p) => p.peer.nodeId)).toEqual(['relay-2']);
    expect(r1.mesh.summaries().map((s) => [s.direction, s.peerNodeId])).toEqual([
      ['out', 'relay-2'],
      ['in', 'ingest-1'],
    ]);
  });

  it('an unpublished stream resolves to undefined and leaves no lease behind', async () => {
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    expect(await r1.mesh.resolveStream('nothing')).toBeUndefined();
    expect(cluster.directory.claims.size).toBe(0);
  });

  it('renews the lease while watched, takes it again when it lapsed, and lets it go after the linger time', async () => {
    const { ingest } = ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', { ...QUIET, lingerMs: 2500 });
    r1.viewers.set('final', 1);
    await r1.mesh.resolveStream('final');
    await tick();
    expect(cluster.directory.calls.renew).toBe(1);
    expect(cluster.directory.holder('final', 'asia')).toBe('relay-1');

    // Redis lost the lease (restart, eviction): the next renewal takes it again, media untouched.
    cluster.directory.claims.clear();
    await tick();
    expect(cluster.directory.holder('final', 'asia')).toBe('relay-1');
    expect(primaryIn(r1, 'final')[0]?.closed).toBe(false);

    // Redis down: nothing changes (media does not need it).
    cluster.directory.down = true;
    await tick();
    expect(primaryIn(r1, 'final')[0]?.closed).toBe(false);
    cluster.directory.down = false;

    // Nobody watches: after the linger time the copy goes, the upstream is told, the lease released.
    r1.viewers.set('final', 0);
    await tick(); // idle from here
    await tick();
    expect(primaryIn(r1, 'final')[0]?.closed).toBe(false);
    await tick();
    await tick();
    const pipe = primaryIn(r1, 'final')[0]!;
    expect(pipe.closeReason).toBe('linger expired');
    expect(cluster.network.count(PIPE_METHODS.releaseByDownstream, 'ingest-1')).toBe(1);
    expect(ingest.media.outbound[0]?.closeReason).toBe('closed by downstream');
    // The ingest does not echo "upstream ended" back for a pipe the downstream released.
    expect(cluster.network.count(PIPE_METHODS.upstreamEnded)).toBe(0);
    await vi.waitFor(() => expect(cluster.directory.holder('final', 'asia')).toBeUndefined());
    expect(r1.media.streams.get('final')?.closed).toBe(true);
  });

  it('steps down when another relay holds the lease now, and pulls from that relay instead', async () => {
    const { ingest } = ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    const r2 = cluster.node('relay-2', 'asia', QUIET);
    r1.viewers.set('final', 3);
    await r1.mesh.resolveStream('final');
    // relay-1 stalled past the TTL; relay-2 took the region meanwhile and pulls from the ingest.
    cluster.directory.steal('final', 'asia', 'relay-2');
    r2.viewers.set('final', 1);
    await r2.mesh.resolveStream('final');
    const before = primaryIn(r1, 'final')[0]!;
    await tick();
    expect(before.closeReason).toBe('stepped down: another relay holds the region');
    await vi.waitFor(() => expect(primaryIn(r1, 'final').at(-1)?.upstream).toBe('relay-2'));
    // The router stayed (viewers keep their sessions); the stolen lease was not released by relay-1.
    expect(r1.media.streams.get('final')?.closed).toBe(false);
    expect(cluster.directory.holder('final', 'asia')).toBe('relay-2');
    expect(r1.log.messages('warn')).toContain('region lease held by another relay: stepping down, pulling from it');
    expect(ingest.media.outbound.filter((p) => !p.closed).map((p) => p.peer.nodeId)).toEqual(['relay-2']);
  });

  it('takes over from a region holder that is dead, but not from one that is only slow', async () => {
    ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    const r2 = cluster.node('relay-2', 'asia', QUIET);
    await r1.mesh.resolveStream('final');
    // Alive but not answering (a GC pause): no second copy from the ingest; the join fails and is retried.
    cluster.network.hung.add('relay-1');
    await expect(r2.mesh.resolveStream('final')).rejects.toMatchObject({ code: 'timeout' });
    expect(cluster.directory.holder('final', 'asia')).toBe('relay-1');
    // Dead (PeerLiveness says so): forgotten, and relay-2 takes the region.
    cluster.liveness.deadNodes.add('relay-1');
    expect(await r2.mesh.resolveStream('final')).toBeDefined();
    expect(cluster.directory.forgotten).toEqual(['relay-1']);
    expect(cluster.directory.holder('final', 'asia')).toBe('relay-2');
    expect(primaryIn(r2, 'final').at(-1)?.upstream).toBe('ingest-1');
  });

  it('reclaim() renews every lease at once (after Redis came back empty)', async () => {
    ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    await r1.mesh.resolveStream('final');
    cluster.directory.claims.clear();
    await r1.mesh.reclaim();
    expect(cluster.directory.holder('final', 'asia')).toBe('relay-1');
  });
});

describe('resolveStream', () => {
  it('concurrent pulls of one stream share one claim and one pipe', async () => {
    const { ingest } = ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    const got = await Promise.all(Array.from({ length: 8 }, () => r1.mesh.resolveStream('final')));
    expect(new Set(got).size).toBe(1);
    expect(got[0]?.stream).toBe('final');
    expect(cluster.directory.calls.claimRegionCopy).toBe(1);
    expect(cluster.network.count(PIPE_METHODS.open)).toBe(1);
    expect(ingest.media.outbound).toHaveLength(1);
    // Once fed, it is served locally: no second pull.
    await r1.mesh.resolveStream('final');
    expect(cluster.network.count(PIPE_METHODS.open)).toBe(1);
  });

  it('a malformed pipe.open reply fails the pull (bad_reply), releases the lease and closes the empty router', async () => {
    ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    cluster.network.tamper = (method, reply) =>
      method === PIPE_METHODS.open ? { ...(reply as object), port: 0 } : reply;
    await expect(r1.mesh.resolveStream('final')).rejects.toMatchObject({ code: 'bad_reply' });
    expect(cluster.directory.holder('final', 'asia')).toBeUndefined();
    expect(r1.media.streams.get('final')?.closed).toBe(true);
  });
});

describe('pipe broker', () => {
  it('opens a pipe for a downstream, and tells it when the upstream end ends for its own reasons', async () => {
    const { ingest } = ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    await r1.mesh.resolveStream('final');
    const out = ingest.media.outbound[0]!;
    expect(out.peer).toEqual({ nodeId: 'relay-1', region: 'asia' });
    expect(out.offer).toMatchObject({ ip: '10.0.0.2' });
    expect(primaryIn(r1, 'final')[0]?.pipeId).toBe(out.pipeId);

    // Commentary changes go down the open pipe.
    out.emit('commentary', { added: [], removed: ['c1'] });
    await vi.waitFor(() => expect(primaryIn(r1, 'final')[0]?.commentary).toEqual([{ added: [], removed: ['c1'] }]));

    // The publisher left: the ingest's end closes, relay-1 drops its copy and closes the stream.
    out.close('transport closed');
    await vi.waitFor(() => expect(primaryIn(r1, 'final')[0]?.closeReason).toBe('upstream closed'));
    expect(cluster.network.count(PIPE_METHODS.upstreamEnded, 'relay-1')).toBe(1);
    expect(r1.media.streams.get('final')?.closed).toBe(true);
  });

  it('refuses a pipe for a stream it does not have (not_found), opening nothing', async () => {
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    const bus = cluster.network.bus('probe');
    const { PipeOpenResponse } = await import('@matchmesh/protocol');
    await expect(
      bus.request(
        'relay-1',
        PIPE_METHODS.open,
        { stream: 'ghost', region: 'eu', offer: { ip: '10.0.0.9', port: 5000 } },
        PipeOpenResponse,
      ),
    ).rejects.toMatchObject({ code: 'not_found' });
    expect(r1.media.outbound).toHaveLength(0);
  });
});

describe('feed guard', () => {
  it('the holder pulls the backup copy next to the primary, and re-pulls a silent primary moving the lease', async () => {
    const { ingest, backupNode } = ingestWith('final', true);
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    r1.viewers.set('final', 1);
    await r1.mesh.resolveStream('final');
    await vi.waitFor(() => expect(r1.media.inbound.filter((p) => p.role === 'backup')).toHaveLength(1));
    expect(backupNode!.media.outbound.map((p) => p.peer.nodeId)).toEqual(['relay-1']);

    // Primary media alive: a check changes nothing.
    await tick();
    expect(primaryIn(r1, 'final')).toHaveLength(1);

    // The primary's copy went silent (its node restarted): pull it again; the lease moves to the fresh pipe.
    const old = primaryIn(r1, 'final')[0]!;
    r1.media.streams.get('final')!.program.silent.add(`pipe-${old.pipeId}`);
    await tick();
    await vi.waitFor(() => expect(old.closeReason).toBe('replaced by a fresh primary pipe'));
    expect(primaryIn(r1, 'final')).toHaveLength(2);
    expect(ingest.media.outbound.filter((p) => !p.closed)).toHaveLength(1);
    // Not released on the way: relay-1 still holds the region, renewing with the fresh pipe's copy.
    expect(cluster.directory.holder('final', 'asia')).toBe('relay-1');
    expect(cluster.directory.calls.release ?? 0).toBe(0);
  });

  it('without a backup copy a silent primary is left to the sweeper', async () => {
    ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    r1.viewers.set('final', 1);
    await r1.mesh.resolveStream('final');
    const pipe = primaryIn(r1, 'final')[0]!;
    r1.media.streams.get('final')!.program.silent.add(`pipe-${pipe.pipeId}`);
    await tick();
    await tick();
    expect(primaryIn(r1, 'final')).toHaveLength(1);
    expect(pipe.closed).toBe(false);
  });

  it('a silent primary whose upstream closed it while the notice was lost ends as the notice would end it', async () => {
    const { ingest } = ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    r1.viewers.set('final', 1);
    await r1.mesh.resolveStream('final');
    const pipe = primaryIn(r1, 'final')[0]!;
    // relay-1 is reconnecting to Redis when the ingest closes its end: the upstream-ended notice is lost.
    cluster.network.hung.add('relay-1');
    ingest.media.outbound[0]!.close('peer node gone');
    await vi.waitFor(() => expect(cluster.network.count(PIPE_METHODS.upstreamEnded, 'relay-1')).toBe(1));
    cluster.network.hung.delete('relay-1');
    expect(pipe.closed).toBe(false);
    // The copy falls silent: the next check asks the ingest, which no longer has the pipe.
    r1.media.streams.get('final')!.program.silent.add(`pipe-${pipe.pipeId}`);
    await tick();
    await vi.waitFor(() => expect(pipe.closeReason).toBe('upstream closed'));
    expect(cluster.network.count(PIPE_METHODS.status, 'ingest-1')).toBeGreaterThanOrEqual(1);
    expect(r1.media.streams.get('final')?.closed).toBe(true);
  });

  it('a silent primary the upstream still has (its publisher paused) is kept', async () => {
    ingestWith('final');
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    r1.viewers.set('final', 1);
    await r1.mesh.resolveStream('final');
    const pipe = primaryIn(r1, 'final')[0]!;
    r1.media.streams.get('final')!.program.silent.add(`pipe-${pipe.pipeId}`);
    await tick();
    await tick();
    expect(cluster.network.count(PIPE_METHODS.status, 'ingest-1')).toBeGreaterThanOrEqual(1);
    expect(pipe.closed).toBe(false);
    expect(r1.media.streams.get('final')?.closed).toBe(false);
  });

  it('records in the directory which ingest copy feeds the region after a switch', async () => {
    ingestWith('final', true);
    const r1 = cluster.node('relay-1', 'asia', QUIET);
    await r1.mesh.resolveStream('final');
    const backup = await vi.waitFor(() => {
      const b = r1.media.inbound.find((p) => p.role === 'backup');
      if (!b) throw new Error('no backup yet');
      return b;
    });
    r1.media.streams.get('final')!.program.emit('switched', {
      at: Date.now(),
      from: 'pipe-primary',
      to: `pipe-${backup.pipeId}`,
      reason: 'primary silent',
      freezeMs: undefined,
    });
    await vi.waitFor(() => expect(cluster.directory.ingest.get('final')?.nodeId).toBe('ingest-2'));
  });
});
