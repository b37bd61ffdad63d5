import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { NodeRecord } from '@matchmesh/protocol';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../src/args.ts';
import { type CliIo, run } from '../src/cli.ts';
import { verifyToken } from '../src/tokens.ts';

const SECRET = 'cli-test-secret-0123456789';

function io(env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = {
    env: { MM_TOKEN_SECRET: SECRET, ...env },
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    repoRoot: '/nonexistent-repo',
    now: () => 1_700_000_010_000,
  };
  return { io: value, out: () => out.join(''), err: () => err.join('') };
}

describe('argument validation', () => {
  it.each([
    [['token', '--role', 'king', '--stream', 's'], /invalid role "king"/],
    [['token', '--stream', 's'], /--role is required/],
    [['token', '--role', 'viewer'], /--stream <id\|\*> is required/],
    [['token', '--role', 'viewer', '--stream', 'a/b'], /invalid stream/],
    [['token', '--role', 'viewer', '--stream', 's', '--backup'], /--backup is for publisher/],
    [['token', '--role', 'viewer', '--stream', 's', '--ttl', 'forever'], /invalid ttl/],
    [['token', '--role', 'viewer', '--stream', 's', '--rol'], /Unknown option '--rol'/],
    [['drain'], /missing <nodeId>/],
    [['drain', 'a', 'b'], /unexpected argument "b"/],
    [['nodes', '--timeout', 'x'], /invalid --timeout/],
    [['launch'], /unknown command "launch"/],
  ])('%j → exit 2 with a clear message', async (argv, message) => {
    const t = io();
    expect(await run(argv, t.io)).toBe(2);
    expect(t.err()).toMatch(message);
    expect(t.err().split('\n')[0]).toMatch(/^matchmesh: /);
    expect(t.out()).toBe('');
  });

  it('parses valid commands', () => {
    expect(parseCommand(['token', '--role', 'publisher', '--stream', 'final', '--backup', '--ttl', '30m'])).toEqual({
      kind: 'token',
      role: 'publisher',
      stream: 'final',
      ttlSeconds: 1800,
      backup: true,
      once: false,
      sub: undefined,
      json: false,
    });
    expect(parseCommand(['token', '--role', 'admin'])).toMatchObject({ stream: '*' });
    expect(parseCommand(['drain', 'eu-1', '--undo'])).toMatchObject({
      kind: 'drain',
      nodeId: 'eu-1',
      draining: false,
    });
    expect(parseCommand(['nodes', '--json', '--url', 'http://x:1'])).toMatchObject({
      json: true,
      url: 'http://x:1',
    });
    expect(parseCommand([])).toEqual({ kind: 'help' });
    expect(() => parseCommand(['nope'])).toThrow(UsageError);
  });
});

