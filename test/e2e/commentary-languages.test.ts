import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HLS_JS_CONFIG } from '@matchmesh/client';
import type { BoothResponse } from '@matchmesh/protocol';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/browser.ts';
import { openHlsPage, waitForHlsFrames } from '../src/hls-page.ts';
import { type LiveMatch, startLiveMatch } from '../src/match.ts';
import { commentatorToken, token } from '../src/node.ts';
import { type ManagedProcess, startProcess } from '../src/processes.ts';
import { TestSignaling } from '../src/signaling.ts';
import {
  isSilent,
  isTone,
  measureLevels,
  measureTone,
  pcmDominant,
  pcmToneLevel,
  waitForTone,
  writeToneWav,
} from '../src/tone.ts';

/** Each language's commentator speaks one tone (the match's own sound is 440 Hz). */
const TONES = { en: 600, es: 1500 } as const;
const VENUE_HZ = 440;

/** `seconds` of an HLS media playlist's audio as mono 48 kHz PCM, decoded by Debian's ffmpeg (as any HLS client). */
function decodeHlsAudio(url: string, seconds: number): Promise<Int16Array> {
  return new Promise((resolve, reject) => {
    const args = ['-hide_banner', '-loglevel', 'error', '-i', url, '-t', String(seconds), '-vn', '-ac', '1'];
    const child = spawn('ffmpeg', [...args, '-ar', '48000', '-f', 's16le', 'pipe:1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      const pcm = Buffer.concat(chunks);
      if (code !== 0) reject(new Error(`ffmpeg ${code} on ${url}: ${stderr.slice(-500)}`));
      else resolve(new Int16Array(pcm.buffer, pcm.byteOffset, Math.floor(pcm.length / 2)));
    });
  });
}

/** A media playlist once it lists `n` complete segments, awaited with LL-HLS blocking reloads (`_HLS_msn`). */
async function withSegments(url: string, n: number): Promise<string> {
  for (;;) {
    const text = await getText(url);
    const complete = [...text.matchAll(/^seg-(\d+)\.m4s$/gm)].map((m) => Number(m[1]));
    if (complete.length >= n) return text;
    const next =
      complete.length > 0 ? Math.max(...complete) + 1 : Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1]);
    await getText(`${url}?_HLS_msn=${next + 1}`);
  }
}

