import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { signToken, verifyToken } from '@matchmesh/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { drainAndWait } from '../docker/drain.ts';

/*
 * The k8s preStop hook (infra/docker/drain.ts) against a stand-in of the
 * node's admin API that speaks the protocol's schemas: it must drain this
 * node with an admin token, then wait for the registry to show no viewer,
 * and give up at its deadline.
 */

const SECRET = 'infra-test-secret-0123456789';

function record(id: string, viewers: number, draining: boolean) {
  return {
    id,
    region: 'eu',
    roles: ['relay'],
    url: 'http://127.0.0.1:1',
    mediaAddress: '127.0.0.1',
    capacity: { viewers: 800 },
    load: { viewers, streams: 1, bitrateOut: 0, workerCpu: 0, egressBytes: 0, egressCostUsd: 0, streamViewers: {}, workers: [] },
    draining,
    startedAt: 1,
    heartbeatAt: 2,
  };
}

interface FakeNode {
  url: string;
  requests: { method: string; path: string; role: string }[];
  server: Server;
}

/** viewersAfterPoll(n): the viewers the n-th GET /api/v1/nodes reports. */
async function fakeNode(viewersAfterPoll: (n: number) => number): Promise<FakeNode> {
  const requests: FakeNode['requests'] = [];
  let draining = false;
  let polls = 0;
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const claims = await verifyToken(SECRET, req.headers.authorization?.replace(/^Bearer /, '')).catch(() => undefined);
    requests.push({ method: req.method ?? '', path: req.url ?? '', role: claims?.role ?? 'none' });
    res.setHeader('content-type', 'application/json');
    if (claims?.role !== 'admin') return res.writeHead(401).end('{}');
    if (req.method === 'POST' && req.url === '/api/v1/nodes/relay-eu-0/drain') {
      let body = '';
      for await (const chunk of req) body += chunk;
      draining = JSON.parse(body).draining === true;
      return res.end(JSON.stringify({ id: 'relay-eu-0', draining }));
    }
    if (req.method === 'GET' && req.url === '/api/v1/nodes') {
      const nodes = [record('relay-eu-1', 7, false), record('relay-eu-0', viewersAfterPoll(polls++), draining)];
      return res.end(JSON.stringify({ nodes }));
    }
    res.writeHead(404).end('{}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

let node: FakeNode | undefined;
afterEach(() => {
  node?.server.close();
  node = undefined;
});

describe('preStop drain hook', () => {
  it('drains the node with an admin token, then returns once its viewers have moved', async () => {
    node = await fakeNode((n) => [3, 1, 0][n] ?? 0);
    const token = await signToken(SECRET, { role: 'admin', stream: '*', ttl: '5m' });
    const result = await drainAndWait({ url: node.url, nodeId: 'relay-eu-0', token, timeoutMs: 10_000, pollMs: 20 });
    expect(result).toMatchObject({ drained: true, viewers: 0 });
    expect(node.requests.map((r) => `${r.method} ${r.path} ${r.role}`)).toEqual([
      'POST /api/v1/nodes/relay-eu-0/drain admin',
      'GET /api/v1/nodes admin',
      'GET /api/v1/nodes admin',
      'GET /api/v1/nodes admin',
    ]);
  });

  it('gives up at its deadline when viewers stay, reporting how many', async () => {
    node = await fakeNode(() => 5);
    const token = await signToken(SECRET, { role: 'admin', stream: '*', ttl: '5m' });
    const t = Date.now();
    const result = await drainAndWait({ url: node.url, nodeId: 'relay-eu-0', token, timeoutMs: 300, pollMs: 50 });
    expect(result).toMatchObject({ drained: false, viewers: 5 });
    expect(Date.now() - t).toBeLessThan(3000);
    expect(node.requests.filter((r) => r.method === 'GET').length).toBeGreaterThanOrEqual(3);
  });

  it('fails loudly when the node refuses the drain (wrong token)', async () => {
    node = await fakeNode(() => 0);
    const token = await signToken(SECRET, { role: 'viewer', stream: 'match', ttl: '5m' });
    await expect(
      drainAndWait({ url: node.url, nodeId: 'relay-eu-0', token, timeoutMs: 1000, pollMs: 20 }),
    ).rejects.toThrow(/HTTP 401/);
  });

  it('runs as the pods’ preStop command does, signing its own admin token from MM_TOKEN_SECRET', async () => {
    node = await fakeNode((n) => [2, 0][n] ?? 0);
    const root = path.resolve(import.meta.dirname, '../..');
    // The compiled script the image carries (the set-up's `tsc -b` builds infra/dist).
    const { stdout } = await promisify(execFile)('node', ['infra/dist/drain.js'], {
      cwd: root,
      env: {
        ...process.env,
        MM_NODE_ID: 'relay-eu-0',
        MM_HTTP_PORT: new URL(node.url).port,
        MM_TOKEN_SECRET: SECRET,
        MM_ADMIN_TOKEN: '',
        MM_DRAIN_TIMEOUT_S: '10',
        MM_DRAIN_POLL_MS: '20',
      },
      timeout: 20_000,
    });
    expect(stdout).toMatch(/relay-eu-0 has no viewer left after \d+ ms/);
    expect(node.requests.map((r) => r.role)).toEqual(['admin', 'admin', 'admin']);
  });
});
