import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NodeRecord, OpsEvent, OpsSnapshot } from '@matchmesh/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommand } from '../src/args.ts';
import { type CliIo, run } from '../src/cli.ts';
import { completionScript } from '../src/completion.ts';
import { formatTop, sparkline } from '../src/format-ops.ts';

/**
 * The ops console's commands: parsing, exit codes scripts rely on, shell
 * completion run in a real bash, and the live commands against a stub node
 * speaking the API (the real node is the e2e test's).
 */
const SECRET = 'cli-ops-test-secret-0123456789';
const NOW = 1_700_000_010_000;

function io(extra: Partial<CliIo> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = {
    env: { MM_TOKEN_SECRET: SECRET },
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    repoRoot: '/nonexistent-repo',
    ...extra,
  };
  return { io: value, out: () => out.join(''), err: () => err.join('') };
}

const node = (id: string, region: string, extra: Partial<NodeRecord['load']> = {}): NodeRecord => ({
  id,
  region,
  roles: ['relay'],
  url: `http://${id}:8080`,
  mediaAddress: '10.0.0.1',
  capacity: { viewers: 100 },
  load: {
    viewers: 4,
    leaving: 0,
    streams: 1,
    bitrateOut: 3e6,
    workerCpu: 0.2,
    egressBytes: 0,
    egressCostUsd: 0,
    streamViewers: { match: 4 },
    streamHlsPlayers: { match: 2 },
    workers: [{ index: 0, pid: 1, sources: 1, viewers: 4, capacity: 100, cpu: 0.2 }],
    ...extra,
  },
  draining: false,
  startedAt: NOW - 60_000,
  heartbeatAt: NOW - 500,
});

const event = (id: string, detail: string, kind: OpsEvent['kind'] = 'drain'): OpsEvent => ({
  id,
  at: NOW,
  kind,
  nodeId: 'eu-1',
  region: 'eu',
  detail,
});

let server: Server | null = null;
afterEach(async () => {
  server?.closeAllConnections();
  server?.close();
  server = null;
});

async function stub(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': status < 300 ? 'application/json' : 'application/problem+json' });
  res.end(JSON.stringify(body));
};
const problem = (res: ServerResponse, status: number) =>
  json(res, status, { type: 'about:blank', title: 'x', status, detail: `status ${status}` });

describe('parsing the ops commands', () => {
  it('parses each one', () => {
    expect(parseCommand(['program', 'match', '--json'])).toMatchObject({
      kind: 'program',
      stream: 'match',
      json: true,
    });
    expect(parseCommand(['pipes'])).toMatchObject({ kind: 'pipes', json: false });
    expect(parseCommand(['publishers', 'drop', 'match'])).toMatchObject({ kind: 'publishers-drop', stream: 'match' });
    expect(parseCommand(['undrain', 'eu-1'])).toMatchObject({ kind: 'drain', nodeId: 'eu-1', draining: false });
    expect(parseCommand(['events', '--follow', '--limit', '5'])).toMatchObject({
      kind: 'events',
      follow: true,
      limit: 5,
    });
    expect(parseCommand(['events'])).toMatchObject({ kind: 'events', follow: false, limit: 50 });
    expect(parseCommand(['top', '--once', '--json'])).toMatchObject({ kind: 'top', once: true, json: true });
    expect(parseCommand(['completion', 'zsh'])).toEqual({ kind: 'completion', shell: 'zsh' });
  });

  it.each([
    [['program'], /program: missing <stream>/],
    [['program', 'a/b'], /invalid stream/],
    [['publishers', 'kick', 'match'], /publishers drop <stream>/],
    [['events', '--limit', '0'], /invalid --limit/],
    [['events', '--tail'], /Unknown option '--tail'/],
    [['top', '--json'], /--json needs --once/],
    [['completion', 'fish'], /completion bash/],
    [['undrain'], /missing <nodeId>/],
  ])('%j → exit 2', async (argv, message) => {
    const t = io();
    expect(await run(argv, t.io)).toBe(2);
    expect(t.err()).toMatch(message);
  });

  it('help lists every command and the exit codes', async () => {
    const t = io();
    expect(await run(['help'], t.io)).toBe(0);
    for (const c of ['program', 'booth', 'pipes', 'publishers drop', 'undrain', 'events', 'top', 'completion']) {
      expect(t.out()).toContain(`matchmesh ${c}`);
    }
    expect(t.out()).toMatch(/3 unauthorized or forbidden.*\n.*4 not found.*5 unavailable/);
  });
});