/** GET that retries a 503 (the packager starting: the route itself waits for output first). */
async function getText(url: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url);
    if (res.status === 200) return res.text();
    if (res.status !== 503 || attempt >= 5) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  }
}

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
  const boothPages: Partial<Record<keyof typeof TONES, Page>> = {};
  /** The en booth's publisher WebSocket (the one that asks for a send transport), routed so a test can drop it. */
  const sendSockets: { page: WebSocketRoute; server: WebSocketRoute }[] = [];

  const openBooth = async (lang: keyof typeof TONES, wav: string): Promise<Page> => {
    const browser = await launchChromium([`--use-file-for-fake-audio-capture=${wav}`]);
    booths.push(browser);
    const page = await browser.newPage();
    if (lang === 'en')
      await page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((m) => {
          if (typeof m === 'string' && m.includes('"direction":"send"')) sendSockets.push({ page: ws, server });
          server.send(m);
        });
      });
    const t = await commentatorToken(stream, lang);
    await page.goto(`${match.node.url}/commentate?stream=${stream}&token=${t}&autostart=1&raw=1`);
    await page.waitForFunction(() => window.__mmBooth?.state === 'live', undefined, { timeout: 20_000 });
    boothPages[lang] = page;
    return page;
  };

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-tones-'));
    match = await startLiveMatch(stream);
    await openBooth('es', writeToneWav(path.join(dir, 'es.wav'), TONES.es));
    await openBooth('en', writeToneWav(path.join(dir, 'en.wav'), TONES.en));
  });

  /** A commentator process (the demo booth's: werift + ffmpeg, no browser) a test starts later on. */
  let lateBooth: ManagedProcess | undefined;

  afterAll(async () => {
    await lateBooth?.stop();
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

  it('balances commentary and venue on WebRTC: each side 6 dB down as the slider moves away from it, remembered', async () => {
    const viewer = match.viewer; // listening to en (the test before ends there)
    // The page's sound with its balance applied: the venue's 440 Hz and en's 600 Hz, measured together.
    const levels = async () => {
      const [venue, commentary] = await measureLevels(viewer, 'mix', [VENUE_HZ, TONES.en]);
      return { venue: venue!, commentary: commentary! };
    };
    const centre = await levels();
    expect(centre.venue).toBeGreaterThan(-60);
    expect(centre.commentary).toBeGreaterThan(-60);
    // Linear gain 0.5 on the side the slider leaves: −6.0 dB, the other side unchanged (±1.5 dB: codec and window).
    const moved = async (balance: number, venueDb: number, commentaryDb: number) => {
      await viewer.getByTestId('balance').fill(String(balance));
      await viewer.waitForFunction((b) => window.__mm?.balance === b, balance);
      let last = centre;
      for (let i = 0; i < 10; i++) {
        last = await levels();
        const dv = last.venue - centre.venue;
        const dc = last.commentary - centre.commentary;
        if (Math.abs(dv - venueDb) < 1.5 && Math.abs(dc - commentaryDb) < 1.5) return { dv, dc };
      }
      throw new Error(
        `balance ${balance}: venue ${(last.venue - centre.venue).toFixed(1)} dB, commentary ${(last.commentary - centre.commentary).toFixed(1)} dB (wanted ${venueDb} / ${commentaryDb})`,
      );
    };
    const toCommentary = await moved(0.5, -6, 0);
    const toVenue = await moved(-0.5, 0, -6);
    // Remembered: a reload starts at the same balance.
    await viewer.reload();
    await viewer.waitForFunction(() => (window.__mm?.commentaryTracks().length ?? 0) === 2, undefined, {
      timeout: 20_000,
    });
    expect(await viewer.evaluate(() => window.__mm?.balance)).toBe(-0.5);
    await waitForTone(() => measureTone(viewer, 'commentary'), isTone(TONES.en), 'en after the reload');
    await moved(0, 0, 0);
    console.log(
      `balance: centre venue ${centre.venue.toFixed(1)} dB, en ${centre.commentary.toFixed(1)} dB; ` +
        `+0.5 venue ${toCommentary.dv.toFixed(1)} dB, en ${toCommentary.dc.toFixed(1)} dB; ` +
        `−0.5 venue ${toVenue.dv.toFixed(1)} dB, en ${toVenue.dc.toFixed(1)} dB`,
    );
  });

  it('booth controls: push-to-talk silences the voice until held; another microphone keeps the seat on air', async () => {
    const booth = boothPages.en!;
    const viewer = match.viewer; // listening to en (the test before ends there)
    const heard = () => measureTone(viewer, 'commentary');
    await booth.getByTestId('ptt-mode').check();
    await booth.waitForFunction(
      () => document.querySelector('[data-testid=on-air-light]')?.getAttribute('data-light') === 'standby',
    );
    const closed = await waitForTone(heard, isSilent, 'push-to-talk up');
    await booth.getByTestId('ptt').hover();
    await booth.mouse.down();
    await booth.waitForFunction(
      () => document.querySelector('[data-testid=on-air-light]')?.getAttribute('data-light') === 'on-air',
    );
    const held = await waitForTone(heard, isTone(TONES.en), 'push-to-talk held');
    await booth.mouse.up();
    await booth.getByTestId('ptt-mode').uncheck();
    // The microphone meter reads the microphone itself (a clone), push-to-talk or not.
    const meterDb = await booth.evaluate(() =>
      Number(document.querySelector<HTMLMeterElement>('[data-testid=mic-level]')?.value),
    );
    expect(meterDb).toBeGreaterThan(-40);
    // Another microphone: the same producer (mixer slot, viewers' track) takes the new track.
    const before = await booth.evaluate(() => ({
      id: window.__mmBooth?.producerId,
      device: window.__mmBooth?.micDeviceId,
    }));
    const devices = await booth.evaluate(() =>
      Array.from(document.querySelectorAll<HTMLOptionElement>('[data-testid=mic-select] option'), (o) => o.value),
    );
    const other = devices.find((d) => d !== '' && d !== before.device && d !== 'default');
    expect(other, `another microphone among ${devices.join(', ')}`).toBeTruthy();
    await booth.getByTestId('mic-select').selectOption(other!);
    await booth.waitForFunction((d) => window.__mmBooth?.micDeviceId === d, other);
    expect(await booth.evaluate(() => [window.__mmBooth?.producerId, window.__mmBooth?.state])).toEqual([
      before.id,
      'live',
    ]);
    const switched = await waitForTone(heard, isTone(TONES.en), 'after switching microphone');
    console.log(
      `booth: ptt up ${closed.db.toFixed(1)} dB, held ${held.hz.toFixed(0)} Hz ${held.db.toFixed(1)} dB, meter ${meterDb.toFixed(1)} dBFS, switched mic ${switched.hz.toFixed(0)} Hz`,
    );
    const delay = await booth.getByTestId('view-delay').textContent();
    console.log(`booth view delay: ${delay}`);
  });

  it("rejoins a commentator whose session dropped: back on air within 2 s, the language's track kept", async () => {
    const booth = boothPages.en!;
    const viewer = match.viewer; // listening to en
    const before = await booth.evaluate(() => window.__mmBooth?.producerId);
    expect(sendSockets.length).toBe(1);
    const t0 = Date.now();
    // A network change: both ends lose the connection (the node drops the old voice, the booth rejoins).
    const dropped = sendSockets.shift()!;
    await Promise.all([dropped.server.close(), dropped.page.close({ code: 4000, reason: 'network change' })]);
    await booth.waitForFunction(
      (old) => window.__mmBooth?.state === 'live' && window.__mmBooth.producerId !== old,
      before,
      { timeout: 10_000, polling: 20 },
    );
    const backMs = Date.now() - t0;
    const heard = await waitForTone(() => measureTone(viewer, 'commentary'), isTone(TONES.en), 'en after the rejoin');
    const heardMs = Date.now() - t0;
    console.log(
      `booth rejoin: on air again after ${backMs} ms, heard by the viewer (${heard.hz.toFixed(0)} Hz) after ${heardMs} ms`,
    );
    expect(await booth.evaluate(() => window.__mmBooth?.rejoins)).toBe(1);
    // The viewer kept its language track: no new session, still both languages.
    expect(await viewer.evaluate(() => window.__mm?.commentaryTracks().length)).toBe(2);
    expect(backMs).toBeLessThan(2000);
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

  it('packages each language as an HLS audio rendition (venue + its commentary), venue only the default', async () => {
    const t0 = Date.now();
    const viewerToken = await token('viewer', stream);
    const index = `${match.node.url}/hls/${stream}/index.m3u8?token=${viewerToken}`;
    const folder = `${match.node.url}/hls/${stream}/t/${viewerToken}/`;
    // The first request starts the packager; each audio playlist's request waits (on the node) for its first segment.
    await getText(index);
    for (const f of ['audio', 'audio-en', 'audio-es']) await getText(`${folder}${f}/media.m3u8`);
    const playlist = await getText(index);
    console.log(`HLS multivariant playlist (token shortened):\n${playlist.replaceAll(viewerToken, '<token>')}`);
    const media = playlist.split('\n').filter((l) => l.startsWith('#EXT-X-MEDIA:'));
    expect(media).toEqual([
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Venue sound only",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="t/${viewerToken}/audio/media.m3u8"`,
      expect.stringMatching(
        /^#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",LANGUAGE="(en|es)",NAME="(English|Español)",DEFAULT=NO,AUTOSELECT=YES,CHANNELS="2",URI="t\/[^/]+\/audio-(en|es)\/media\.m3u8"$/,
      ),
      expect.stringMatching(
        /^#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",LANGUAGE="(en|es)",NAME="(English|Español)",DEFAULT=NO,/,
      ),
    ]);
    expect(media.some((l) => l.includes('LANGUAGE="en",NAME="English"') && l.includes('/audio-en/'))).toBe(true);
    expect(media.some((l) => l.includes('LANGUAGE="es",NAME="Español"') && l.includes('/audio-es/'))).toBe(true);
    const variants = playlist.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
    expect(variants.length).toBeGreaterThan(0);
    for (const v of variants) expect(v).toContain('AUDIO="audio"');
    // Beside the audio group, each variant is its video-only view (hls.js plays alternate audio only so).
    const uris = playlist.split('\n').filter((l) => l.startsWith('t/'));
    for (const u of uris.filter((x) => !x.includes('audio'))) expect(u).toMatch(/^t\/[^/]+\/v\d+\/media\.m3u8$/);

    // Each audio rendition is LL-HLS like the video (parts, blocking reload), on the video's segment numbers.
    const video = await getText(`${folder}${variants.length > 1 ? 'r0/' : ''}media.m3u8`);
    const lastMsn = (text: string) =>
      Math.max(...[...text.matchAll(/(?:seg|part)-(\d+)[.\d]*\.m4s/g)].map((m) => Number(m[1])));
    for (const f of ['audio', 'audio-en', 'audio-es']) {
      const text = await getText(`${folder}${f}/media.m3u8`);
      expect(text).toMatch(/#EXT-X-PART:DURATION=[\d.]+,URI="part-\d+\.\d+\.m4s",INDEPENDENT=YES/);
      expect(text).toContain('#EXT-X-PRELOAD-HINT:TYPE=PART');
      expect(Math.abs(lastMsn(text) - lastMsn(video))).toBeLessThanOrEqual(1);
    }
    // The rewind window: the oldest listed segment of a language is served from the node's disk window.
    const en = await withSegments(`${folder}audio-en/media.m3u8`, 2);
    const oldest = /^seg-(\d+)\.m4s$/m.exec(en)![1];
    const seg = await fetch(`${folder}audio-en/seg-${oldest}.m4s`);
    expect(seg.status).toBe(200);
    expect((await seg.arrayBuffer()).byteLength).toBeGreaterThan(1000);

    // ffmpeg decodes each rendition: the venue's 440 Hz in all, each language's tone in its own only.
    const levels: string[] = [];
    const renditions = [
      { folder: 'audio', tone: undefined },
      { folder: 'audio-en', tone: TONES.en },
      { folder: 'audio-es', tone: TONES.es },
    ];
    // ffmpeg reads complete segments (not parts), from the third last: wait for a few; the three decode at once.
    const decoded = await Promise.all(
      renditions.map(async (r) => {
        await withSegments(`${folder}${r.folder}/media.m3u8`, 4);
        return decodeHlsAudio(`${folder}${r.folder}/media.m3u8`, 3);
      }),
    );
    for (const [i, r] of renditions.entries()) {
      const pcm = decoded[i]!;
      expect(pcm.length).toBeGreaterThan(48000 * 2);
      const at = (hz: number) => pcmToneLevel(pcm, 48000, hz);
      // The strongest frequency away from the venue's tone: the language's (for the venue only, nothing much).
      const commentary = pcmDominant(pcm, 48000, 500, 4000);
      levels.push(
        `${r.folder}: venue ${at(VENUE_HZ).toFixed(1)} dB, en ${at(TONES.en).toFixed(1)} dB, es ${at(TONES.es).toFixed(1)} dB` +
          ` (of the total), strongest above 500 Hz ${commentary.hz} Hz ${commentary.db.toFixed(1)} dB`,
      );
      expect(at(VENUE_HZ)).toBeGreaterThan(-15);
      for (const [lang, hz] of Object.entries(TONES)) {
        // Present: a share of the signal (-4 to -22 dB measured); absent: the codec's noise (-68 to -92 dB).
        if (hz === r.tone) expect(at(hz), `${r.folder} ${lang}`).toBeGreaterThan(-30);
        else expect(at(hz), `${r.folder} ${lang}`).toBeLessThan(-50);
      }
      if (r.tone) expect(Math.abs(commentary.hz - r.tone)).toBeLessThanOrEqual(10);
    }
    // hls.js with the product player's settings (LL mode) takes the audio group and switches renditions by language.
    const player = await openHlsPage(match.browser, index, { hlsConfig: { ...HLS_JS_CONFIG } });
    try {
      await waitForHlsFrames(player.page, 30);
      const tracks = await player.page.evaluate('hls.audioTracks.map((t) => t.lang ?? null)');
      expect(tracks).toEqual([null, expect.any(String), expect.any(String)]);
      // The element's own audio (captureStream), as the viewer hears it.
      await player.page.evaluate('window.__toneTracks = document.getElementById("v").captureStream().getAudioTracks()');
      const hlsTones: string[] = [];
      for (const lang of ['es', 'en'] as const) {
        await player.page.evaluate(`hls.audioTrack = hls.audioTracks.findIndex((t) => t.lang === '${lang}')`);
        const t = await waitForTone(
          () => measureTone(player.page, 'marked'),
          // The language's tone as the strongest bin (the venue's 440 Hz is in the mix at about the same level).
          (x) => Math.abs(x.hz - TONES[lang]) <= 25 && x.db > -90,
          `hls.js on ${lang}`,
          20_000,
        );
        hlsTones.push(`${lang} ${t.hz.toFixed(0)} Hz`);
      }
      const errors = await player.page.evaluate(() => window.__hls?.errors ?? []);
      expect(errors).toEqual([]);
      levels.push(`hls.js audioTrack: ${hlsTones.join(', ')}`);
    } finally {
      await player.close();
    }
    console.log(`HLS audio renditions (ffmpeg, 3 s each):\n  ${levels.join('\n  ')}\n  in ${Date.now() - t0} ms`);
  });

  it("shows the booth's state to ops: commentators on air, language, level, loss and RTT (API and /ops)", async () => {
    const admin = await token('admin', '*');
    const url = `${match.node.url}/api/v1/streams/${stream}/booth`;
    const denied = await fetch(url, { headers: { Authorization: `Bearer ${await token('viewer', stream)}` } });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('content-type')).toContain('application/problem+json');
    const missing = await fetch(`${match.node.url}/api/v1/streams/nosuch/booth`, {
      headers: { Authorization: `Bearer ${admin}` },
    });
    expect(missing.status).toBe(404);
    // Levels come in 500 ms windows and a booth that just opened has sent little: read until every voice is heard.
    type Booth = { commentators: { levelDbov: number | null; packets: number }[] };
    const read = async (): Promise<Booth> =>
      (await fetch(url, { headers: { Authorization: `Bearer ${admin}` } })).json() as Promise<Booth>;
    const heard = (b: Booth) =>
      b.commentators.length === 2 && b.commentators.every((c) => (c.levelDbov ?? -127) > -127 && c.packets > 50);
    let booth = await read();
    for (const end = Date.now() + 15_000; !heard(booth) && Date.now() < end; booth = await read()) {
      await new Promise((r) => setTimeout(r, 250));
    }
    console.log(`booth: ${JSON.stringify(booth)}`);
    const b = booth as unknown as BoothResponse;
    expect(b.languages).toEqual(
      expect.arrayContaining([
        // mixerLagMs joins once the mixer's lag is measured (a few seconds on air).
        expect.objectContaining({ lang: 'en', commentators: 1 }),
        expect.objectContaining({ lang: 'es', commentators: 1 }),
      ]),
    );
    expect(b.commentators.map((c) => c.lang).sort()).toEqual(['en', 'es']);
    for (const c of b.commentators) {
      // A steady tone: a level well above silence (−127), packets flowing, nothing lost on loopback.
      expect(c.levelDbov).toBeGreaterThan(-60);
      expect(c.packets).toBeGreaterThan(50);
      expect(c.lossPercent).toBe(0);
      expect(c.bitrate).toBeGreaterThan(0);
    }
    const ops = await match.browser.newPage();
    await ops.goto(`${match.node.url}/ops?token=${admin}`);
    await ops.getByTestId('ops-booth-commentator').nth(1).waitFor({ timeout: 15_000 });
    expect(((await ops.getByTestId('ops-booth').textContent()) ?? '').replace(/\s+/g, ' ')).toMatch(
      /on air: (en|es) \(1\), (en|es) \(1\)/,
    );
    await ops.close();
  });

  // Last: its third language would be in the booth the ops test above counts.
  it('HLS: a language that goes on air after the session started joins the menu (HLS reloaded), and plays', async () => {
    const FR_HZ = 1200;
    // A viewer whose signaling never connects: the player falls back to HLS at once and stays there.
    const page = await match.browser.newPage();
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => ws.close({ code: 1011, reason: 'no WebRTC here' }));
    await page.goto(`${match.node.url}/watch?stream=${stream}&token=${await token('viewer', stream)}`);
    await page.waitForFunction(() => window.__mm?.path === 'hls' && window.__mm.state === 'connected', undefined, {
      timeout: 30_000,
    });
    const options = () =>
      page.evaluate(() =>
        Array.from(document.querySelectorAll<HTMLOptionElement>('[data-testid=language] option'), (o) => o.value),
      );
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=language] option').length === 3);
    expect((await options()).sort()).toEqual(['en', 'es', 'venue']);

    const t0 = Date.now();
    lateBooth = startProcess('apps/origin/dist/demo-booth-main.js', {
      MM_BOOTH_NODE_URL: match.node.url,
      MM_STREAM: stream,
      MM_BOOTH_TOKEN: await commentatorToken(stream, 'fr'),
      MM_BOOTH_LANG: 'fr',
      MM_BOOTH_TONE_HZ: String(FR_HZ),
    });
    // The booth joins, the node packages fr, the player's next poll sees it and the reload plays in step:
    // seconds on an idle machine, 26 s measured at load 45 on 2 cores.
    await page
      .waitForFunction(() => !!document.querySelector('[data-testid=language] option[value=fr]'), undefined, {
        timeout: 60_000,
      })
      .catch(async (err: unknown) => {
        const states = await page.evaluate(() => window.__mm?.stateLog.map((e) => `${e.state}/${e.path} ${e.reason}`));
        throw new Error(
          `no fr in the HLS menu; player: ${states?.join(' → ')}; booth: ${lateBooth?.output().slice(-500)}`,
          {
            cause: err,
          },
        );
      });
    const addedMs = Date.now() - t0;
    // Reloaded on the same relay, make before break: still HLS, not a move.
    expect(await page.evaluate(() => [window.__mm?.path, window.__mm?.moves.moves])).toEqual(['hls', 0]);
    const log = await page.evaluate(() => window.__mm!.stateLog.map((e) => e.reason));
    expect(log.some((r) => r.includes('reloaded: languages changed'))).toBe(true);

    await page.getByTestId('language').selectOption('fr');
    await page.waitForFunction(() => window.__mm?.language === 'fr');
    // The element on screen plays the fr rendition: venue + fr's tone, neither en's nor es's.
    await page.evaluate(() => {
      const el = document.querySelector<HTMLVideoElement>('video.hls[data-active=true]');
      window.__toneTracks = (el as HTMLVideoElement & { captureStream(): MediaStream })
        .captureStream()
        .getAudioTracks();
    });
    let heard = [Number.NEGATIVE_INFINITY, 0, 0];
    for (const end = Date.now() + 20_000; Date.now() < end; ) {
      heard = await measureLevels(page, 'marked', [FR_HZ, TONES.en, TONES.es]);
      const [fr, en, es] = heard as [number, number, number];
      if (fr > -70 && fr > en + 20 && fr > es + 20) break;
    }
    const [fr, en, es] = heard as [number, number, number];
    console.log(
      `HLS late language: fr in the menu ${addedMs} ms after its booth started; fr rendition: ${FR_HZ} Hz ${fr.toFixed(1)} dB, en ${en.toFixed(1)} dB, es ${es.toFixed(1)} dB`,
    );
    expect(fr).toBeGreaterThan(-70);
    expect(fr).toBeGreaterThan(en + 20);
    expect(fr).toBeGreaterThan(es + 20);
    // The booth still talks (its ffmpeg once died ~5 s in, on RTCP sent to a port nobody listened on).
    expect(lateBooth.child.exitCode, lateBooth.output().slice(-500)).toBeNull();
    await page.close();
  });
});