describe('matchmesh token', () => {
  it('prints a token the server can verify', async () => {
    const t = io();
    expect(await run(['token', '--role', 'commentator', '--stream', 'final', '--sub', 'ann'], t.io)).toBe(0);
    expect(await verifyToken(SECRET, t.out().trim())).toEqual({
      role: 'commentator',
      stream: 'final',
      sub: 'ann',
    });

    const j = io();
    expect(
      await run(['token', '--role', 'publisher', '--stream', 'final', '--backup', '--ttl', '30m', '--json'], j.io),
    ).toBe(0);
    const out = JSON.parse(j.out());
    expect(await verifyToken(SECRET, out.token)).toEqual({
      role: 'publisher',
      stream: 'final',
      backup: true,
    });
    expect(Date.parse(out.expiresAt) - Date.now()).toBeGreaterThan(29 * 60_000);
  });

  it('mints a single-use viewer link with --once (a jti each time), refused for roles that do not watch', async () => {
    const tokens: string[] = [];
    for (let i = 0; i < 2; i++) {
      const t = io();
      expect(await run(['token', '--role', 'viewer', '--stream', 'final', '--once', '--json'], t.io)).toBe(0);
      const out = JSON.parse(t.out());
      expect(out.once).toBe(true);
      tokens.push(out.token);
    }
    const [a, b] = tokens.map((t) => decodeJwt(t!));
    expect(a).toMatchObject({ role: 'viewer', stream: 'final', once: true });
    expect(a!.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(a!.jti).not.toBe(b!.jti);
    // Only the exchange takes it.
    await expect(verifyToken(SECRET, tokens[0])).rejects.toMatchObject({ reason: 'invalid' });
    const p = io();
    expect(await run(['token', '--role', 'publisher', '--stream', 'final', '--once'], p.io)).toBe(2);
    expect(p.err()).toMatch(/--once is for viewer and commentator links only/);
  });

  it('says clearly when there is no secret', async () => {
    const t = io({ MM_TOKEN_SECRET: undefined });
    expect(await run(['token', '--role', 'viewer', '--stream', 's'], t.io)).toBe(1);
    expect(t.err()).toMatch(/no token secret: set MM_TOKEN_SECRET, or run `npm run setup`/);
  });
});

// ------------------------------------------------------------ admin commands

const now = 1_700_000_010_000;
const node = (id: string, region: string, extra: Partial<NodeRecord> = {}): NodeRecord => ({
  id,
  region,
  roles: ['relay'],
  url: `http://${id}.example:8080`,
  mediaAddress: '10.0.0.1',
  capacity: { viewers: 200 },
  load: {
    viewers: 50,
    leaving: 0,
    streams: 2,
    bitrateOut: 1e6,
    workerCpu: 0.2,
    egressBytes: 2.5e9,
    egressCostUsd: 0.125,
    streamViewers: { match: 50 },
    workers: [],
  },
  draining: false,
  startedAt: now - 60_000,
  heartbeatAt: now - 1_500,
  ...extra,
});

interface Seen {
  method: string | undefined;
  url: string | undefined;
  auth: string | undefined;
  body: string;
}

let server: Server | null = null;
afterEach(async () => {
  server?.close();
  server = null;
});

async function stub(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const seen: Seen[] = [];
  server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
    handler(req, res, body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json') {
  res.writeHead(status, { 'content-type': type });
  res.end(JSON.stringify(body));
}

describe('matchmesh nodes / streams / drain', () => {
  it('nodes: table, signed admin token, --json raw', async () => {
    const workers = [
      { index: 0, pid: 100, sources: 1, viewers: 30, capacity: 200, cpu: 0.31 },
      { index: 1, pid: 101, sources: 0, viewers: 20, capacity: 200, cpu: 0.086 },
    ];
    const nodes = [
      node('eu-1', 'eu'),
      node('asia-1', 'asia', {
        draining: true,
        roles: ['ingest', 'relay'],
        load: { ...node('x', 'x').load, workers },
      }),
    ];
    const s = await stub((_req, res) => send(res, 200, { nodes }));
    const t = io();
    expect(await run(['nodes', '--url', s.url], t.io)).toBe(0);
    const lines = t.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ID\s+REGION\s+ROLES\s+URL\s+VIEWERS\s+STREAMS\s+LOAD\s+OUT\s+CPU\s+WORKERS\s+EGRESS\s+DRAINING\s+HEARTBEAT$/,
    );
    expect(lines[1]).toMatch(
      /^asia-1\s+asia\s+ingest,relay\s+http:\/\/asia-1\.example:8080\s+50\/200\s+2\s+25%\s+1\.0 Mb\/s\s+20%\s+0:30\/200@31% 1:20\/200@9%\s+2\.50 GB \$0\.13\s+yes\s+1\.5s$/,
    );
    expect(lines[2]).toMatch(/^eu-1\s+eu\s+relay.*\s+20%\s+-\s+2\.50 GB/);
    expect(s.seen[0]).toMatchObject({ method: 'GET', url: '/api/v1/nodes' });
    const token = s.seen[0]!.auth!.replace(/^Bearer /, '');
    expect(await verifyToken(SECRET, token)).toMatchObject({
      role: 'admin',
      stream: '*',
      sub: 'matchmesh-cli',
    });

    const j = io({ MM_ADMIN_TOKEN: 'given-token' });
    expect(await run(['nodes', '--url', s.url, '--json'], j.io)).toBe(0);
    expect(JSON.parse(j.out())).toEqual({ nodes });
    expect(s.seen[1]!.auth).toBe('Bearer given-token');
  });

  it('scale-advice: the regions table from the API, --headroom passed on, --json raw', async () => {
    const advice = {
      headroom: 0.5,
      regions: [
        {
          region: 'asia',
          relays: 1,
          draining: 0,
          viewers: 700,
          viewersPerRelay: 400,
          needed: 3,
          change: 2,
          note: 'add 2 relays',
        },
        {
          region: 'eu',
          relays: 3,
          draining: 0,
          viewers: 10,
          viewersPerRelay: 400,
          needed: 1,
          change: -2,
          note: '2 relays can be drained and removed',
        },
      ],
    };
    const s = await stub((_req, res) => send(res, 200, advice));
    const t = io();
    expect(await run(['scale-advice', '--headroom', '0.5', '--url', s.url], t.io)).toBe(0);
    expect(s.seen[0]).toMatchObject({ method: 'GET', url: '/api/v1/scale-advice?headroom=0.5' });
    expect(t.out()).toMatch(/^REGION\s+RELAYS\s+DRAINING\s+VIEWERS\s+PER RELAY\s+NEEDED\s+CHANGE\s+ADVICE/);
    expect(t.out()).toMatch(/asia\s+1\s+0\s+700\s+400\s+3\s+\+2\s+add 2 relays/);
    expect(t.out()).toMatch(/eu\s+3\s+0\s+10\s+400\s+1\s+-2\s+2 relays can be drained and removed/);
    expect(t.out()).toContain('(headroom 50 %)');
    const j = io();
    expect(await run(['scale-advice', '--url', s.url, '--json'], j.io)).toBe(0);
    expect(JSON.parse(j.out())).toEqual(advice);
    expect(s.seen[1]!.url).toBe('/api/v1/scale-advice?headroom=0.25');
    // One region by name (the API answers it even when it has no relay).
    expect(await run(['scale-advice', '--region', 'asia', '--url', s.url, '--json'], io().io)).toBe(0);
    expect(s.seen[2]!.url).toBe('/api/v1/scale-advice?headroom=0.25&region=asia');
    // Bad usage exits 2 before any request.
    expect(await run(['scale-advice', '--headroom', 'lots'], io().io)).toBe(2);
  });

  it('streams: table', async () => {
    const streams = [
      {
        stream: 'final',
        ingest: { nodeId: 'ing-1', role: 'primary' },
        regions: [
          { region: 'asia', nodeId: 'asia-1' },
          { region: 'eu', nodeId: 'eu-1' },
        ],
        viewers: 1234,
      },
      { stream: 'semi', ingest: null, regions: [], viewers: 0 },
    ];
    const s = await stub((_req, res) => send(res, 200, { streams }));
    const t = io({ MM_NODE_URL: undefined });
    expect(await run(['streams', '--url', s.url], t.io)).toBe(0);
    expect(t.out()).toMatch(/final\s+ing-1\s+primary\s+asia:asia-1 eu:eu-1\s+1234/);
    expect(t.out()).toMatch(/semi\s+-\s+-\s+-\s+0/);
  });

  it('drain: POST with body, and --undo; MM_NODE_URL is honoured', async () => {
    const s = await stub((req, res, body) => {
      const id = /\/api\/v1\/nodes\/([^/]+)\/drain$/.exec(req.url ?? '')?.[1];
      send(res, 200, { id: decodeURIComponent(id ?? ''), draining: JSON.parse(body).draining });
    });
    const t = io({ MM_NODE_URL: s.url });
    expect(await run(['drain', 'eu-1'], t.io)).toBe(0);
    expect(t.out()).toMatch(/node eu-1 is draining/);
    expect(s.seen[0]).toMatchObject({
      method: 'POST',
      url: '/api/v1/nodes/eu-1/drain',
      body: '{"draining":true,"force":false}',
    });
    const u = io({ MM_NODE_URL: s.url });
    expect(await run(['drain', 'eu-1', '--undo'], u.io)).toBe(0);
    expect(u.out()).toMatch(/no longer draining/);
  });

  it('drain --force --wait: polls the drain status until empty (exit 0), prints what is left meanwhile', async () => {
    const left = [
      { webrtcViewers: 2, whepViewers: 0, hlsPlayers: 1, downstreamRelays: 1, publishers: 0 },
      { webrtcViewers: 0, whepViewers: 0, hlsPlayers: 0, downstreamRelays: 1, publishers: 0 },
      { webrtcViewers: 0, whepViewers: 0, hlsPlayers: 0, downstreamRelays: 0, publishers: 0 },
    ];
    let polls = 0;
    const s = await stub((req, res) => {
      if (req.method === 'POST') return send(res, 200, { id: 'eu-1', draining: true });
      const remaining = left[Math.min(polls++, left.length - 1)]!;
      const empty = Object.values(remaining).every((n) => n === 0);
      send(res, 200, { id: 'eu-1', draining: true, empty, remaining });
    });
    const t = io({ MM_NODE_URL: s.url });
    expect(await run(['drain', 'eu-1', '--force', '--wait', '--poll', '20', '--timeout', '10s'], t.io)).toBe(0);
    expect(s.seen[0]).toMatchObject({ method: 'POST', body: '{"draining":true,"force":true}' });
    expect(s.seen.slice(1).map((r) => `${r.method} ${r.url}`)).toEqual(Array(3).fill('GET /api/v1/nodes/eu-1/drain'));
    expect(t.out()).toMatch(/still here: 2 WebRTC viewers, 1 HLS player, 1 downstream relay/);
    expect(t.out()).toMatch(/still here: 1 downstream relay\n/);
    expect(t.out()).toMatch(/node eu-1 is empty: it may stop/);
  });

  it('drain --wait: exit 1 at the deadline with what is left; 404 → exit 4; 409 → exit 1 with the reason', async () => {
    const remaining = { webrtcViewers: 0, whepViewers: 1, hlsPlayers: 0, downstreamRelays: 0, publishers: 0 };
    const s = await stub((req, res) => {
      if (req.url?.includes('/nope/'))
        return send(res, 404, { type: 'about:blank', status: 404, title: 'Not Found', detail: 'no node "nope"' });
      if (req.url?.includes('/last/'))
        return send(res, 409, {
          type: 'about:blank',
          status: 409,
          title: 'Conflict',
          detail: '"last" is the last relay serving region "eu"',
        });
      if (req.method === 'POST') return send(res, 200, { id: 'eu-1', draining: true });
      send(res, 200, { id: 'eu-1', draining: true, empty: false, remaining });
    });
    const t = io({ MM_NODE_URL: s.url });
    expect(await run(['drain', 'eu-1', '--wait', '--poll', '50', '--timeout', '1s'], t.io)).toBe(1);
    expect(t.err()).toMatch(/eu-1 still holds 1 WHEP viewer at the deadline/);
    const u = io({ MM_NODE_URL: s.url });
    expect(await run(['drain', 'nope', '--wait'], u.io)).toBe(4);
    const v = io({ MM_NODE_URL: s.url });
    expect(await run(['drain', 'last'], v.io)).toBe(1);
    expect(v.err()).toMatch(/last relay serving region "eu"/);
    expect(parseCommand(['drain', 'x', '--wait'])).toMatchObject({ wait: true, waitMs: 300_000, timeoutMs: 5_000 });
    expect(() => parseCommand(['drain', 'x', '--undo', '--force'])).toThrow(/--undo takes no --force/);
  });

  it('HTTP errors: problem+json detail, one line, exit 3 for a refused token', async () => {
    const s = await stub((_req, res) =>
      send(res, 403, { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'admin role required' }),
    );
    const t = io();
    expect(await run(['nodes', '--url', s.url], t.io)).toBe(3);
    expect(t.err()).toBe('matchmesh: GET /api/v1/nodes → 403 Forbidden: admin role required\n');
  });

  it('an unexpected body is an error, not a crash', async () => {
    const s = await stub((_req, res) => send(res, 200, { nodes: [{ id: 'x' }] }));
    const t = io();
    expect(await run(['nodes', '--url', s.url], t.io)).toBe(1);
    expect(t.err()).toMatch(/^matchmesh: unexpected answer to GET \/api\/v1\/nodes: nodes\.0\.region/);
  });

  it('connection refused: one line, exit 5 (unavailable)', async () => {
    const s = await stub(() => {});
    server?.close();
    await once(server!, 'close');
    const t = io();
    expect(await run(['nodes', '--url', s.url], t.io)).toBe(5);
    expect(t.err()).toBe(`matchmesh: cannot reach node at ${s.url}: connection refused (is the node running?)\n`);
  });
});

describe('bin/matchmesh.js launcher', () => {
  const bin = fileURLToPath(new URL('../bin/matchmesh.js', import.meta.url));

  it('runs from any directory: token ok (exit 0), bad role (exit 2)', async () => {
    const env = { ...process.env, MM_TOKEN_SECRET: SECRET };
    const ok = spawnSync(process.execPath, [bin, 'token', '--role', 'viewer', '--stream', 'final'], {
      cwd: '/',
      env,
      encoding: 'utf8',
    });
    expect(ok.status).toBe(0);
    expect((await verifyToken(SECRET, ok.stdout.trim())).stream).toBe('final');

    const bad = spawnSync(process.execPath, [bin, 'token', '--role', 'king', '--stream', 'x'], {
      cwd: '/',
      env,
      encoding: 'utf8',
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^matchmesh: token: invalid role "king"/);
  });
});
