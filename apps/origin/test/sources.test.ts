import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OriginAgent } from '../src/agent.ts';
import { until } from './wait.ts';
import { TestWhipAnswerer } from './whip-answerer.ts';

/*
 * External inputs: a file (looped, no audio track: the agent must still send
 * Opus) and an RTMP push (what OBS does), both transcoded to the same
 * H.264/Opus RTP as the test pattern.
 */

const TOKEN = 'publisher-token-0123456789';
let dir: string;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mm-origin-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function ffmpeg(args: string[]): Promise<void> {
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], {
    stdio: 'inherit',
  });
  const [code] = await once(child, 'exit');
  expect(code).toBe(0);
}

async function publish(source: string) {
  const answerer = new TestWhipAnswerer(TOKEN);
  const url = await answerer.start();
  const agent = new OriginAgent({
    ingestUrl: url,
    stream: 'match',
    token: TOKEN,
    source,
    scoreIntervalMs: 0,
  });
  cleanups.push(async () => {
    await agent.stop();
    await answerer.stop();
  });
  await agent.start();
  return { answerer, agent };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  srv.close();
  return port;
}

describe('external sources', () => {
  it('loops a file without audio, sending H.264 and a silent Opus track', async () => {
    // 1 s at 25 fps, 640x360: the agent must scale to 720p, resample to 30 fps and loop.
    const file = join(dir, 'clip.mp4');
    await ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=s=640x360:r=25',
      '-t',
      '1',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      file,
    ]);
    const { answerer, agent } = await publish(file);
    await until(
      answerer,
      'rtp',
      () => {
        const s = answerer.sessions[0];
        return !!s && s.rtp.h264 > 30 && s.rtp.opus > 25 && s.spsProfile !== undefined;
      },
      'H.264 and Opus from the file',
    );
    expect(answerer.sessions[0]!.spsProfile!.endsWith('1f')).toBe(true);
    // Past the end of the 1 s file: it loops.
    await until(answerer, 'rtp', () => agent.stats.frame > 45, 'frames beyond the file length');
    expect(agent.stats.sourceRestarts).toBe(0);
  });

  it('restarts a crashed ffmpeg; the ingest sees one continuous RTP stream', async () => {
    const { answerer, agent } = await publish('testpattern');
    await until(answerer, 'rtp', () => (answerer.sessions[0]?.rtp.h264 ?? 0) > 30, 'video before the crash');
    const session = answerer.sessions[0]!;
    const pid = agent.ffmpegPid!;
    const frameBefore = agent.stats.frame;
    process.kill(pid, 'SIGKILL');
    const before = session.rtp.h264;
    await until(
      answerer,
      'rtp',
      () => agent.stats.sourceRestarts === 1 && session.rtp.h264 > before + 60,
      'video after the restart',
    );
    expect(agent.ffmpegPid).not.toBe(pid);
    expect(answerer.sessions).toHaveLength(1); // the WHIP session survived
    expect(session.maxVideoSeqJump).toBe(1); // sequence numbers rewritten to continue
    expect(session.maxVideoTsJump).toBeLessThanOrEqual(3000); // no timestamp leap either
    // The media clock (score mediaTime) continues too, instead of restarting at 0.
    expect(agent.stats.frame).toBeGreaterThan(frameBefore + 10);
  });

  it('accepts an RTMP push (OBS) on a listening URL', async () => {
    const rtmp = `rtmp://127.0.0.1:${await freePort()}/live`;
    const { answerer } = await publish(rtmp);
    // "OBS": retried on exit until the agent's ffmpeg listens (there is no readiness signal to await).
    let pusher: ChildProcess | undefined;
    let stopped = false;
    const push = () => {
      if (stopped) return;
      pusher = spawn(
        'ffmpeg',
        // biome-ignore format: ffmpeg flag/value pairs
        ['-hide_banner', '-loglevel', 'quiet', '-nostdin', '-re',
          '-f', 'lavfi', '-i', 'testsrc2=s=1280x720:r=30', '-f', 'lavfi', '-i', 'sine=frequency=500',
          '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '60', '-threads', '1',
          '-c:a', 'aac', '-f', 'flv', `${rtmp}/match`],
        { stdio: 'ignore' },
      );
      pusher.once('exit', () => setTimeout(push, 100));
    };
    cleanups.push(() => {
      stopped = true;
      pusher?.kill('SIGKILL');
    });
    push();
    await until(
      answerer,
      'rtp',
      () => {
        const s = answerer.sessions[0];
        return !!s && s.rtp.h264 > 60 && s.rtp.opus > 25;
      },
      'media pushed over RTMP',
      20_000,
    );
  });
});
