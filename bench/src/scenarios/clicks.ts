// Clicks through browsers, for the mouth-to-ear delay of the commentary booth (booth-browser.ts).
//
// The commentator page's microphone is a WebAudio source the bench drives: an init script replaces
// getUserMedia's audio with a MediaStreamAudioDestinationNode's track, a 1 kHz sine behind a gain held at 0.
// A click opens the gain for 50 ms. Both pages run the same detector — the track into an AudioContext of its
// own, an AnalyserNode polled every 2 ms, an onset = the first window whose peak passes the threshold after
// ≥ 250 ms below it — and stamp onsets with performance.timeOrigin + performance.now() (one machine, one
// wall clock). The commentator's own detection of its microphone track is the emission time: the same
// detector's lag (WebAudio render quantum, the analyser window, the poll) is then on both sides and cancels.
import type { BrowserContext, Page } from 'playwright-core';

declare global {
  interface Window {
    /** The bench's microphone: the track handed to the page, and the gain the bench opens for a click. */
    __clickMic?: { track: MediaStreamTrack; gain: GainNode; context: AudioContext };
    /** Onsets the detector heard (wall ms) and clicks the bench triggered (wall ms). */
    __clicks?: { heard: number[]; triggered: number[]; stop: () => void };
  }
}

/** Installed before any page script: getUserMedia({audio}) answers the bench's generated track. */
const MIC_OVERRIDE = `(() => {
  const media = navigator.mediaDevices;
  const original = media.getUserMedia.bind(media);
  media.getUserMedia = async (constraints) => {
    if (!constraints || !constraints.audio) return original(constraints);
    const context = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
    await context.resume();
    const tone = context.createOscillator();
    tone.frequency.value = 1000;
    const gain = context.createGain();
    gain.gain.value = 0;
    const out = context.createMediaStreamDestination();
    tone.connect(gain).connect(out);
    tone.start();
    const track = out.stream.getAudioTracks()[0];
    window.__clickMic = { track, gain, context };
    return new MediaStream([track]);
  };
})()`;

export async function installClickMicrophone(context: BrowserContext): Promise<void> {
  await context.addInitScript(MIC_OVERRIDE);
}

/** Runs in the page: the onset detector on `which` track ('mic': the bench's microphone; 'commentary': the viewer's). */
const DETECTOR = `({ which, threshold, quietMs }) => {
  const track =
    which === 'mic' ? window.__clickMic.track : window.__mm.commentaryTracks().find((c) => c.lang === 'en').track;
  // Chromium's WebAudio gets a remote track's samples only while an element plays it (muted here).
  const element = new Audio();
  element.muted = true;
  element.srcObject = new MediaStream([track]);
  void element.play().catch(() => undefined);
  const context = new AudioContext({ latencyHint: 'interactive' });
  void context.resume();
  const analyser = context.createAnalyser();
  analyser.fftSize = 256;
  context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const state = { heard: [], triggered: window.__clicks?.triggered ?? [], stop: () => undefined };
  let loudAt = -Infinity;
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let peak = 0;
    for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]));
    const now = performance.timeOrigin + performance.now();
    if (peak >= threshold) {
      if (now - loudAt > quietMs) state.heard.push(now);
      loudAt = now;
    }
  }, 2);
  state.stop = () => {
    clearInterval(timer);
    element.srcObject = null;
    void context.close();
  };
  window.__clicks = state;
}`;

export async function startDetector(page: Page, which: 'mic' | 'commentary'): Promise<void> {
  await page.evaluate(`(${DETECTOR})(${JSON.stringify({ which, threshold: 0.05, quietMs: 250 })})`);
}

/** One click on the commentator's microphone: the gain opens now for 50 ms; answers the trigger's wall time. */
export async function click(page: Page): Promise<number> {
  return page.evaluate(() => {
    const mic = window.__clickMic!;
    const t = mic.context.currentTime;
    mic.gain.gain.setValueAtTime(0.5, t);
    mic.gain.gain.setValueAtTime(0, t + 0.05);
    const at = performance.timeOrigin + performance.now();
    window.__clicks?.triggered.push(at);
    return at;
  });
}

export async function takeOnsets(page: Page): Promise<{ heard: number[]; triggered: number[] }> {
  return page.evaluate(() => {
    const c = window.__clicks!;
    c.stop();
    return { heard: c.heard, triggered: c.triggered };
  });
}

/** For each reference time, the first onset in [ref, ref + windowMs): the delays (ms), unmatched skipped. */
export function matchDelays(refs: readonly number[], onsets: readonly number[], windowMs: number): number[] {
  const out: number[] = [];
  for (const ref of refs) {
    const hit = onsets.find((t) => t >= ref && t < ref + windowMs);
    if (hit !== undefined) out.push(hit - ref);
  }
  return out;
}
