import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import type { BoothResponse, NodeRecord } from '@matchmesh/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { E2E_VIDEO } from '../src/origin.ts';
import { REPO_ROOT } from '../src/processes.ts';
import { isTone, measureTone, waitForTone } from '../src/tone.ts';
import { waitForMoreFrames } from '../src/viewer.ts';

/** `count` consecutive TCP ports free right now, from a random base (start.mjs gives node i base + i). */
async function freeBlock(count: number): Promise<number> {
  for (;;) {
    const base = 30000 + Math.floor(Math.random() * 2000) * 3;
    const servers: net.Server[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const s = net.createServer();
        servers.push(s);
        s.listen(base + i, '127.0.0.1');
        await once(s, 'listening');
      }
      return base;
    } catch {
      // taken: another base
    } finally {
      for (const s of servers) s.close();
    }
  }
}

/**
 * `npm start` as a newcomer runs it (issue 18 item 1): the mesh the README
 * draws — an ingest in eu, a relay in eu and one in asia, the origin agent —
 * under a supervisor. A viewer in each region decodes; the origin agent and
 * then the asia relay are SIGKILLed and restarted by the supervisor while the
 * viewers keep (or get back to) playing.
 */
describe('npm start: the real topology, supervised', () => {
  let start: ChildProcess;
  let out = '';
  let browser: Browser;
  const pages: Record<string, Page> = {};
  let ingestUrl = '';
  let adminToken = '';
  const watch: Record<string, string> = {};

  /** Resolves with the first match of `re` in start.mjs's output from `from` on (an event: new output). */
  const waitForOutput = (re: RegExp, from = 0, timeoutMs = 60_000): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(out.slice(from));
        if (!m) return false;
        cleanup();
        resolve(m);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${re} in npm start's output within ${timeoutMs} ms:\n${out.slice(-4000)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        start.stdout?.off('data', check);
      };
      if (!check()) start.stdout?.on('data', check);
    });
  const pidOf = async (name: string, from = 0) =>
    Number((await waitForOutput(new RegExp(`\\[start\\] ${name} started \\(pid (\\d+)`), from))[1]);

  beforeAll(async () => {
    const http = await freeBlock(3);
    const rtc = 20000 + Math.floor(Math.random() * 100) * 100;
    start = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts/start.mjs')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ...E2E_VIDEO,
        MM_LADDER: 'off',
        LOG_LEVEL: 'warn',
        MM_HTTP_PORT: String(http),
        MM_RTC_PORT: String(rtc),
        MM_RTC_MIN_PORT: String(rtc + 30),
        MM_HEARTBEAT_MS: '500',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    start.stdout!.setEncoding('utf8');
    start.stderr!.setEncoding('utf8');
    start.stdout!.on('data', (d: string) => {
      out += d;
    });
    start.stderr!.on('data', (d: string) => {
      out += d;
    });
    await waitForOutput(/matchmesh is running/);
    for (const region of ['eu', 'asia']) {
      watch[region] = (await waitForOutput(new RegExp(`Watch \\(${region}\\)\\s+(\\S+)`)))[1]!;
    }
    ingestUrl = (await waitForOutput(/WHIP\s+(http\S+)\/whip\//))[1]!;
    adminToken = (await waitForOutput(/Ops\s+\S+\/ops\?token=(\S+)/))[1]!;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (start && start.exitCode === null) {
      start.kill('SIGTERM');
      await once(start, 'exit');
    }
  });

  it('prints a watch URL per region; three nodes in two regions register; a viewer in each region decodes', async () => {
    console.log(
      `npm start printed:\n${out.slice(out.indexOf('matchmesh is running') - 2).replace(/token=\S+/g, 'token=…')}`,
    );
    const nodes = (
      (await (
        await fetch(`${ingestUrl}/api/v1/nodes`, { headers: { Authorization: `Bearer ${adminToken}` } })
      ).json()) as {
        nodes: NodeRecord[];
      }
    ).nodes;
    expect(nodes.map((n) => `${n.id}@${n.region}`).sort()).toEqual(['ingest-eu@eu', 'relay-asia@asia', 'relay-eu@eu']);
    for (const region of ['eu', 'asia']) {
      const page = await browser.newPage();
      await page.goto(watch[region]!);
      await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
      expect(await page.evaluate(() => window.__mm?.nodeId)).toBe(`relay-${region}`);
      pages[region] = page;
    }
  });

  it('the demo booth: an en and an es commentator on air at the ingest; the asia viewer hears each language it picks', async () => {
    expect(out).toMatch(/Commentary\s+demo booth: en, es/);
    const booth = async () =>
      (await (
        await fetch(`${ingestUrl}/api/v1/streams/match/booth`, { headers: { Authorization: `Bearer ${adminToken}` } })
      ).json()) as BoothResponse;
    // The booths join once the match is live; the API is state, polled until both voices have sent a second of
    // packets and a level (the demo labels each packet with RFC 6464's level of its tone; −127 is silence).
    await expect
      .poll(
        async () =>
          (await booth()).commentators
            .filter((c) => c.packets >= 50 && (c.levelDbov ?? -127) > -127)
            .map((c) => c.lang)
            .sort(),
        {
          timeout: 30_000,
          interval: 250,
        },
      )
      .toEqual(['en', 'es']);
    const state = await booth();
    expect(state.languages.map((l) => l.lang).sort()).toEqual(['en', 'es']);
    // The asia viewer (through the pipe from the ingest) gets both tracks and hears the language it picks.
    const viewer = pages.asia!;
    await viewer.waitForFunction(() => (window.__mm?.commentaryTracks().length ?? 0) === 2, undefined, {
      timeout: 20_000,
    });
    const heard = () => measureTone(viewer, 'commentary');
    await viewer.getByTestId('language').selectOption('es');
    const es = await waitForTone(heard, isTone(900), 'the demo es booth (900 Hz) in asia');
    await viewer.getByTestId('language').selectOption('en');
    const en = await waitForTone(heard, isTone(600), 'the demo en booth (600 Hz) in asia');
    console.log(
      `demo booth heard in asia: es ${es.hz.toFixed(0)} Hz ${es.db.toFixed(1)} dB, en ${en.hz.toFixed(0)} Hz ${en.db.toFixed(1)} dB`,
    );
    console.log(
      `demo booth: ${state.commentators.map((c) => `${c.lang} ${c.packets} packets, level ${c.levelDbov} dBov, ${Math.round(c.bitrate / 1000)} kbit/s, loss ${c.lossPercent} %`).join('; ')}`,
    );
  });

  it('SIGKILL of the origin agent: the supervisor starts it again and both regions play on', async () => {
    const from = out.length;
    process.kill(await pidOf('origin'), 'SIGKILL');
    const restarted = await waitForOutput(/\[start\] origin exited \(SIGKILL\)[^\n]*restart in (\d+) ms/, from);
    console.log(`npm start: ${restarted[0]}`);
    await pidOf('origin', from);
    for (const region of ['eu', 'asia']) await waitForMoreFrames(pages[region]!, 60, 30_000);
  });

  it('SIGKILL of the asia relay: restarted, and its viewer plays again', async () => {
    const from = out.length;
    const killedAt = Date.now();
    process.kill(await pidOf('relay-asia'), 'SIGKILL');
    await waitForOutput(/\[start\] relay-asia exited \(SIGKILL\)/, from);
    await pidOf('relay-asia', from);
    await waitForMoreFrames(pages.asia!, 60, 40_000);
    console.log(`npm start: the asia viewer decodes again ${Date.now() - killedAt} ms after its relay was killed`);
    await waitForMoreFrames(pages.eu!, 30, 15_000);
  });

  it('Ctrl-C stops every child and exits 0', async () => {
    start.kill('SIGINT');
    const [code] = await once(start, 'exit');
    expect(code).toBe(0);
  });
});
