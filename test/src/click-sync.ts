import type { Page } from 'playwright-core';
import { PATTERN_HEIGHT, PATTERN_WIDTH, STRIP_BITS, STRIP_CELL } from '../../apps/origin/src/pattern-layout.ts';

/**
 * Clicks at known frames, and when they are heard (commentary alignment,
 * issue 16 item 2). A commentator page's microphone is a WebAudio source the
 * test drives; the page clicks when its own video presents a given burned-in
 * frame number. A viewer page logs when each frame is presented and when a
 * click is heard on its commentary track, on the same (wall) clock.
 */

/** One presented frame: wall clock (ms) at its requestVideoFrameCallback, burned-in frame number and origin clock. */
export type SeenFrame = [at: number, frame: number, originClock: number];

declare global {
  interface Window {
    __mmSeen?: SeenFrame[];
    __mmClickAtFrame?: (frame: number) => Promise<{ frame: number; at: number }>;
    __mmHeard?: number[];
  }
}

/**
 * Before any page script: getUserMedia's audio is a MediaStreamAudioDestinationNode of the page's own
 * AudioContext (`__mmClickAtFrame` writes a click into it), so what the booth sends is what the test wrote.
 */
export async function installClickMicrophone(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { __mmClick?: () => void };
    let dest: MediaStreamAudioDestinationNode | undefined;
    let ctx: AudioContext | undefined;
    const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = async (constraints) => {
      if (!constraints?.audio) return original(constraints);
      ctx ??= new AudioContext({ sampleRate: 48000 });
      await ctx.resume();
      if (!dest) {
        dest = ctx.createMediaStreamDestination();
        // A room's hum under the voice (−40 dBFS, below the ear's quiet level): Opus DTX never stops the stream.
        const hum = ctx.createOscillator();
        hum.frequency.value = 300;
        const level = ctx.createGain();
        level.gain.value = 0.01;
        hum.connect(level).connect(dest);
        hum.start();
      }
      return new MediaStream(dest.stream.getAudioTracks().map((t) => t.clone()));
    };
    // 30 ms of 1 kHz at −2 dBFS: a sharp onset that Opus carries intact.
    w.__mmClick = () => {
      if (!ctx || !dest) throw new Error('no microphone opened yet');
      const buffer = ctx.createBuffer(1, 1440, 48000);
      const data = buffer.getChannelData(0);
      for (let i = 0; i < data.length; i++) data[i] = 0.8 * Math.sin((2 * Math.PI * 1000 * i) / 48000);
      const source = ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(dest);
      source.start();
    };
  });
}

/**
 * Reads the burned-in frame number and origin clock (the pattern's two strips) of every frame the page's
 * `video[data-testid="video"]` presents into `window.__mmSeen`, and installs `__mmClickAtFrame(n)`: a click
 * into the page's microphone (installClickMicrophone) in the callback of the first frame numbered ≥ n.
 */
export async function installFrameReader(page: Page): Promise<void> {
  await page.evaluate(
    ({ bits, cell, width, height }) => {
      if (window.__mmSeen) return;
      const seen: SeenFrame[] = [];
      window.__mmSeen = seen;
      const canvas = document.createElement('canvas');
      canvas.width = bits * 4;
      canvas.height = 8;
      const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
      const wall = () => performance.timeOrigin + performance.now();
      const row = (data: Uint8ClampedArray, y: number) => {
        let value = 0;
        for (let c = 0; c < bits; c++)
          value = value * 2 + ((data[(y * bits * 4 + c * 4 + 2) * 4 + 1] ?? 0) >= 128 ? 1 : 0);
        return value;
      };
      const video = document.querySelector('video[data-testid="video"]') as HTMLVideoElement;
      const waiting: { frame: number; resolve: (v: { frame: number; at: number }) => void }[] = [];
      window.__mmClickAtFrame = (frame) =>
        new Promise((resolve, reject) => {
          waiting.push({ frame, resolve });
          setTimeout(() => reject(new Error(`frame ${frame} not presented within 10 s`)), 10_000);
        });
      let generation = 0;
      let lastCallback = performance.now();
      const loop = (gen: number) =>
        video.requestVideoFrameCallback(() => {
          if (gen !== generation) return;
          lastCallback = performance.now();
          const at = wall();
          const vw = video.videoWidth;
          const vh = video.videoHeight;
          if (vw && vh) {
            // Both strips (frame number, then clock), four canvas pixels per cell: sample each centre.
            ctx.drawImage(video, 0, 0, (cell * bits * vw) / width, (2 * cell * vh) / height, 0, 0, bits * 4, 8);
            const data = ctx.getImageData(0, 0, bits * 4, 8).data;
            const frame = row(data, 2);
            const clock = row(data, 6);
            const due = waiting.findIndex((w) => frame >= w.frame);
            if (due >= 0) {
              (window as unknown as { __mmClick: () => void }).__mmClick();
              waiting.splice(due, 1)[0]!.resolve({ frame, at });
            }
            seen.push([at, frame, clock]);
          }
          loop(gen);
        });
      loop(generation);
      // A callback chain may not survive the element getting new tracks (commentary on air): restart it.
      setInterval(() => {
        if (performance.now() - lastCallback > 250) {
          generation++;
          lastCallback = performance.now();
          loop(generation);
        }
      }, 100);
    },
    { bits: STRIP_BITS, cell: STRIP_CELL, width: PATTERN_WIDTH, height: PATTERN_HEIGHT },
  );
}

