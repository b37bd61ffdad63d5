import type { EdgesResponse } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { CLOSER_REGION_MIN_GAIN_MS, choose, closerRegion, place, probeRegions } from '../src/Placement.ts';

const edges: EdgesResponse = {
  stream: 'match',
  regions: [
    {
      region: 'asia',
      nodes: [{ id: 'asia-1', url: 'http://asia-1', probeUrl: 'http://asia-1/probe', load: 0.1 }],
    },
    {
      region: 'eu',
      nodes: [
        { id: 'eu-1', url: 'http://eu-1', probeUrl: 'http://eu-1/probe', load: 0.5 },
        { id: 'eu-2', url: 'http://eu-2', probeUrl: 'http://eu-2/probe', load: 0.2 },
      ],
    },
  ],
  guess: 'asia',
};

/** A fetch whose answers take `delays[host]` ms (never answers when the host is missing). */
function fakeFetch(delays: Record<string, number>, body: unknown = edges): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    if (url.pathname.endsWith('/edges')) return new Response(JSON.stringify(body), { status: 200 });
    const delay = delays[url.host];
    return new Promise<Response>((resolve, reject) => {
      const signal = init?.signal;
      if (delay === undefined) {
        signal?.addEventListener('abort', () => reject(new Error('aborted')));
        return;
      }
      const timer = setTimeout(() => resolve(new Response(null, { status: 204 })), delay);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      });
    });
  }) as typeof fetch;
}

describe('placement', () => {
  it('moves to another region only when it is clearly closer (both the absolute gain and the ratio)', () => {
    // Joined asia (the guess); eu is the least loaded relay's region when it wins.
    expect(closerRegion(edges, { asia: 120, eu: 20 }, 'asia')?.node.id).toBe('eu-2');
    // Loopback or same-city noise: a few ms, or half as much, is not worth a second session.
    expect(closerRegion(edges, { asia: 4, eu: 1 }, 'asia')).toBeNull();
    // A large absolute gain between two far regions that are nearly as far: not clearly closer.
    expect(closerRegion(edges, { asia: 300, eu: 300 - CLOSER_REGION_MIN_GAIN_MS - 10 }, 'asia')).toBeNull();
    // Already in the closest region, or nothing measured there.
    expect(closerRegion(edges, { asia: 10, eu: 200 }, 'asia')).toBeNull();
    expect(closerRegion(edges, { asia: 10, eu: null }, 'asia')).toBeNull();
    // The current region's probes all failed: a measured region is closer.
    expect(closerRegion(edges, { asia: null, eu: 30 }, 'asia')?.region).toBe('eu');
    // A closer region whose relays are all avoided (left lately) is not a target.
    expect(closerRegion(edges, { asia: 120, eu: 20 }, 'asia', { avoid: new Set(['eu-1', 'eu-2']) })?.region).toBe('eu');
    expect(closerRegion(edges, { asia: 120, eu: 20 }, 'asia', { exclude: new Set(['eu-1', 'eu-2']) })).toBeNull();
  });

  it('picks the lowest-RTT region, then its least loaded relay under capacity', () => {
    expect(choose(edges, { eu: 20, asia: 120 })).toMatchObject({
      region: 'eu',
      reason: 'rtt',
      node: { id: 'eu-2' },
    });
    expect(choose(edges, { eu: 20, asia: 120 }, { exclude: new Set(['eu-2']) })?.node.id).toBe('eu-1');
    const full = structuredClone(edges);
    for (const n of full.regions[1]!.nodes) n.load = 1;
    expect(choose(full, { eu: 20, asia: 120 })).toMatchObject({ region: 'asia', reason: 'rtt' });
  });

  it("falls back to the server's guess when every probe failed, and stays in a given region", () => {
    expect(choose(edges, { eu: null, asia: null })).toMatchObject({ region: 'asia', reason: 'guess' });
    expect(choose(edges, { asia: 5 }, { region: 'eu', exclude: new Set(['http://eu-2']) })).toMatchObject({
      region: 'eu',
      reason: 'region',
      node: { id: 'eu-1' },
    });
  });

  it('measures every region in parallel within the budget', async () => {
    const started = Date.now();
    const rtts = await probeRegions(
      [
        { region: 'eu', probeUrl: 'http://eu-1/probe' },
        { region: 'asia', probeUrl: 'http://asia-1/probe' },
        { region: 'mars', probeUrl: 'http://mars-1/probe' },
      ],
      { samples: 3, budgetMs: 300, fetch: fakeFetch({ 'eu-1': 5, 'asia-1': 60 }) },
    );
    // 300 ms budget; the margin is for a loaded machine (the mars probe alone would never end).
    expect(Date.now() - started).toBeLessThan(900);
    expect(rtts.eu).toBeGreaterThanOrEqual(4);
    expect(rtts.eu!).toBeLessThan(rtts.asia!);
    expect(rtts.mars).toBeNull();
  });

  it('places by RTT, and falls back to the entry node when the edges list is unavailable', async () => {
    const placed = await place({
      entryUrls: ['http://entry'],
      stream: 'match',
      token: 'tok',
      fetch: fakeFetch({ 'eu-1': 40, 'asia-1': 3 }),
    });
    expect(placed).toMatchObject({ nodeUrl: 'http://asia-1', region: 'asia', reason: 'rtt' });
    expect(placed.knownUrls).toContain('http://eu-2');
    const down = await place({
      entryUrls: ['http://dead', 'http://entry'],
      stream: 'match',
      token: 'tok',
      exclude: new Set(['http://dead']),
      fetch: (async () => new Response('{}', { status: 503 })) as typeof fetch,
    });
    expect(down).toMatchObject({ nodeUrl: 'http://entry', reason: 'fallback' });
  });
});
