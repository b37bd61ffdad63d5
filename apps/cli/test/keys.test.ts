import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommand } from '../src/args.ts';
import { type CliIo, run } from '../src/cli.ts';
import { verifyToken } from '../src/tokens.ts';

/** `matchmesh keys …` and MM_TOKEN_KID against a stub node (the e2e keys test runs them against real nodes). */
const SECRET = 'cli-keys-test-secret-0123456789';

function io(env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = {
    env: { MM_TOKEN_SECRET: SECRET, ...env },
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    repoRoot: '/nonexistent-repo',
    now: () => 1_700_000_060_000,
  };
  return { io: value, out: () => out.join(''), err: () => err.join('') };
}

let server: Server | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
});

/** A node that answers each `METHOD path` from `answers`; records what it was asked. */
async function stub(answers: Record<string, [number, unknown]>) {
  const seen: { method?: string; url?: string; auth?: string }[] = [];
  server = createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, auth: req.headers.authorization });
    const [status, body] = answers[`${req.method} ${req.url}`] ?? [404, { title: 'Not Found', status: 404 }];
    res.writeHead(status, { 'content-type': status < 400 ? 'application/json' : 'application/problem+json' });
    res.end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const keys = {
  keys: [
    { kid: 'k0', createdAt: 1_700_000_000_000, state: 'verify' },
    { kid: 'k1', createdAt: 1_700_000_050_000, state: 'signing' },
  ],
};

describe('matchmesh keys', () => {
  it.each([
    [['keys', 'burn'], /keys: unknown action "burn"/],
    [['keys', 'retire'], /keys retire: missing <kid>/],
    [['keys', 'retire', 'k 1'], /keys retire: invalid kid/],
    [['keys', 'retire', 'k1', 'k2'], /unexpected argument "k2"/],
    [['keys', 'list', 'k1'], /keys list: unexpected argument "k1"/],
  ])('%j → exit 2', async (argv, message) => {
    const t = io();
    expect(await run(argv, t.io)).toBe(2);
    expect(t.err()).toMatch(message);
  });

  it('parses list (the default), rotate and retire', () => {
    expect(parseCommand(['keys'])).toMatchObject({ kind: 'keys', action: 'list', kid: undefined });
    expect(parseCommand(['keys', 'rotate', '--json'])).toMatchObject({ action: 'rotate', json: true });
    expect(parseCommand(['keys', 'retire', 'k0', '--url', 'http://n:1'])).toMatchObject({
      action: 'retire',
      kid: 'k0',
      url: 'http://n:1',
    });
  });

  it('list: a table, and --json the raw answer', async () => {
    const s = await stub({ 'GET /api/v1/keys': [200, keys] });
    const t = io();
    expect(await run(['keys', 'list', '--url', s.url], t.io)).toBe(0);
    const lines = t.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^KID\s+STATE\s+CREATED$/);
    expect(lines[1]).toMatch(/^k0\s+verify\s+2023-11-14T22:13:20\.000Z \(60s ago\)$/);
    expect(lines[2]).toMatch(/^k1\s+signing\s+2023-11-14T22:14:10\.000Z \(10s ago\)$/);
    const j = io();
    expect(await run(['keys', '--url', s.url, '--json'], j.io)).toBe(0);
    expect(JSON.parse(j.out())).toEqual(keys);
  });

  it('rotate prints the secret once with what to do next; retire names the key; a 409 is exit 1 with its detail', async () => {
    const rotated = { key: { kid: 'k2', createdAt: 1, state: 'signing' }, secret: 's'.repeat(43), nodesReloaded: 2 };
    const s = await stub({
      'POST /api/v1/keys/rotate': [200, rotated],
      'POST /api/v1/keys/k0/retire': [200, { key: { kid: 'k0', createdAt: 1, state: 'retired' }, nodesReloaded: 2 }],
      'POST /api/v1/keys/k2/retire': [
        409,
        {
          type: 'https://matchmesh.dev/problems/conflict',
          title: 'Conflict',
          status: 409,
          detail: 'key "k2" signs new tokens: rotate first, then retire it',
        },
      ],
    });
    const t = io();
    expect(await run(['keys', 'rotate', '--url', s.url], t.io)).toBe(0);
    expect(t.out()).toContain('new signing key k2 (2 node(s) reloaded now');
    expect(t.out()).toContain(`secret (shown once): ${'s'.repeat(43)}`);
    expect(t.out()).toContain('MM_TOKEN_KID=k2');
    const j = io();
    expect(await run(['keys', 'rotate', '--url', s.url, '--json'], j.io)).toBe(0);
    expect(JSON.parse(j.out())).toEqual(rotated);

    const r = io();
    expect(await run(['keys', 'retire', 'k0', '--url', s.url], r.io)).toBe(0);
    expect(r.out()).toBe('key k0 retired: its tokens are refused (2 node(s) reloaded now)\n');
    const c = io();
    expect(await run(['keys', 'retire', 'k2', '--url', s.url], c.io)).toBe(1);
    expect(c.err()).toContain('409 Conflict: key "k2" signs new tokens');
  });

  it('MM_TOKEN_KID: token and admin calls are signed with that key and name it', async () => {
    const env = { MM_TOKEN_KID: 'k3', MM_TOKEN_SECRET: 'rotated-key-secret-abcdefghijk' };
    const t = io(env);
    expect(await run(['token', '--role', 'viewer', '--stream', 'final', '--json'], t.io)).toBe(0);
    const printed = JSON.parse(t.out());
    expect(printed.kid).toBe('k3');
    expect(decodeProtectedHeader(printed.token).kid).toBe('k3');
    expect(await verifyToken(env.MM_TOKEN_SECRET, printed.token)).toMatchObject({ role: 'viewer' });

    const s = await stub({ 'GET /api/v1/keys': [200, keys] });
    expect(await run(['keys', '--url', s.url], io(env).io)).toBe(0);
    expect(decodeProtectedHeader(s.seen[0]!.auth!.replace(/^Bearer /, '')).kid).toBe('k3');

    // Without it: no kid (the nodes read the bootstrap key k0).
    const plain = io();
    expect(await run(['token', '--role', 'viewer', '--stream', 'final', '--json'], plain.io)).toBe(0);
    expect(JSON.parse(plain.out()).kid).toBe('k0');
    expect(decodeProtectedHeader(JSON.parse(plain.out()).token).kid).toBeUndefined();

    const bad = io({ MM_TOKEN_KID: 'k 3' });
    expect(await run(['token', '--role', 'viewer', '--stream', 'final'], bad.io)).toBe(1);
    expect(bad.err()).toContain('MM_TOKEN_KID "k 3" is not a key id');
  });
});
