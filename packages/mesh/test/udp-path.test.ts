import { describe, expect, it } from 'vitest';
import type { InboundPipe } from '../src/ports.ts';
import { RegionCopy, type RegionCopyDeps, UDP_SILENT_MS } from '../src/region-copy.ts';
import { FakeDirectory, FakeInbound, FakeStream, memoryLogger } from './fakes.ts';

/** A region copy over a fake pipe, recording what it asks of the mesh. */
function copyOver(pipe: FakeInbound, withTunnel = true) {
  const calls = { blocked: [] as string[], released: [] as string[], repulled: [] as string[] };
  const deps: RegionCopyDeps = {
    config: { nodeId: 'asia-1', claimTtlMs: 10_000, lingerMs: 30_000 },
    directory: new FakeDirectory(),
    log: memoryLogger().logger,
    inUse: () => true,
    release: (_stream: string, p: InboundPipe, reason: string) => {
      calls.released.push(reason);
      p.close(reason);
    },
    closeStream: () => undefined,
    dropBackup: () => undefined,
    checkFeeds: async () => undefined,
    repull: (stream: string) => void calls.repulled.push(stream),
    forget: () => undefined,
    ...(withTunnel ? { pathBlocked: (upstream: string) => void calls.blocked.push(upstream) } : {}),
  };
  const copy = new RegionCopy(deps, 'final', pipe);
  return { copy, calls };
}

const silentUdpPipe = (ageMs: number) => {
  const pipe = new FakeInbound(new FakeStream('final'), 'primary', 'ingest-1');
  pipe.openedAt = Date.now() - ageMs;
  return pipe;
};

describe('a UDP pipe that receives nothing: the path is blocked, pull again over TCP', () => {
  it(`after ${UDP_SILENT_MS} ms without a byte: marks the upstream, drops the pipe, pulls again`, async () => {
    const pipe = silentUdpPipe(UDP_SILENT_MS + 100);
    const { copy, calls } = copyOver(pipe);
    await copy.tick();
    expect(calls).toEqual({ blocked: ['ingest-1'], released: ['no media over UDP'], repulled: ['final'] });
    expect(pipe.closed).toBe(true);
    copy.pipe.close('test over');
  });

  it('not before: a pipe still setting up is given its time', async () => {
    const pipe = silentUdpPipe(UDP_SILENT_MS / 2);
    const { copy, calls } = copyOver(pipe);
    await copy.tick();
    expect(calls.blocked).toEqual([]);
    expect(pipe.closed).toBe(false);
    pipe.close('test over');
  });

  it('never once media flowed, over TCP already, or without a tunnel to fall back to', async () => {
    // Anything received (here: SCTP's handshake, no media yet) shows the path works.
    const flowing = silentUdpPipe(UDP_SILENT_MS + 100);
    flowing.bytes = 312;
    const tcp = silentUdpPipe(UDP_SILENT_MS + 100);
    tcp.path = 'tcp';
    const noTunnel = silentUdpPipe(UDP_SILENT_MS + 100);
    for (const [pipe, withTunnel] of [
      [flowing, true],
      [tcp, true],
      [noTunnel, false],
    ] as const) {
      const { copy, calls } = copyOver(pipe, withTunnel);
      await copy.tick();
      expect(calls.blocked).toEqual([]);
      expect(pipe.closed).toBe(false);
      pipe.close('test over');
    }
  });
});
