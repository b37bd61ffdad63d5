import type { ReportDetail } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { parseCommand } from '../src/args.ts';
import { type CliIo, run } from '../src/cli.ts';
import { formatLogLines, formatReport, formatReports } from '../src/format-reports.ts';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = {
    env: { MM_TOKEN_SECRET: 'cli-test-secret-0123456789' },
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    repoRoot: '/nonexistent-repo',
  };
  return { io: value, out: () => out.join(''), err: () => err.join('') };
}

const report: ReportDetail = {
  id: 'm1abc-0a1b2c3d4e',
  at: 1_700_000_000_000,
  sessionId: 'sess-abcdefgh',
  stream: 'match',
  nodeId: 'eu-1',
  region: 'eu',
  path: 'webrtc',
  text: 'froze  during\nthe goal',
  figures: {
    samples: [
      {
        at: 1_699_999_999_000,
        path: 'webrtc',
        nodeId: 'eu-1',
        region: 'eu',
        rttMs: 4.2,
        packetsLost: 0,
        lossPct: 0,
        jitterMs: 1.5,
        framesDecoded: 30,
        fps: 30,
        kbps: 1200.4,
        layer: '720p30',
      },
      {
        at: 1_700_000_000_000,
        path: 'webrtc',
        nodeId: 'eu-1',
        region: 'eu',
        rttMs: null,
        packetsLost: 3,
        lossPct: 2.5,
        jitterMs: null,
        framesDecoded: 30,
        fps: null,
        kbps: null,
        layer: null,
      },
    ],
    freezes: [{ at: 1_699_999_999_000, durationMs: 1000 }],
    fallbacks: [{ at: 1_700_000_000_000, from: 'webrtc', to: 'hls', reason: 'no decoded frame for 2000 ms' }],
    placementRtts: { eu: 4, asia: null },
    browser: 'Chrome 131',
    os: 'Linux',
  },
  logs: { nodeId: 'eu-1', url: 'http://127.0.0.1:8080/api/v1/logs?session=sess-abcdefgh' },
};

describe('matchmesh reports / report', () => {
  it.each([
    [['report'], /report: missing <id>/],
    [['report', 'a', 'b'], /unexpected argument "b"/],
    [['reports', '--limit', '0'], /invalid --limit "0"/],
    [['reports', 'x'], /unexpected argument "x"/],
  ])('%j → exit 2', async (argv, message) => {
    const t = io();
    expect(await run(argv, t.io)).toBe(2);
    expect(t.err()).toMatch(message);
  });

  it('parses', () => {
    expect(parseCommand(['reports', '--json', '--limit', '5'])).toMatchObject({
      kind: 'reports',
      limit: 5,
      json: true,
    });
    expect(parseCommand(['report', 'm1abc-0a1b2c3d4e', '--logs'])).toMatchObject({
      kind: 'report',
      id: 'm1abc-0a1b2c3d4e',
      logs: true,
    });
  });

  it("a node that cannot be reached is exit 5 (unavailable, the CLI's exit codes) with the reason", async () => {
    const t = io();
    expect(await run(['reports', '--url', 'http://127.0.0.1:1'], t.io)).toBe(5);
    expect(t.err()).toMatch(/cannot reach node/);
  });

  it('formats the list on one line each and a report as a short table', () => {
    const list = formatReports([report], report.at + 90_000);
    expect(list.split('\n')[1]).toMatch(
      /^m1abc-0a1b2c3d4e\s+90s ago\s+match\s+eu\/eu-1\s+webrtc\s+froze during the goal$/,
    );
    expect(formatReports([], 0)).toBe('no problem reports');
    const text = formatReport(report);
    expect(text).toContain('"froze  during\nthe goal"');
    expect(text).toContain('Chrome 131 on Linux · placement RTTs eu 4 ms · asia ✕');
    expect(text).toMatch(/\+0s\s+webrtc\s+eu-1\s+4 ms\s+0\.0%\s+2 ms\s+30\s+30\s+1200 kb\/s\s+720p30/);
    expect(text).toMatch(/\+1s\s+webrtc\s+eu-1\s+-\s+2\.5%\s+-\s+30\s+-\s+-\s+-/);
    expect(text).toContain('freezes: +0s 1.0s');
    expect(text).toContain('moves: +1s webrtc→hls (no decoded frame for 2000 ms)');
    expect(
      formatReport({
        ...report,
        figures: { ...report.figures, fallbacks: [{ ...report.figures.fallbacks[0]!, at: 1_699_999_997_000 }] },
      }),
    ).toContain('moves: -2s webrtc→hls');
    expect(text).toContain('logs: http://127.0.0.1:8080/api/v1/logs?session=sess-abcdefgh');
  });

  it('formats log lines with time, level and fields', () => {
    const text = formatLogLines([
      { level: 30, time: Date.UTC(2026, 0, 1, 20, 15, 1, 234), msg: 'peer joined', session: 's', role: 'viewer' },
    ]);
    expect(text).toBe('20:15:01.234 INFO peer joined role=viewer');
    expect(formatLogLines([])).toMatch(/^no log lines/);
  });
});
