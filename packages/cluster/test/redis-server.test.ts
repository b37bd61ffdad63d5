import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, type RedisServer, startRedisServer } from '../src/testing/index.ts';

const servers: RedisServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function pingOnce(url: string): Promise<string> {
  const c = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  c.on('error', () => {});
  try {
    await c.connect();
    return await c.ping();
  } finally {
    c.disconnect();
  }
}

describe('startRedisServer', () => {
  it('starts a real redis-server on a free port that answers PING', async () => {
    const s = await startRedisServer();
    servers.push(s);
    expect(s.url).toBe(`redis://127.0.0.1:${s.port}`);
    expect(s.running).toBe(true);
    expect(s.pid).toBeTypeOf('number');
    expect(await pingOnce(s.url)).toBe('PONG');
  });

  it('kill() makes it unreachable and restart() brings it back on the same port, empty', async () => {
    const s = await startRedisServer();
    servers.push(s);
    const c = new Redis(s.url);
    await c.set('k', 'v');
    c.disconnect();
    await s.kill();
    expect(s.running).toBe(false);
    await expect(pingOnce(s.url)).rejects.toThrow();
    await s.restart();
    expect(s.running).toBe(true);
    const c2 = new Redis(s.url);
    expect(await c2.get('k')).toBeNull();
    c2.disconnect();
  });

  it('stop() is idempotent', async () => {
    const s = await startRedisServer();
    await s.stop();
    await s.stop();
    expect(s.running).toBe(false);
  });

  it('fails clearly when the requested port is taken', async () => {
    const s = await startRedisServer();
    servers.push(s);
    await expect(startRedisServer({ port: s.port, startTimeoutMs: 3_000 })).rejects.toThrow(
      /redis-server on 127\.0\.0\.1:\d+/,
    );
  });

  it('fails clearly when the binary is missing', async () => {
    await expect(startRedisServer({ bin: '/nonexistent/redis-server', port: await freePort() })).rejects.toThrow(
      /redis-server installed/,
    );
  });
});
