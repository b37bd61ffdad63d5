import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ScoreUpdate } from '@matchmesh/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { processAlive, until } from './wait.ts';
import { TestWhipAnswerer } from './whip-answerer.ts';

/*
 * The CLI as an operator runs it: env config, score API on a free port,
 * graceful SIGTERM (WHIP DELETE, ffmpeg gone).
 */

const TOKEN = 'publisher-token-0123456789';
// Compiled by the set-up's `tsc -b`, as the image runs it.
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

let child: ChildProcess | undefined;
let answerer: TestWhipAnswerer | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await answerer?.stop();
});

describe('origin CLI', () => {
  it('publishes, serves the score API, and shuts down cleanly on SIGTERM', async () => {
    answerer = new TestWhipAnswerer(TOKEN);
    const url = await answerer.start();
    child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        MM_INGEST_URL: url,
        MM_STREAM: 'final',
        MM_PUBLISH_TOKEN: TOKEN,
        MM_SCORE_INTERVAL_MS: '100',
        // The CI ladder through the CLI's env (the default 1080p ladder costs most of a core).
        MM_LADDER: '640x360@30:600,320x180@30:300,160x90@30:150',
        MM_ORIGIN_API_PORT: '0',
        ORIGIN_API_TOKEN: 'api-token-0123',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // Structured logs on stdout: find the API address and ffmpeg's pid in them.
    const logs: Array<Record<string, unknown>> = [];
    const lines = createInterface({ input: child.stdout! });
    const logEvents = new EventEmitter();
    lines.on('line', (line) => {
      try {
        logs.push(JSON.parse(line));
        logEvents.emit('log');
      } catch {
        // not a log line
      }
    });
    const find = (msg: string) => logs.find((l) => l.msg === msg);
    await until(logEvents, 'log', () => !!find('score API listening') && !!find('ffmpeg started'), 'startup logs');
    const api = find('score API listening')!.address as string;
    const ffmpegPid = find('ffmpeg started')!.pid as number;

    await until(answerer, 'score', () => (answerer!.sessions[0]?.scores.length ?? 0) >= 3, 'generated scores');
    expect(answerer.posts[0]!.path).toBe('/whip/final');

    const res = await fetch(`${api}/scores`, {
      method: 'POST',
      headers: { authorization: 'Bearer api-token-0123', 'content-type': 'application/json' },
      body: JSON.stringify({
        score: {
          players: [
            { name: 'Lee', frames: 8, points: 9 },
            { name: 'Ortiz', frames: 7, points: 0 },
          ],
          raceTo: 9,
          frame: 16,
          atTable: 0,
          event: 'Match to Lee 9-7',
        },
      }),
    });
    expect(res.status).toBe(202);
    const posted = ScoreUpdate.parse(await res.json());
    expect(posted.stream).toBe('final');
    await until(answerer, 'score', () => answerer!.scores.some((u) => u.seq === posted.seq), 'the posted score');
    expect(answerer.scores.find((u) => u.seq === posted.seq)!.score.event).toBe('Match to Lee 9-7');

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(answerer.sessions[0]!.deleted).toBe(true);
    expect(processAlive(ffmpegPid)).toBe(false);
  });
});
