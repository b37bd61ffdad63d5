// Time to first frame, the set-up's phases: where the time goes between
// opening /watch and the first presented frame, read from the player's own
// state log (window.__mm.stateLog), and WHEP's first frame beside it.
import type { Browser, Page } from 'playwright-core';

/** A phase's name and the state-log label that ends it. */
const PHASES: [string, (label: string) => boolean][] = [
  ['placement done, joining', (l) => l.endsWith('/signaling')],
  ['joined (transport + consumers made)', (l) => l.endsWith('/transport')],
  ['consumers ready, ICE+DTLS under way', (l) => l.endsWith('/ice')],
  ['transport connected', (l) => l.startsWith('connected/')],
];

/** ms since navigation of each phase's end in one load; `player start` is the log's first entry. */
export async function phasesOf(page: Page): Promise<{ start: number; marks: [string, number][] }> {
  const log = await page.evaluate(() =>
    window.__mm!.stateLog.map((e) => [e.at - performance.timeOrigin, `${e.state}/${e.reason}`] as const),
  );
  const start = log[0]?.[0] ?? 0;
  const marks: [string, number][] = [];
  for (const [name, match] of PHASES) {
    const at = log.find(([, label]) => match(label))?.[0];
    if (at !== undefined) marks.push([name, at]);
  }
  return { start, marks };
}

/**
 * WHEP's time to first frame: a bare RTCPeerConnection on a page of the
 * node's origin; from the POST of the offer to the first presented frame
 * (requestVideoFrameCallback, not stats polling: no 100 ms granularity).
 */
export async function whepFirstFrame(browser: Browser, nodeUrl: string, whepUrl: string, token: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${nodeUrl}/healthz`);
    return await page.evaluate(
      async ({ whepUrl, token }) => {
        const pc = new RTCPeerConnection();
        pc.addTransceiver('video', { direction: 'recvonly' });
        pc.addTransceiver('audio', { direction: 'recvonly' });
        const video = document.createElement('video');
        video.muted = true;
        video.autoplay = true;
        document.body.append(video);
        const shown = new Promise<number>((resolve) => {
          video.requestVideoFrameCallback(() => resolve(performance.now()));
        });
        pc.addEventListener('track', (e) => {
          if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]);
        });
        await pc.setLocalDescription(await pc.createOffer());
        const posted = performance.now();
        const res = await fetch(whepUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
          body: pc.localDescription!.sdp,
        });
        if (res.status !== 201) throw new Error(`WHEP ${res.status}: ${await res.text()}`);
        const answered = performance.now();
        await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
        const first = await Promise.race([shown, new Promise<number>((r) => setTimeout(() => r(-1), 20_000))]);
        pc.close();
        return { answerMs: answered - posted, firstFrameMs: first < 0 ? null : first - posted };
      },
      { whepUrl, token },
    );
  } finally {
    await context.close();
  }
}
