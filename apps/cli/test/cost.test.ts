import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CostResponse } from '@matchmesh/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../src/args.ts';
import { type CliIo, run } from '../src/cli.ts';
import { bytes, formatCost, usd } from '../src/cost.ts';

const SECRET = 'cli-cost-test-secret-0123456789';
const NOW = 1_700_000_010_000;

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = {
    env: { MM_TOKEN_SECRET: SECRET },
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    repoRoot: '/nonexistent-repo',
    now: () => NOW,
  };
  return { io: value, out: () => out.join(''), err: () => err.join('') };
}

const night: CostResponse = {
  currency: 'USD',
  cdnUsdPerGb: 0.085,
  since: NOW - 3_600_000,
  regions: [
    { region: 'asia', bytes: { webrtc: 40e9, hls: 10e9, pipes: 0 }, usdPerGb: 0.09, usd: 4.5, cdnUsd: 4.25 },
    { region: 'eu', bytes: { webrtc: 100e9, hls: 0, pipes: 2e9 }, usdPerGb: 0.02, usd: 2.04, cdnUsd: 8.5 },
  ],
  total: { bytes: { webrtc: 140e9, hls: 10e9, pipes: 2e9 }, usd: 6.54, cdnUsd: 12.75 },
};

let server: Server | null = null;
afterEach(() => {
  server?.close();
  server = null;
});

async function stub(status: number, body: unknown) {
  const seen: string[] = [];
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(status, { 'content-type': status < 400 ? 'application/json' : 'application/problem+json' });
    res.end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('matchmesh cost', () => {
  it('parses --reset, --url, --json and refuses extra arguments', () => {
    expect(parseCommand(['cost', '--json', '--url', 'http://n:1'])).toMatchObject({
      kind: 'cost',
      reset: false,
      json: true,
      url: 'http://n:1',
    });
    expect(parseCommand(['cost', '--reset'])).toMatchObject({ kind: 'cost', reset: true });
    expect(() => parseCommand(['cost', 'eu'])).toThrow(UsageError);
  });

  it('prints each region, the total and the CDN comparison; --json is the node’s answer as is', async () => {
    const s = await stub(200, night);
    const t = io();
    expect(await run(['cost', '--url', s.url], t.io)).toBe(0);
    const lines = t.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REGION\s+WEBRTC\s+HLS\s+PIPES\s+USD\/GB\s+COST\s+AT CDN$/);
    expect(lines[1]).toMatch(/^asia\s+40\.0 GB\s+10\.0 GB\s+0 B\s+0\.090\s+\$4\.50\s+\$4\.25$/);
    expect(lines[2]).toMatch(/^eu\s+100\.0 GB\s+0 B\s+2\.00 GB\s+0\.020\s+\$2\.04\s+\$8\.50$/);
    expect(lines[3]).toMatch(/^total\s+140\.0 GB\s+10\.0 GB\s+2\.00 GB\s+\$6\.54\s+\$12\.75$/);
    expect(lines[4]).toContain("the same viewers' bytes at the CDN's $0.085/GB $12.75 (saves $6.21, 49 %)");
    expect(lines[4]).toContain('(60m ago)');
    expect(s.seen).toEqual(['GET /api/v1/cost']);

    const j = io();
    expect(await run(['cost', '--json', '--url', s.url], j.io)).toBe(0);
    expect(JSON.parse(j.out())).toEqual(night);
  });

  it("--reset posts the reset; a refused token exits 3 (unauthorized, the CLI's exit codes) with the problem’s detail", async () => {
    const ok = await stub(200, { since: NOW });
    const t = io();
    expect(await run(['cost', '--reset', '--url', ok.url], t.io)).toBe(0);
    expect(ok.seen).toEqual(['POST /api/v1/cost/reset']);
    expect(t.out()).toContain(new Date(NOW).toISOString());
    server?.close();
    const refused = await stub(403, {
      type: 'about:blank',
      title: 'Forbidden',
      status: 403,
      detail: 'token does not grant admin',
    });
    const f = io();
    expect(await run(['cost', '--url', refused.url], f.io)).toBe(3);
    expect(f.err()).toMatch(/403.*token does not grant admin/);
  });

  it('formats bytes in decimal units and says when nothing was counted', () => {
    expect([bytes(0), bytes(999), bytes(1500), bytes(2.5e9), bytes(1.2e13)]).toEqual([
      '0 B',
      '999 B',
      '1.50 kB',
      '2.50 GB',
      '12.0 TB',
    ]);
    expect([usd(0), usd(0.000083), usd(0.5), usd(12.345), usd(1234.5)]).toEqual([
      '$0',
      '$0.000083',
      '$0.50',
      '$12.35',
      '$1235',
    ]);
    expect(formatCost({ ...night, regions: [], total: { ...night.total, usd: 0, cdnUsd: 0 } }, NOW)).toMatch(
      /^no bytes counted yet since /,
    );
  });
});
