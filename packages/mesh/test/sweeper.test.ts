import { describe, expect, it } from 'vitest';
import type { InboundPipe, OutboundPipe } from '../src/ports.ts';
import type { RegionCopy } from '../src/region-copy.ts';
import { Sweeper } from '../src/sweeper.ts';
import { FakeDirectory, FakeInbound, FakeLiveness, FakeOutbound, FakeStream, memoryLogger } from './fakes.ts';

/** A sweeper over fixed pipes: `outs` to downstreams, `copies` (stream → upstream), `backups` (stream → upstream). */
function setup(opts: { outs?: string[]; copies?: Record<string, string>; backups?: Record<string, string> }) {
  const liveness = new FakeLiveness();
  const directory = new FakeDirectory();
  const log = memoryLogger();
  const outs: OutboundPipe[] = (opts.outs ?? []).map(
    (peer) => new FakeOutbound('final', { nodeId: peer, region: 'asia' }, { ip: '10.0.0.3', port: 5000 }),
  );
  const copies = new Map<string, RegionCopy>();
  for (const [stream, upstream] of Object.entries(opts.copies ?? {})) {
    const pipe = new FakeInbound(new FakeStream(stream), 'primary', upstream);
    copies.set(stream, { stream, upstream, pipe } as unknown as RegionCopy);
  }
  const backups = new Map<string, InboundPipe>();
  for (const [stream, upstream] of Object.entries(opts.backups ?? {})) {
    backups.set(stream, new FakeInbound(new FakeStream(stream), 'backup', upstream));
  }
  const repulled: string[] = [];
  const inUse = new Set<string>();
  const sweeper = new Sweeper({
    liveness,
    directory,
    log: log.logger,
    outbound: () => outs,
    copies: () => copies.entries(),
    backup: (stream) => backups.get(stream),
    backups: () => backups.values(),
    inUse: (stream) => inUse.has(stream),
    repull: (stream) => repulled.push(stream),
  });
  return { sweeper, liveness, directory, log, outs, copies, backups, repulled, inUse };
}

const pipeOf = (copy: RegionCopy | undefined) => copy?.pipe as FakeInbound;

describe('sweeper', () => {
  it('a suspect peer (late heartbeat, still connected) keeps its pipes; a dead one loses them', async () => {
    const t = setup({ outs: ['relay-2'], copies: { final: 'ingest-1' } });
    t.inUse.add('final');
    // PeerLiveness answers "not dead" for a suspect: nothing is touched.
    await t.sweeper.sweep();
    expect(t.liveness.asked).toEqual([['relay-2', 'ingest-1']]);
    expect(t.outs[0]?.closed).toBe(false);
    expect(pipeOf(t.copies.get('final')).closed).toBe(false);
    expect(t.directory.forgotten).toEqual([]);

    t.liveness.deadNodes.add('relay-2');
    t.liveness.deadNodes.add('ingest-1');
    await t.sweeper.sweep();
    expect((t.outs[0] as FakeOutbound).closeReason).toBe('peer node gone');
    expect(pipeOf(t.copies.get('final')).closeReason).toBe('upstream node gone');
    expect(t.directory.forgotten).toEqual(['relay-2', 'ingest-1']);
    // Viewers here: the stream is pulled again at once (from whoever holds it now).
    expect(t.repulled).toEqual(['final']);
  });

  it('a dead upstream of an unwatched stream is closed but not pulled again', async () => {
    const t = setup({ copies: { final: 'ingest-1' } });
    t.liveness.deadNodes.add('ingest-1');
    await t.sweeper.sweep();
    expect(pipeOf(t.copies.get('final')).closed).toBe(true);
    expect(t.repulled).toEqual([]);
  });

  it('a dead primary ingest whose backup copy is alive keeps the copy (media liveness carries on)', async () => {
    const t = setup({ copies: { final: 'ingest-1' }, backups: { final: 'ingest-2' } });
    t.inUse.add('final');
    t.liveness.deadNodes.add('ingest-1');
    await t.sweeper.sweep();
    expect(t.liveness.asked[0]).toEqual(['ingest-1', 'ingest-2']);
    expect(pipeOf(t.copies.get('final')).closed).toBe(false);
    expect(t.repulled).toEqual([]);
    // Both dead: the copy goes.
    t.liveness.deadNodes.add('ingest-2');
    await t.sweeper.sweep();
    expect(pipeOf(t.copies.get('final')).closed).toBe(true);
  });

  it('Redis down: nothing is closed, and nothing is asked when nothing is piped', async () => {
    const t = setup({ outs: ['relay-2'], copies: { final: 'ingest-1' } });
    t.liveness.down = true;
    await t.sweeper.sweep();
    expect(t.outs[0]?.closed).toBe(false);
    expect(t.log.messages('debug')).toContain('peer liveness unknown; sweep skipped');
    const idle = setup({ backups: { final: 'ingest-2' } });
    await idle.sweeper.sweep();
    expect(idle.liveness.asked).toEqual([]);
  });
});
