// Where a WebRTC page's delay sits: the receivers' jitter buffers (inbound-rtp jitterBufferDelay ÷
// jitterBufferEmittedCount, the browser's own figures) over a window, per track — video, program audio,
// commentary — read through the page's RTCPeerConnections, recorded from before the page's scripts run.
import type { Page } from 'playwright-core';

/**
 * A string, not a function (as test/src/pc-recorder.ts would give): tsx names classes with a helper that
 * does not exist in the page, and an init script that throws records nothing.
 */
const RECORD_PCS = `(() => {
  window.__pcs = [];
  const Native = window.RTCPeerConnection;
  const Recorded = function (config) {
    const pc = new Native(config);
    window.__pcs.push({ pc });
    return pc;
  };
  Recorded.prototype = Native.prototype;
  Object.setPrototypeOf(Recorded, Native);
  Object.defineProperty(window, 'RTCPeerConnection', { value: Recorded, writable: true, configurable: true });
})()`;

export async function recordPeerConnections(page: Page): Promise<void> {
  await page.addInitScript(RECORD_PCS);
}

/** Cumulative jitter-buffer figures per receiving track: [seconds held in total, samples or frames emitted]. */
export type BufferCounters = Record<string, [number, number]>;

/** Per track ('video', 'audio program', 'audio commentary'): the counters now. */
export function bufferCounters(page: Page): Promise<BufferCounters> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __pcs?: { pc: RTCPeerConnection }[] }).__pcs ?? [];
    const commentary = new Set(window.__mm?.commentaryTracks().map((c) => c.track.id) ?? []);
    const out: Record<string, [number, number]> = {};
    for (const { pc } of pcs) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      report.forEach((s: Record<string, unknown>) => {
        if (s.type !== 'inbound-rtp' || typeof s.jitterBufferDelay !== 'number') return;
        const kind = String(s.kind);
        const label =
          kind === 'video' ? 'video' : `audio ${commentary.has(String(s.trackIdentifier)) ? 'commentary' : 'program'}`;
        const prev = out[label] ?? [0, 0];
        out[label] = [prev[0] + (s.jitterBufferDelay as number), prev[1] + Number(s.jitterBufferEmittedCount ?? 0)];
      });
    }
    return out;
  });
}

/** Mean time in the jitter buffer (ms) per track between two readings, as 'video 40, audio program 60 …'. */
export function bufferMeans(before: BufferCounters, after: BufferCounters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, [delay, count]] of Object.entries(after)) {
    const [d0, c0] = before[label] ?? [0, 0];
    if (count > c0) out[label] = ((delay - d0) / (count - c0)) * 1000;
  }
  return out;
}

export const formatBuffers = (means: Record<string, number>): string =>
  Object.entries(means)
    .map(([label, ms]) => `${label} ${ms.toFixed(0)} ms`)
    .join(', ') || '-';
