import { execFileSync } from 'node:child_process';
import type { Page } from 'playwright-core';

/** The loudest frequency of some tracks over a short window, and its level (dBFS; -Infinity: silence). */
export interface Tone {
  hz: number;
  db: number;
}

/** A mono 48 kHz WAV of a sine at `hz` (Chromium's --use-file-for-fake-audio-capture loops it). */
export function writeToneWav(file: string, hz: number): string {
  execFileSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=${hz}:sample_rate=48000:duration=5`,
    '-ac',
    '1',
    file,
  ]);
  return file;
}

declare global {
  interface Window {
    /** Tracks a test put up for measureTone(page, 'marked'). */
    __toneTracks?: MediaStreamTrack[];
  }
}

/**
 * In the page: feed the tracks — the viewer page's commentary tracks ('commentary'), the viewer page's sound as
 * heard with its balance ('mix'), or those a test put in `window.__toneTracks` ('marked') — into one WebAudio
 * AnalyserNode for `ms`, and answer the strongest FFT bin (bins of 48000/4096 ≈ 11.7 Hz).
 * Each track is also played by a muted element: Chromium's WebAudio gets a remote track's samples only then.
 */
export async function measureTone(page: Page, select: ToneSource, ms = 700): Promise<Tone> {
  const { hz, db } = await analyse(page, select, ms, []);
  return { hz, db };
}

/** Where measureTone and measureLevels listen in the page. */
export type ToneSource = 'commentary' | 'marked' | 'mix';

/** The level (dBFS, power of the FFT bins within ±2 of each frequency) of each of `hzs`, as measureTone listens. */
export async function measureLevels(page: Page, select: ToneSource, hzs: number[], ms = 700): Promise<number[]> {
  return (await analyse(page, select, ms, hzs)).levels;
}

function analyse(page: Page, select: ToneSource, ms: number, at: number[]): Promise<Tone & { levels: number[] }> {
  return page.evaluate(
    async ({ select, ms, at }) => {
      const tracks =
        select === 'commentary'
          ? (window.__mm?.commentaryTracks().map((c) => c.track) ?? [])
          : select === 'mix'
            ? (window.__mm?.soundTap()?.getAudioTracks() ?? [])
            : (window.__toneTracks ?? []);
      const ctx = new AudioContext();
      await ctx.resume();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 4096;
      analyser.smoothingTimeConstant = 0;
      const players: HTMLAudioElement[] = [];
      for (const track of tracks) {
        const el = new Audio();
        el.muted = true;
        el.srcObject = new MediaStream([track]);
        void el.play().catch(() => undefined);
        players.push(el);
        ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
      }
      const bins = new Float32Array(analyser.frequencyBinCount);
      const power = new Float64Array(bins.length);
      let frames = 0;
      const end = performance.now() + ms;
      while (performance.now() < end) {
        // One analyser read per ~50 ms: the window is the measurement, not a wait for something.
        await new Promise((r) => setTimeout(r, 50));
        analyser.getFloatFrequencyData(bins);
        for (let i = 0; i < bins.length; i++) power[i]! += 10 ** (bins[i]! / 10);
        frames++;
      }
      let best = 1;
      for (let i = 1; i < power.length; i++) if (power[i]! > power[best]!) best = i;
      const db = 10 * Math.log10(power[best]! / Math.max(1, frames));
      const hz = (best * ctx.sampleRate) / analyser.fftSize;
      const levels = at.map((f) => {
        const bin = Math.round((f * analyser.fftSize) / ctx.sampleRate);
        let sum = 0;
        for (let i = Math.max(0, bin - 2); i <= Math.min(power.length - 1, bin + 2); i++) sum += power[i]!;
        return 10 * Math.log10(sum / Math.max(1, frames));
      });
      await ctx.close();
      for (const el of players) el.srcObject = null;
      return { hz, db, levels };
    },
    { select, ms, at },
  );
}

/** Measure until `ok` holds (each measurement is a 0.7 s window), or throw with the last one after `timeoutMs`. */
export async function waitForTone(
  measure: () => Promise<Tone>,
  ok: (t: Tone) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<Tone> {
  const end = Date.now() + timeoutMs;
  let last: Tone = { hz: 0, db: Number.NEGATIVE_INFINITY };
  while (Date.now() < end) {
    last = await measure();
    if (ok(last)) return last;
  }
  throw new Error(`${what}: last measured ${last.hz.toFixed(0)} Hz at ${last.db.toFixed(1)} dB`);
}

/** A tone within one FFT bin or two of `hz`, well above silence. */
export const isTone = (hz: number) => (t: Tone) => Math.abs(t.hz - hz) <= 25 && t.db > -60;
/** No tone at all: below anything a sine would give. */
export const isSilent = (t: Tone) => !(t.db > -75);

/** Power of `hz` in mono PCM (Goertzel), relative to the signal's total power, in dB (-Infinity: silence). */
export function pcmToneLevel(pcm: Int16Array, sampleRate: number, hz: number): number {
  const w = (2 * Math.PI * hz) / sampleRate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let total = 0;
  for (let i = 0; i < pcm.length; i++) {
    const x = pcm[i]! / 32768;
    total += x * x;
    const s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  // |X(hz)|² of an N-sample sine of amplitude A is (A N / 2)²; its power A²/2 is that × 2 / N².
  const power = ((s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2) / (pcm.length * pcm.length);
  const mean = total / pcm.length;
  return mean > 0 ? 10 * Math.log10(power / mean) : Number.NEGATIVE_INFINITY;
}

/** The strongest frequency of mono PCM between `from` and `to` Hz (steps of `step` Hz), by pcmToneLevel. */
export function pcmDominant(pcm: Int16Array, sampleRate: number, from = 100, to = 4000, step = 5): Tone {
  let best: Tone = { hz: 0, db: Number.NEGATIVE_INFINITY };
  for (let hz = from; hz <= to; hz += step) {
    const db = pcmToneLevel(pcm, sampleRate, hz);
    if (db > best.db) best = { hz, db };
  }
  return best;
}

/**
 * In the page: the level (dB, strongest of the FFT bins within ±1 of each frequency) of each of `freqs` in
 * the tracks of `window.__toneTracks`, over `ms` — for a signal that carries several tones at once (a booth's
 * talkback), where the strongest bin alone cannot say which are there.
 */
export function measureToneLevels(page: Page, freqs: readonly number[], ms = 700): Promise<number[]> {
  return page.evaluate(
    async ({ freqs, ms }) => {
      const ctx = new AudioContext();
      await ctx.resume();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 4096;
      analyser.smoothingTimeConstant = 0;
      const players: HTMLAudioElement[] = [];
      for (const track of window.__toneTracks ?? []) {
        const el = new Audio();
        el.muted = true;
        el.srcObject = new MediaStream([track]);
        void el.play().catch(() => undefined);
        players.push(el);
        ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
      }
      const bins = new Float32Array(analyser.frequencyBinCount);
      const power = new Float64Array(bins.length);
      let frames = 0;
      const end = performance.now() + ms;
      while (performance.now() < end) {
        // One analyser read per ~50 ms: the window is the measurement, not a wait for something.
        await new Promise((r) => setTimeout(r, 50));
        analyser.getFloatFrequencyData(bins);
        for (let i = 0; i < bins.length; i++) power[i]! += 10 ** (bins[i]! / 10);
        frames++;
      }
      const binHz = ctx.sampleRate / analyser.fftSize;
      await ctx.close();
      for (const el of players) el.srcObject = null;
      return freqs.map((hz) => {
        const at = Math.round(hz / binHz);
        const p = Math.max(power[at - 1] ?? 0, power[at]!, power[at + 1] ?? 0);
        return 10 * Math.log10(p / Math.max(1, frames));
      });
    },
    { freqs: [...freqs], ms },
  );
}
