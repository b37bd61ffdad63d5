import type { Page } from 'playwright-core';

/** The viewer page's `window.__mm` test hook, read from the test side. */
export interface ViewerScore {
  seq: number;
  mediaTime: number;
  snapshot: boolean;
  receivedAt: number;
}

/** The slice of apps/web's `window.__mm` hook the tests read. */
interface ViewerHook {
  state: string;
  path: string;
  scores: ViewerScore[];
  lastScore: ViewerScore | null;
  framesDecoded(): number;
  videoCurrentTime(): number;
  stats(): Promise<{ inboundAudioPackets: number; inboundVideoPackets: number; framesDecoded: number }>;
}

declare global {
  interface Window {
    __mm?: ViewerHook;
  }
}

export async function framesDecoded(page: Page): Promise<number> {
  return page.evaluate(() => window.__mm?.framesDecoded() ?? 0);
}

/** Wait until the page has decoded at least `n` more frames than it had when called. */
export async function waitForMoreFrames(page: Page, n: number, timeout = 15_000): Promise<number> {
  const start = await framesDecoded(page);
  await page.waitForFunction((target) => (window.__mm?.framesDecoded() ?? 0) >= target, start + n, {
    timeout,
  });
  return framesDecoded(page);
}

export async function scoreSeqs(page: Page): Promise<number[]> {
  return page.evaluate(() => (window.__mm?.scores ?? []).map((s) => s.seq));
}

/** Every seq after the first is exactly one more than the one before: no gap, no reorder, no duplicate. */
export function isContiguous(seqs: number[]): boolean {
  return seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1);
}