describe('exit codes scripts rely on', () => {
  it.each([
    [401, 3],
    [403, 3],
    [404, 4],
    [503, 5],
    [500, 1],
    [422, 1],
  ])('HTTP %i → exit %i', async (status, code) => {
    const url = await stub((_req, res) => problem(res, status));
    const t = io();
    expect(await run(['pipes', '--url', url], t.io)).toBe(code);
    expect(t.err()).toContain(`status ${status}`);
  });

  it('a node that does not answer in time → 5', async () => {
    const url = await stub(() => {}); // never answers
    const t = io();
    expect(await run(['pipes', '--url', url, '--timeout', '1s'], t.io)).toBe(5);
    expect(t.err()).toMatch(/no answer within 1000 ms/);
  });
});

describe('matchmesh completion', () => {
  /** Completions bash offers for the words typed so far (the last one being completed). */
  const complete = (words: string[]): string[] => {
    const script = path.join(tmpdir(), `mm-completion-${process.pid}.bash`);
    writeFileSync(script, completionScript('bash'));
    const line = `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _matchmesh; echo "\${COMPREPLY[*]}"`;
    const r = spawnSync('bash', ['--noprofile', '--norc', '-c', line], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin' },
    });
    expect(r.stderr).toBe('');
    return r.stdout.trim().split(/\s+/).filter(Boolean);
  };

  it('bash: commands, options, roles', () => {
    expect(complete(['matchmesh', 't'])).toEqual(['token', 'top']);
    expect(complete(['matchmesh', 'events', '--f'])).toEqual(['--follow']);
    expect(complete(['matchmesh', 'token', '--role', 'ad'])).toEqual(['admin']);
    // No matchmesh on this PATH (or no node answering): no node ids, and no error.
    expect(complete(['matchmesh', 'drain', 'x'])).toEqual([]);
  });

  it('zsh: a #compdef script naming every command', async () => {
    const t = io();
    expect(await run(['completion', 'zsh'], t.io)).toBe(0);
    expect(t.out().split('\n')[0]).toBe('#compdef matchmesh');
    expect(t.out()).toContain(
      'compadd -- token nodes streams drain undrain scale-advice program booth pipes publishers events top',
    );
    expect(t.out()).toContain('compdef _matchmesh matchmesh');
  });
});

