import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NodeBus, type NodeBusOptions } from '../src/bus.ts';
import { encodeMessage, type RequestBody } from '../src/bus-wire.ts';
import { ClusterError } from '../src/errors.ts';
import { clusterKeys } from '../src/keys.ts';
import { type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { captureLogger, nextEvent, uniqueCluster } from './helpers.ts';

const SECRET = 'test-secret-0123456789abcdef';

let redis: RedisServer;
let raw: Redis;
const open: NodeBus[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  raw.disconnect();
  await redis.stop();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

async function bus(cluster: string, nodeId: string, extra: Partial<NodeBusOptions> = {}): Promise<NodeBus> {
  const b = new NodeBus({ redis: redis.url, cluster, nodeId, secret: SECRET, ...extra });
  open.push(b);
  await b.start();
  return b;
}

/** A pair of nodes: `ingest` answers `echo`, `relay` asks. */
async function pair(extra: Partial<NodeBusOptions> = {}) {
  const cluster = uniqueCluster();
  const ingest = await bus(cluster, 'ingest-1', extra);
  const relay = await bus(cluster, 'relay-1', extra);
  ingest.handle('echo', (payload, ctx) => ({ payload, from: ctx.from }));
  return { cluster, ingest, relay };
}

/** What `echo` answers. */
const Echo = z.object({ payload: z.unknown(), from: z.string() });

function requestBody(cluster: string, to: string, overrides: Partial<RequestBody> = {}): RequestBody {
  return {
    v: 1,
    kind: 'req',
    cluster,
    id: `forged-${Math.random()}`,
    from: 'relay-1',
    to,
    ts: Date.now(),
    method: 'echo',
    payload: { evil: true },
    ...overrides,
  };
}

describe('NodeBus', () => {
  it('request/response round trip, caller identified', async () => {
    const { relay } = await pair();
    const res = await relay.request('ingest-1', 'echo', { stream: 'final', n: 1 }, Echo);
    expect(res).toEqual({ payload: { stream: 'final', n: 1 }, from: 'relay-1' });
  });

  it('many concurrent requests are matched to their own responses', async () => {
    const { relay } = await pair();
    const res = await Promise.all(Array.from({ length: 50 }, (_, i) => relay.request('ingest-1', 'echo', i, Echo)));
    expect(res.map((r) => r.payload)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('typed errors: not_found, bad_request (thrown and schema), internal', async () => {
    const { ingest, relay } = await pair();
    ingest.handle('refuse', () => {
      throw new ClusterError('bad_request', 'no such stream');
    });
    ingest.handle('crash', () => {
      throw new Error('kaboom');
    });
    ingest.handle('typed', (p: { stream: string }) => p.stream.toUpperCase(), z.object({ stream: z.string() }));

    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: ClusterError) => e.code,
      );
    expect(await codeOf(relay.request('ingest-1', 'nope', {}, z.unknown()))).toBe('not_found');
    expect(await codeOf(relay.request('ingest-1', 'refuse', {}, z.unknown()))).toBe('bad_request');
    expect(await codeOf(relay.request('ingest-1', 'typed', { stream: 1 }, z.string()))).toBe('bad_request');
    expect(await relay.request('ingest-1', 'typed', { stream: 'final' }, z.string())).toBe('FINAL');
    const crash = await relay.request('ingest-1', 'crash', {}, z.unknown()).catch((e: unknown) => e);
    expect(crash).toBeInstanceOf(ClusterError);
    expect(crash).toMatchObject({ code: 'internal', message: expect.stringContaining('kaboom') });
  });

  it('a reply that fails its schema rejects with bad_reply, is logged, and the bus keeps working', async () => {
    const cap = captureLogger();
    const { ingest, relay } = await pair({ logger: cap.logger });
    // A peer of another version, or a buggy one: the answer has the wrong shape.
    ingest.handle('pipe.open', () => ({ pipeId: 42, producers: 'none' }));
    const Reply = z.object({ pipeId: z.string(), producers: z.array(z.unknown()) });
    const err = await relay.request('ingest-1', 'pipe.open', {}, Reply).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterError);
    expect(err).toMatchObject({ code: 'bad_reply', message: expect.stringContaining('pipeId') });
    const logged = cap.warnings().find((l) => l.msg === 'bus reply failed its schema');
    expect(logged?.obj).toMatchObject({
      method: 'pipe.open',
      from: 'ingest-1',
      issues: expect.stringContaining('producers'),
    });
    // The schema's output is what the caller gets (defaults applied, unknown keys stripped).
    ingest.handle('shaped', () => ({ n: 1, extra: true }));
    const Shaped = z.object({ n: z.number(), tags: z.array(z.string()).default([]) });
    expect(await relay.request('ingest-1', 'shaped', {}, Shaped)).toEqual({ n: 1, tags: [] });
    expect(await relay.request('ingest-1', 'echo', 'still answering', Echo)).toMatchObject({
      payload: 'still answering',
    });
  });

  it('times out with code timeout, and a late answer is dropped quietly', async () => {
    const { ingest, relay } = await pair();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    ingest.handle('slow', async () => {
      await gate;
      return 'late';
    });
    const started = Date.now();
    await expect(relay.request('ingest-1', 'slow', {}, z.string(), { timeoutMs: 150 })).rejects.toMatchObject({
      code: 'timeout',
    });
    expect(Date.now() - started).toBeLessThan(1_000);
    const dropped = nextEvent<[string, string]>(relay, 'dropped');
    release();
    expect((await dropped)[0]).toBe('unknown-response');
  });

  it('a node that is not listening fails fast with unavailable', async () => {
    const { relay } = await pair();
    const started = Date.now();
    await expect(relay.request('ghost', 'echo', {}, Echo, { timeoutMs: 5_000 })).rejects.toMatchObject({
      code: 'unavailable',
    });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('drops a message with a bad signature, and keeps answering', async () => {
    const cap = captureLogger();
    const { cluster, relay, ingest } = await pair({ logger: cap.logger });
    const channel = clusterKeys(cluster).bus('ingest-1');
    const dropped = nextEvent<[string, string]>(ingest, 'dropped');
    await raw.publish(channel, encodeMessage('another-secret-0123456789', requestBody(cluster, 'ingest-1')));
    expect((await dropped)[0]).toBe('bad-signature');
    expect(cap.warnings().some((l) => JSON.stringify(l.obj).includes('bad-signature'))).toBe(true);
    expect(await relay.request('ingest-1', 'echo', 'still here', Echo)).toMatchObject({ payload: 'still here' });
  });

  it('drops malformed messages (garbage, wrong shape, validly signed junk) and keeps answering', async () => {
    const { cluster, relay, ingest } = await pair();
    const channel = clusterKeys(cluster).bus('ingest-1');
    const reasons: string[] = [];
    ingest.on('dropped', (reason) => reasons.push(reason));
    const signedJunk = (body: unknown) => encodeMessage(SECRET, body as RequestBody);

    for (const msg of [
      'not json at all',
      '{"b":1}',
      JSON.stringify({ b: '{}', s: 'zz' }),
      signedJunk({ hello: 'world' }),
      signedJunk({ ...requestBody(cluster, 'ingest-1'), method: '' }),
      signedJunk({ ...requestBody(cluster, 'ingest-1'), v: 2 }),
    ]) {
      const dropped = nextEvent<[string]>(ingest, 'dropped');
      await raw.publish(channel, msg);
      await dropped;
    }
    expect(reasons).toEqual(['malformed', 'malformed', 'malformed', 'malformed', 'malformed', 'malformed']);
    expect(await relay.request('ingest-1', 'echo', 'alive', Echo)).toMatchObject({ payload: 'alive' });
  });

  it('drops messages from another cluster, for another node, stale or replayed', async () => {
    const { cluster, ingest } = await pair();
    const channel = clusterKeys(cluster).bus('ingest-1');
    const send = async (body: RequestBody) => {
      const dropped = nextEvent<[string]>(ingest, 'dropped');
      await raw.publish(channel, encodeMessage(SECRET, body));
      return (await dropped)[0];
    };
    expect(await send(requestBody('other-cluster', 'ingest-1'))).toBe('wrong-cluster');
    expect(await send(requestBody(cluster, 'someone-else'))).toBe('not-for-me');
    expect(await send(requestBody(cluster, 'ingest-1', { ts: Date.now() - 120_000 }))).toBe('stale');

    // A captured valid request is executed once, never twice.
    let calls = 0;
    ingest.handle('count', () => ++calls);
    const captured = encodeMessage(SECRET, requestBody(cluster, 'ingest-1', { id: 'once', method: 'count' }));
    await raw.publish(channel, captured);
    const dropped = nextEvent<[string]>(ingest, 'dropped');
    await raw.publish(channel, captured);
    expect((await dropped)[0]).toBe('replay');
    expect(calls).toBe(1);
  });

  it('refuses a short secret, and close() rejects pending requests', async () => {
    expect(() => new NodeBus({ redis: redis.url, cluster: 'c', nodeId: 'n', secret: 'short' })).toThrow(ClusterError);
    const { ingest, relay } = await pair();
    let arrived!: () => void;
    const reached = new Promise<void>((r) => {
      arrived = r;
    });
    ingest.handle('never', () => {
      arrived();
      return new Promise(() => {});
    });
    const pending = expect(
      relay.request('ingest-1', 'never', {}, z.unknown(), { timeoutMs: 10_000 }),
    ).rejects.toMatchObject({
      code: 'unavailable',
    });
    await reached; // the request is in flight, its answer will never come
    await relay.close();
    await pending;
    await expect(relay.request('ingest-1', 'echo', {}, Echo)).rejects.toMatchObject({ code: 'unavailable' });
  });
});
