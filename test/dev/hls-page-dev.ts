import { launchChromium } from '../src/browser.ts';
import { openHlsPage } from '../src/hls-page.ts';
import { readFileSync } from 'node:fs';
const [b, t] = readFileSync('/tmp/hls-dev.url', 'utf8').trim().split(' ');
const src = `${b}index.m3u8?token=${t}`;
const browser = await launchChromium();
const { page } = await openHlsPage(browser, src);
page.on('console', (m) => console.log('console:', m.text()));
page.on('response', (r) => console.log('resp', r.status(), r.url().slice(0, 60)));
page.on('requestfailed', (r) => console.log('failed', r.url().slice(0, 80), r.failure()?.errorText));
console.log(await page.evaluate(() => [MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c01f,mp4a.40.2"'), MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c01f"'), MediaSource.isTypeSupported('audio/mp4; codecs="mp4a.40.2"')]));
for (let i = 0; i < 8; i++) {
  await new Promise((r) => setTimeout(r, 2000));
  console.log(await page.evaluate(() => { const v = document.querySelector('video')!; return JSON.stringify({ count: window.__hls!.count, errors: window.__hls!.errors, ct: v.currentTime, rs: v.readyState, paused: v.paused, buf: v.buffered.length ? [v.buffered.start(0), v.buffered.end(0)] : null, err: v.error?.message }); }));
}
await browser.close();
