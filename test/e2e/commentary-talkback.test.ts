// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { signToken } from '@matchmesh/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { startNode, type TestNode, token, tokenSecret } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';
import type { ManagedProcess } from '../src/processes.ts';
import { TestSignaling } from '../src/signaling.ts';
import { measureToneLevels, writeToneWav } from '../src/tone.ts';

/** Each commentator's fake microphone plays one tone (the match's own sound, 440 Hz, never reaches talkback). */
const VOICES = {
  ann: { lang: 'en', hz: 600 },
  sol: { lang: 'es', hz: 1500 },
  tom: { lang: 'en', hz: 1000 },
} as const;
type Who = keyof typeof VOICES;
const FREQS = [440, VOICES.ann.hz, VOICES.sol.hz, VOICES.tom.hz];
/**
 * A tone's FFT bin through Opus and WebAudio: a voice heard measures ≈ −32 dB (present: above −60). Absent: below
 * −65 — the other voices' Opus coding noise reaches −79…−104 dB at a tone's bin (measured), a voice that leaked
 * would be at ≈ −32 dB, and a mute gives −∞. The match sound's 440 Hz sits nearer the voices' tones, where that
 * noise reached −66 dB: absent there is below −55.
 */
const HEARD = -60;
const ABSENT = -65;
const VENUE_ABSENT = -55;

/**
 * Talkback in the booth (issue 16): commentators on one stream's ingest hear each other's voices — every
 * language, raw, never their own — through what the booth page plays for talkback (`__mmBooth.talkbackOutput()`,
 * measured with WebAudio's AnalyserNode at each tone), mute one person (remembered across a reload), and
 * hear a third commentator who joins. One node, one origin, one Chromium per fake microphone.
 */
