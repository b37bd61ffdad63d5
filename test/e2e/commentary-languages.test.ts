import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { type LiveMatch, startLiveMatch } from '../src/match.ts';
import { commentatorToken, token } from '../src/node.ts';
import { TestSignaling } from '../src/signaling.ts';
import { isSilent, isTone, measureTone, waitForTone, writeToneWav } from '../src/tone.ts';

/** Each language's commentator speaks one tone (the match's own sound is 440 Hz). */
const TONES = { en: 600, es: 1500 } as const;

/**
 * Two commentators in two languages (Chromium's fake microphone playing a
 * tone each) are mixed into one track per language at the ingest; a WebRTC
 * viewer hears the language it picks (default: the stream's, en), switches,
 * and picks the venue sound only; a WHEP player's `?lang=` picks the track of
 * its second audio m-line. Tones are measured with WebAudio's AnalyserNode.
 */
describe('commentary languages', () => {
  const stream = 'langs';
  let match: LiveMatch;
  const booths: Browser[] = [];

  const openBooth = async (lang: keyof typeof TONES, wav: string): Promise<Page> => {
    const browser = await launchChromium([`--use-file-for-fake-audio-capture=${wav}`]);
    booths.push(browser);
    const page = await browser.newPage();
    const t = await commentatorToken(stream, lang);
    await page.goto(`${match.node.url}/commentate?stream=${stream}&token=${t}&autostart=1&raw=1`);
    await page.waitForFunction(() => window.__mmBooth?.state === 'live', undefined, { timeout: 20_000 });
    return page;
  };

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-tones-'));
    match = await startLiveMatch(stream);
    await openBooth('es', writeToneWav(path.join(dir, 'es.wav'), TONES.es));
    await openBooth('en', writeToneWav(path.join(dir, 'en.wav'), TONES.en));
  });

  afterAll(async () => {
    for (const b of booths) await b.close().catch(() => undefined);
    await match?.stop();
  });

  it('refuses another language, a bad tag, a viewer token and video from a commentator', async () => {
    const s = await TestSignaling.connect(match.node.url);
    const en = await commentatorToken(stream, 'en');
    const other = await s.request('join', { stream, token: en, role: 'commentator', lang: 'es' });
    expect(other.ok ? 'ok' : other.error.code).toBe('forbidden');
    const bad = await s.request('join', { stream, token: en, role: 'commentator', lang: 'en_GB!' });
    expect(bad.ok ? 'ok' : bad.error.code).toBe('bad_request');
    const viewer = await s.request('join', { stream, token: await token('viewer', stream), role: 'commentator' });
    expect(viewer.ok ? 'ok' : viewer.error.code).toBe('forbidden');
    const joined = await s.request('join', { stream, token: en, role: 'commentator', lang: 'en' });
    expect(joined.ok).toBe(true);
    const video = await s.request('produce', {
      transportId: '00000000-0000-4000-8000-000000000000',
      kind: 'video',
      rtpParameters: {
        codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }],
        encodings: [{ ssrc: 1 }],
      },
    });
    expect(video.ok ? 'ok' : video.error.code).toBe('forbidden');
    s.close();
    const whep = await fetch(`${match.node.url}/whep/${stream}?lang=en_GB!`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${await token('viewer', stream)}` },
      body: 'v=0\r\n',
    });
    expect(whep.status).toBe(400);
    expect(whep.headers.get('content-type')).toContain('application/problem+json');
  });

  it('plays the default language, switches language, then the venue sound only — and remembers it', async () => {
    const viewer = match.viewer;
    await viewer.waitForFunction(() => (window.__mm?.commentaryTracks().length ?? 0) === 2, undefined, {
      timeout: 20_000,
    });
    const heard = () => measureTone(viewer, 'commentary');
    const en = await waitForTone(heard, isTone(TONES.en), 'default language (en)');
    expect(await viewer.evaluate(() => window.__mm?.language)).toBe('en');
    await viewer.getByTestId('language').selectOption('es');
    const es = await waitForTone(heard, isTone(TONES.es), 'after choosing es');
    await viewer.getByTestId('language').selectOption('venue');
    const venue = await waitForTone(heard, isSilent, 'venue sound only');
    console.log(
      `languages: en ${en.hz.toFixed(0)} Hz ${en.db.toFixed(1)} dB, es ${es.hz.toFixed(0)} Hz ${es.db.toFixed(1)} dB, venue only ${venue.db.toFixed(1)} dB`,
    );
    // The choice outlives the page: a reload joins with the venue sound only.
    await viewer.reload();
    await viewer.waitForFunction(() => (window.__mm?.commentaryTracks().length ?? 0) === 2, undefined, {
      timeout: 20_000,
    });
    expect(await viewer.evaluate(() => window.__mm?.language)).toBeNull();
    await waitForTone(heard, isSilent, 'venue sound only after a reload');
    await viewer.getByTestId('language').selectOption('en');
    await waitForTone(heard, isTone(TONES.en), 'back to en');
  });

  it('gives a WHEP player the language of its ?lang= on its second audio m-line', async () => {
    const page = await match.browser.newPage();
    await page.goto(`${match.node.url}/healthz`);
    const viewerToken = await token('viewer', stream);
    const play = (lang: string) =>
      page.evaluate(
        async ({ url, token }) => {
          const pc = new RTCPeerConnection();
          pc.addTransceiver('video', { direction: 'recvonly' });
          pc.addTransceiver('audio', { direction: 'recvonly' });
          const commentary = pc.addTransceiver('audio', { direction: 'recvonly' });
          await pc.setLocalDescription(await pc.createOffer());
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
            body: pc.localDescription!.sdp,
          });
          if (res.status !== 201) return `${res.status} ${await res.text()}`;
          await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
          window.__toneTracks = [commentary.receiver.track];
          return 'ok';
        },
        { url: `${match.node.url}/whep/${stream}?lang=${lang}`, token: viewerToken },
      );
    expect(await play('es')).toBe('ok');
    const es = await waitForTone(() => measureTone(page, 'marked'), isTone(TONES.es), 'WHEP ?lang=es');
    expect(await play('en')).toBe('ok');
    const en = await waitForTone(() => measureTone(page, 'marked'), isTone(TONES.en), 'WHEP ?lang=en');
    console.log(`whep: ?lang=es ${es.hz.toFixed(0)} Hz, ?lang=en ${en.hz.toFixed(0)} Hz`);
    await page.close();
  });
});