/** The frames the page presented so far. */
export function seenFrames(page: Page): Promise<SeenFrame[]> {
  return page.evaluate(() => window.__mmSeen?.slice() ?? []);
}

/**
 * Listens on the viewer page's commentary track of `lang`, or on an HLS player's element (an AudioWorklet): each onset — a sample above
 * −20 dBFS 300 ms or more after the last one — goes into `window.__mmHeard` as the wall time the page's player
 * put its sample out: when it left this AudioContext's output (getOutputTimestamp maps the context's clock
 * onto the page's) less the context's own processing (baseLatency) — the output buffer stands for the
 * player's, which delivers the track's samples to WebAudio as it plays them.
 */
export async function installClickEar(
  page: Page,
  source: string | { element: string },
): Promise<{ baseLatency: number; outputLatency: number }> {
  return page.evaluate(async (source) => {
    // An HLS player's media element: its own output (createMediaElementSource, not captureStream: that tap
    // leads what the element plays, to which its video is synced, by 50–120 ms), the venue's 440 Hz tone mixed
    // in — the click (1 kHz) is listened for through a band-pass that leaves the tone 17 dB below the onset level.
    const media = typeof source === 'string' ? null : document.querySelector<HTMLMediaElement>(source.element);
    const track = media ? undefined : window.__mm?.commentaryTracks().find((c) => c.lang === source)?.track;
    if (!track && !media) throw new Error(`no audio for ${JSON.stringify(source)}`);
    window.__mmHeard = [];
    // Chromium's WebAudio gets a remote track's samples only while an element plays it.
    const el = new Audio();
    el.muted = true;
    if (track) {
      el.srcObject = new MediaStream([track]);
      await el.play();
    }
    const ctx = new AudioContext({ sampleRate: 48000 });
    await ctx.resume();
    // An onset: a sample above −20 dBFS 300 ms (14400 samples) or more after the last one.
    const code = `registerProcessor('onset', class extends AudioWorkletProcessor {
      lastLoud = -1e9;
      process(inputs) {
        const ch = inputs[0]?.[0];
        if (!ch) return true;
        for (let i = 0; i < ch.length; i++) {
          if (Math.abs(ch[i]) <= 0.1) continue;
          if (currentFrame + i - this.lastLoud >= 14400) this.port.postMessage(currentFrame + i);
          this.lastLoud = currentFrame + i;
        }
        return true;
      }
    });`;
    await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
    const node = new AudioWorkletNode(ctx, 'onset');
    node.port.onmessage = (e: MessageEvent<number>) => {
      const out = ctx.getOutputTimestamp();
      const at =
        performance.timeOrigin +
        out.performanceTime! +
        (e.data / ctx.sampleRate - out.contextTime! - ctx.baseLatency) * 1000;
      window.__mmHeard!.push(at);
    };
    if (media) {
      // The element's own output, routed into this context (it then plays through it, not the device): the
      // player's A/V sync holds against this sink. Unmuted, or the node gets silence.
      media.muted = false;
      const band = new BiquadFilterNode(ctx, { type: 'bandpass', frequency: 1000, Q: 4 });
      ctx.createMediaElementSource(media).connect(band).connect(node);
    } else {
      ctx.createMediaStreamSource(new MediaStream([track!])).connect(node);
    }
    // Pulled by the graph only when it reaches the destination: through a silent gain.
    const mute = ctx.createGain();
    mute.gain.value = 0;
    node.connect(mute).connect(ctx.destination);
    (window as unknown as { __mmEar: unknown }).__mmEar = { ctx, el, node };
    return { baseLatency: ctx.baseLatency, outputLatency: ctx.outputLatency };
  }, source);
}

/** When the viewer heard each click so far (wall clock, ms). */
export function heardClicks(page: Page): Promise<number[]> {
  return page.evaluate(() => window.__mmHeard?.slice() ?? []);
}

/** Median of a list (NaN when empty). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A presented frame's delay behind the origin's clock burned into it (ms; the clock is Unix ms mod 2^32). */
export function behindOrigin([at, , clock]: SeenFrame): number {
  return (((Math.round(at) - clock) % 2 ** 32) + 2 ** 32) % 2 ** 32;
}