describe('matchmesh top', () => {
  const snapshot: OpsSnapshot = {
    at: NOW,
    nodeId: 'eu-1',
    nodes: [node('eu-1', 'eu'), node('eu-2', 'eu', { viewers: 95 }), node('asia-1', 'asia', { streamViewers: {} })],
    streams: [{ stream: 'match', ingest: { nodeId: 'eu-1', role: 'primary' }, regions: [], viewers: 8, hlsViewers: 6 }],
    pipes: [],
    cost: null,
    reports: null,
  };

  it('a frame: totals, regions with their nodes and health, streams, events; no cost/report sections without them', () => {
    const frame = formatTop(snapshot, [event('1-0', 'drained by ops')], new Map([['eu-1', [1e6, 2e6, 3e6]]]));
    const lines = frame.split('\n');
    expect(lines[0]).toMatch(/^matchmesh top — 3 nodes · 8 WebRTC · 6 HLS · 9\.0 Mbit\/s out/);
    expect(frame.indexOf('REGION asia')).toBeLessThan(frame.indexOf('REGION eu'));
    expect(lines.find((l) => l.includes(' eu-2 '))).toMatch(
      /^\s+BAD\s+eu-2\s+relay\s+95\/100\s+2\s.*95 % of capacity$/,
    );
    expect(lines.find((l) => l.includes(' eu-1 '))).toMatch(/^\s+ok\s+eu-1 .*▃▆█/);
    expect(frame).toMatch(/STREAMS\n.*\n\s+match\s+eu-1 \(primary\)\s+-\s+8\s+6/);
    expect(frame).toMatch(/EVENTS \(last 1\)\n\s+\d\d:\d\d:\d\d\s+drain\s+eu-1 \(eu\)\s+drained by ops/);
    expect(frame).not.toContain('COST');
    expect(frame).not.toContain('PROBLEM REPORTS');
    expect(sparkline([0, 5, 10])).toBe('▁▅█');
  });

  it('live: redraws on every snapshot of the stream, with the events it carried, until stopped', async () => {
    const url = await stub((req, res) => {
      expect(req.url).toMatch(/^\/api\/v1\/live\?token=ey/);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: ops-event\ndata: ${JSON.stringify(event('1-0', 'first drain'))}\n\n`);
      res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
      res.write(`event: snapshot\ndata: ${JSON.stringify({ ...snapshot, at: NOW + 2000 })}\n\n`);
    });
    const stop = new AbortController();
    const frames: string[] = [];
    const t = io({
      signal: stop.signal,
      stdout: (text) => {
        frames.push(text);
        if (frames.length === 2) stop.abort();
      },
    });
    expect(await run(['top', '--url', url], t.io)).toBe(0);
    expect(frames).toHaveLength(2);
    for (const f of frames) expect(f.startsWith('\x1b[2J\x1b[H')).toBe(true);
    expect(frames[1]).toContain('first drain');
  });

  it('the node ending the stream (token expired) is a refusal (exit 3), said on one line', async () => {
    const url = await stub((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('event: end\ndata: "token expired"\n\n');
    });
    const t = io();
    expect(await run(['top', '--url', url], t.io)).toBe(3);
    expect(t.err()).toBe('matchmesh: the node ended the stream: token expired\n');
  });
});

describe('matchmesh events --follow', () => {
  it('prints the last events, then each new one once, as JSON lines', async () => {
    const url = await stub((req, res) => {
      if (req.url!.startsWith('/api/v1/events')) {
        expect(req.url).toBe('/api/v1/events?limit=2');
        return json(res, 200, { events: [event('1-0', 'a'), event('2-0', 'b')] });
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // The stream opens with history the command has already printed (2-0), then a new one.
      for (const e of [event('1-0', 'a'), event('2-0', 'b'), event('3-0', 'c', 'fallback')]) {
        res.write(`event: ops-event\ndata: ${JSON.stringify(e)}\n\n`);
      }
    });
    const stop = new AbortController();
    const lines: string[] = [];
    const t = io({
      signal: stop.signal,
      stdout: (text) => {
        lines.push(text);
        if (lines.length === 3) stop.abort();
      },
    });
    expect(await run(['events', '--follow', '--json', '--limit', '2', '--url', url], t.io)).toBe(0);
    expect(lines.map((l) => (JSON.parse(l) as OpsEvent).detail)).toEqual(['a', 'b', 'c']);
  });
});

describe('matchmesh booth', () => {
  const booth = {
    stream: 'match',
    nodeId: 'ingest-eu',
    languages: [
      { lang: 'en', commentators: 1, mixerLagMs: 68 },
      { lang: 'es', commentators: 0 },
    ],
    commentators: [
      {
        id: '0f3c9a1e-aaaa-4bbb-8ccc-000000000001',
        lang: 'en',
        since: NOW - 90_000,
        levelDbov: -23,
        packets: 4500,
        packetsLost: 12,
        lossPercent: 0.8,
        rttMs: 41.5,
        jitter: 96,
        bitrate: 38_400,
      },
    ],
  };

  it('parses `booth <stream>` and refuses a missing or malformed stream', () => {
    expect(parseCommand(['booth', 'match', '--json'])).toMatchObject({ kind: 'booth', stream: 'match', json: true });
    expect(() => parseCommand(['booth'])).toThrow(/booth: missing <stream>/);
    expect(() => parseCommand(['booth', 'a/b'])).toThrow(/invalid stream/);
  });

  it("prints the languages on air and each commentator's level, loss and RTT from the node's booth route", async () => {
    let asked = '';
    const url = await stub((req, res) => {
      asked = req.url ?? '';
      json(res, 200, booth);
    });
    const t = io();
    expect(await run(['booth', 'match', '--url', url], t.io)).toBe(0);
    expect(asked).toBe('/api/v1/streams/match/booth');
    const text = t.out();
    // The mixer's lag where the node measured it (es: not yet).
    expect(text).toContain('match on ingest-eu: languages on air en (1), es (0); mixer lag en 68 ms');
    expect(text).toMatch(/0f3c9a1e\s+en\s+\S+\s+-23 dBov\s+0\.8%\s+12\s+42 ms\s+2\.0 ms\s+38 kbit\/s/);
    const j = io();
    expect(await run(['booth', 'match', '--url', url, '--json'], j.io)).toBe(0);
    expect(JSON.parse(j.out())).toEqual(booth);
  });

  it('a node without the stream → exit 4 (not found)', async () => {
    const url = await stub((_req, res) => problem(res, 404));
    const t = io();
    expect(await run(['booth', 'match', '--url', url], t.io)).toBe(4);
  });
});