describe('commentary talkback', () => {
  const stream = 'talkback';
  let redis: RedisServer;
  let node: TestNode;
  let origin: ManagedProcess;
  let dir: string;
  const browsers: Browser[] = [];
  const booths: Partial<Record<Who, Page>> = {};

  /** Once the booth's own player shows the match (the stream is live), press "Go on air". */
  const goOnAir = async (page: Page) => {
    await page.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 10, undefined, { timeout: 30_000 });
    await page.getByTestId('on-air').click();
    await page.waitForFunction(() => window.__mmBooth?.state === 'live', undefined, { timeout: 20_000 });
  };

  const openBooth = async (who: Who): Promise<Page> => {
    const { lang, hz } = VOICES[who];
    const browser = await launchChromium([
      `--use-file-for-fake-audio-capture=${writeToneWav(path.join(dir, `${who}.wav`), hz)}`,
    ]);
    browsers.push(browser);
    const page = await browser.newPage();
    // The booth link names its holder (`sub`): the others' Booth list shows it.
    const t = await signToken(tokenSecret(), { role: 'commentator', stream, lang, sub: who, ttl: '1h' });
    await page.goto(`${node.url}/commentate?stream=${stream}&token=${t}&raw=1`);
    await goOnAir(page);
    booths[who] = page;
    return page;
  };

  /** The Booth list of `who`'s page once it names exactly `mates` (sorted), with their languages and mutes. */
  const mates = async (who: Who, names: Who[]) => {
    await booths[who]!.waitForFunction(
      (want) => JSON.stringify((window.__mmBooth?.talkback ?? []).map((m) => m.name).sort()) === want,
      JSON.stringify([...names].sort()),
      { timeout: 15_000 },
    );
    return booths[who]!.evaluate(() =>
      (window.__mmBooth?.talkback ?? []).map((m) => ({ name: m.name, lang: m.lang, muted: m.muted })),
    );
  };

  /** Measure `who`'s talkback output until each tone named is heard (true) or absent (false). */
  const hears = async (who: Who, want: Partial<Record<Who | 'venue', boolean>>, what: string) => {
    const page = booths[who]!;
    await page.waitForFunction(() => window.__mmBooth?.talkbackOutput() != null, undefined, { timeout: 15_000 });
    await page.evaluate(() => {
      window.__toneTracks = [window.__mmBooth!.talkbackOutput()!];
    });
    const hz = { venue: 440, ann: VOICES.ann.hz, sol: VOICES.sol.hz, tom: VOICES.tom.hz };
    const ok = (levels: number[]) =>
      Object.entries(want).every(([k, heard]) => {
        const db = levels[FREQS.indexOf(hz[k as keyof typeof hz])]!;
        return heard ? db > HEARD : !(db > (k === 'venue' ? VENUE_ABSENT : ABSENT));
      });
    let levels: number[] = [];
    for (const end = Date.now() + 15_000; Date.now() < end; ) {
      levels = await measureToneLevels(page, FREQS);
      if (ok(levels)) break;
    }
    const text = FREQS.map((f, i) => `${f} Hz ${levels[i]!.toFixed(1)} dB`).join(', ');
    expect(ok(levels), `${what}: ${text}`).toBe(true);
    console.log(`talkback: ${what}: ${text}`);
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mm-talkback-'));
    redis = await startRedisServer();
    node = await startNode(redis.url);
    origin = await startOrigin(node.url, stream, { MM_SCORE_INTERVAL_MS: '1000' });
    await Promise.all([openBooth('ann'), openBooth('sol')]);
  });

  afterAll(async () => {
    for (const b of browsers) await b.close().catch(() => undefined);
    await origin?.stop();
    await node?.stop();
    await redis?.stop();
  });

  it('refuses talkback to a viewer with a typed error', async () => {
    const s = await TestSignaling.connect(node.url);
    try {
      expect((await s.request('join', { stream, token: await token('viewer', stream) })).ok).toBe(true);
      const refused = await s.request('consumeTalkback', {
        transportId: '00000000-0000-4000-8000-000000000000',
        rtpCapabilities: { codecs: [] },
      });
      expect(refused.ok ? 'ok' : refused.error.code).toBe('forbidden');
    } finally {
      s.close();
    }
  });

  it('each commentator hears the other, not themself (nor the match sound), and sees them speak', async () => {
    expect(await mates('ann', ['sol'])).toEqual([{ name: 'sol', lang: 'es', muted: false }]);
    expect(await mates('sol', ['ann'])).toEqual([{ name: 'ann', lang: 'en', muted: false }]);
    await hears('ann', { sol: true, ann: false, venue: false }, 'ann (en) hears sol');
    await hears('sol', { ann: true, sol: false, venue: false }, 'sol (es) hears ann');
    await booths.ann!.getByTestId('talkback-mate').and(booths.ann!.locator('[data-speaking=true]')).waitFor();
  });

  it('muting one person silences them, remembered across a reload of the booth; unmuting brings them back', async () => {
    const ann = booths.ann!;
    await ann.getByTestId('talkback-mute').click();
    await hears('ann', { sol: false }, 'ann muted sol');
    // The speakers follow the same mute: sol's element is muted, none is paused.
    expect(await ann.evaluate(() => window.__mmBooth?.talkbackPlaying().map((p) => [p.muted, p.paused]))).toEqual([
      [true, false],
    ]);
    // Still speaking, only not heard: the light reads the voice before the mute.
    await ann.locator('[data-testid=talkback-mate][data-muted=true][data-speaking=true]').waitFor();
    await ann.reload();
    await goOnAir(ann);
    expect(await mates('ann', ['sol'])).toEqual([{ name: 'sol', lang: 'es', muted: true }]);
    await hears('ann', { sol: false }, 'ann after a reload, sol still muted');
    await ann.getByTestId('talkback-mute').click();
    await hears('ann', { sol: true }, 'ann unmuted sol');
    expect(await ann.evaluate(() => window.__mmBooth?.talkbackPlaying().map((p) => [p.muted, p.paused]))).toEqual([
      [false, false],
    ]);
    // Sol hears the reloaded ann again (her new voice, the same person).
    await hears('sol', { ann: true }, 'sol hears ann after her reload');
  });

  it('a third commentator joining is heard by both, and hears both', async () => {
    await openBooth('tom');
    expect(await mates('ann', ['sol', 'tom'])).toEqual(
      expect.arrayContaining([{ name: 'tom', lang: 'en', muted: false }]),
    );
    await mates('sol', ['ann', 'tom']);
    await mates('tom', ['ann', 'sol']);
    await hears('ann', { tom: true, sol: true, ann: false }, 'ann hears tom and sol');
    await hears('sol', { tom: true, ann: true, sol: false }, 'sol hears tom and ann');
    await hears('tom', { ann: true, sol: true, tom: false }, 'tom hears ann and sol');
    for (const who of ['ann', 'sol', 'tom'] as const) {
      const playing = await booths[who]!.evaluate(() => window.__mmBooth?.talkbackPlaying() ?? []);
      expect(
        playing.map((p) => [p.muted, p.paused]),
        who,
      ).toEqual([
        [false, false],
        [false, false],
      ]);
    }
  });
});
