import type { StreamRouter } from '@matchmesh/sfu';
import { describe, expect, it } from 'vitest';
import { AdmissionPolicy } from '../src/wiring/AdmissionPolicy.ts';
import { cachedFor } from '../src/wiring/cachedFor.ts';
import { LocalAudience } from '../src/wiring/LocalAudience.ts';
import { StreamResolver } from '../src/wiring/StreamResolver.ts';

const cluster = (healthy: boolean, draining: boolean | null = false) => ({
  healthy,
  registry: { record: draining === null ? null : { draining } },
});

describe('AdmissionPolicy', () => {
  it('refuses WHEP on a full node (every worker at capacity) and takes it again when a seat frees', () => {
    const workers = { room: false, hasRoom: () => workers.room };
    const policy = new AdmissionPolicy(cluster(true), ['relay'], workers);
    expect(policy.whep('match')).toMatch(/every worker of this node is at capacity/);
    // Signaling joins are refused by the Peer with the typed 'full' error that names another relay.
    expect(policy.join('viewer', 'match')).toBeUndefined();
    workers.room = true;
    expect(policy.whep('match')).toBeUndefined();
  });

  it('admits viewers and commentators on a healthy relay', () => {
    const policy = new AdmissionPolicy(cluster(true), ['ingest', 'relay']);
    expect(policy.join('viewer', 'match')).toBeUndefined();
    expect(policy.join('commentator', 'match')).toBeUndefined();
    expect(policy.whep('match')).toBeUndefined();
  });

  it('while Redis is unavailable: serves the streams the node carries, refuses the ones that need the cluster', () => {
    const carried = new Set(['match']);
    const policy = new AdmissionPolicy(cluster(false), ['relay'], undefined, (s) => carried.has(s));
    expect(policy.join('viewer', 'match')).toBeUndefined();
    expect(policy.join('commentator', 'match')).toBeUndefined();
    expect(policy.whep('match')).toBeUndefined();
    expect(policy.join('viewer', 'other')).toMatch(/Redis\) is unavailable and this node does not carry the stream/);
    expect(policy.join('commentator', 'other')).toMatch(/Redis\) is unavailable/);
    expect(policy.whep('other')).toMatch(/Redis\) is unavailable/);
  });

  it('sends viewers away from a node without the relay role, but lets commentators talk at the ingest', () => {
    const policy = new AdmissionPolicy(cluster(true), ['ingest']);
    expect(policy.join('viewer', 'match')).toBe('this node does not serve viewers (no relay role)');
    expect(policy.join('commentator', 'match')).toBeUndefined();
  });

  it('refuses signaling joins and new WHEP sessions on a draining node (it must become empty)', () => {
    const policy = new AdmissionPolicy(cluster(true, true), ['relay']);
    expect(policy.join('viewer', 'match')).toMatch(/draining/);
    expect(policy.join('commentator', 'match')).toMatch(/draining/);
    expect(policy.whep('match')).toMatch(/draining; play from another relay/);
  });

  it('reads the cluster state at each call, not at construction', () => {
    const state = cluster(false);
    const policy = new AdmissionPolicy(state, ['relay']);
    expect(policy.join('viewer', 'match')).toBeDefined();
    state.healthy = true;
    expect(policy.join('viewer', 'match')).toBeUndefined();
    // Before registration there is no record: not draining.
    expect(new AdmissionPolicy(cluster(true, null), ['relay']).join('viewer', 'match')).toBeUndefined();
  });
});

describe('StreamResolver', () => {
  const local = { id: 'local' } as unknown as StreamRouter;
  const copy = { id: 'copy' } as unknown as StreamRouter;
  const logged: unknown[] = [];
  const log = { debug() {}, info() {}, warn: (o: object) => void logged.push(o), error() {} };
  const localStreams = { stream: (id: string) => (id === 's' ? local : undefined) };
  const meshOk = { resolveStream: async (id: string) => (id === 's' ? copy : undefined) };
  const meshDown = {
    resolveStream: async (): Promise<StreamRouter | undefined> => {
      throw new Error('bus timeout');
    },
  };

  it('signaling joins go through the mesh and see its failure', async () => {
    await expect(new StreamResolver(localStreams, meshOk, { relay: true, log }).resolve('s')).resolves.toBe(copy);
    await expect(new StreamResolver(localStreams, meshDown, { relay: true, log }).resolve('s')).rejects.toThrow(
      'bus timeout',
    );
  });

  it('WHEP and HLS on a relay take the region copy, and fall back to the local router (logged) when the pull fails', async () => {
    expect(await new StreamResolver(localStreams, meshOk, { relay: true, log }).bestEffort('s')).toBe(copy);
    expect(await new StreamResolver(localStreams, meshOk, { relay: true, log }).bestEffort('other')).toBeUndefined();
    logged.length = 0;
    expect(await new StreamResolver(localStreams, meshDown, { relay: true, log }).bestEffort('s')).toBe(local);
    expect(logged).toEqual([expect.objectContaining({ stream: 's' })]);
  });

  it('an ingest-only node serves only its own streams to WHEP and HLS, without asking the mesh', async () => {
    let asked = 0;
    const mesh = {
      resolveStream: async () => {
        asked++;
        return copy;
      },
    };
    const resolver = new StreamResolver(localStreams, mesh, { relay: false, log });
    expect(await resolver.bestEffort('s')).toBe(local);
    expect(await resolver.bestEffort('other')).toBeUndefined();
    expect(asked).toBe(0);
  });
});

describe('LocalAudience', () => {
  it('sums every consumer source per stream, including sources added after it was handed out', () => {
    const audience = new LocalAudience();
    const count = (s: string) => audience.count(s);
    expect(count('a')).toBe(0);
    audience.add((s) => (s === 'a' ? 3 : 0));
    audience.add((s) => (s === 'a' || s === 'b' ? 1 : 0));
    expect([count('a'), count('b'), count('c')]).toEqual([4, 1, 0]);
  });
});

describe('cachedFor', () => {
  it('asks once per period, shares the pending answer, and retries after a failure', async () => {
    let clock = 0;
    let calls = 0;
    let fail = false;
    const ask = cachedFor(
      1000,
      async () => {
        calls++;
        if (fail) throw new Error('redis down');
        return calls;
      },
      () => clock,
    );
    expect(await Promise.all([ask(), ask(), ask()])).toEqual([1, 1, 1]);
    clock = 999;
    expect(await ask()).toBe(1);
    clock = 1000;
    fail = true;
    await expect(ask()).rejects.toThrow('redis down');
    fail = false;
    expect(await ask()).toBe(3);
    expect(calls).toBe(3);
  });
});
