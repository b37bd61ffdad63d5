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
  reason: string;
  scores: ViewerScore[];
  lastScore: ViewerScore | null;
  nodeId: string | null;
  /** The relay the HLS session plays from (null when not on HLS). */
  hlsNodeUrl: string | null;
  /** Drain moves and failovers (new sessions on other nodes) so far. */
  moves: { moves: number; failovers: number };
  /** How the playing session was set up: placement data from the page's bootstrap, transport and consumers in the join. */
  setup: { bootstrapped: boolean; oneRoundTrip: boolean };
  /** Score feed counters (apps/web testHook). */
  scoreCounters: { received: number; accepted: number; gaps: number; missedAtJoin: number; duplicates: number };
  /** Player state changes with the page's wall clock: the ladder's history. */
  stateLog: { at: number; state: string; path: string; reason: string }[];
  /** Seconds behind live after a rewind (0: live). */
  behindLive: number;
  /** How the HLS session places frames on the stream's timeline (apps/web testHook; printed by a failing test). */
  hlsClock: unknown;
  /** The score the overlay shows (the frame on screen's). */
  shownScore: ViewerScore | null;
  /** The program video's simulcast layers on WebRTC (null: one layer). */
  layers: {
    spatialLayers: number;
    current: { spatialLayer: number } | null;
    layers: { spatialLayer: number; width?: number; height?: number; fps?: number }[];
  } | null;
  /** The commentary tracks the WebRTC session consumes, with their language. */
  commentaryTracks(): { lang: string | undefined; track: MediaStreamTrack }[];
  /** The commentary language heard (null: venue sound only). */
  language: string | null;
  /** The WebRTC sound with the commentary/venue balance applied (before the page's mute); null: no mix. */
  soundTap(): MediaStream | null;
  /** The commentary/venue balance (−1 venue only … +1 commentary only). */
  balance: number;
  /** The picture size of the element on screen. */
  frameSize(): { width: number; height: number };
  framesDecoded(): number;
  videoCurrentTime(): number;
  stats(): Promise<{
    inboundAudioPackets: number;
    inboundVideoPackets: number;
    framesDecoded: number;
    packetsLost: number;
    playoutDelayMs: number | null;
    iceProtocol: string | null;
    /** The heard language's commentary delay against the picture (ms; null: none). */
    commentaryDelayMs: number | null;
    /** The program video's playout target (ms; null: the browser's own). */
    programPlayoutMs: number | null;
    /** The heard commentary's jitter buffer over the last second (ms; null: not measured). */
    commentaryBufferMs: number | null;
  }>;
}

declare global {
  interface Window {
    __mm?: ViewerHook;
  }
}

/** RTP packets (audio + video) the viewer's browser received so far and counted lost (never recovered). */
export async function packetCounts(page: Page): Promise<{ lost: number; received: number }> {
  const s = await page.evaluate(() => window.__mm!.stats());
  return { lost: s.packetsLost, received: s.inboundVideoPackets + s.inboundAudioPackets };
}

export async function framesDecoded(page: Page): Promise<number> {
  return page.evaluate(() => window.__mm?.framesDecoded() ?? 0);
}

/** Wait until the page has decoded at least `n` more frames than it had when called. */
export async function waitForMoreFrames(page: Page, n: number, timeout = 15_000): Promise<number> {
  const start = await framesDecoded(page);
  try {
    await page.waitForFunction((target) => (window.__mm?.framesDecoded() ?? 0) >= target, start + n, {
      timeout,
    });
  } catch (err) {
    // Say what the player was doing: a stalled decoder, a fallback to HLS and a move look alike from here.
    const seen = await page
      .evaluate(async () => {
        const mm = window.__mm;
        if (!mm) return 'no test hook';
        const stats = await mm.stats();
        return JSON.stringify({
          frames: mm.framesDecoded(),
          state: mm.state,
          path: mm.path,
          reason: mm.reason,
          inboundVideoPackets: stats.inboundVideoPackets,
          statsFramesDecoded: stats.framesDecoded,
          stateLog: mm.stateLog.slice(-8),
        });
      })
      .catch((e: unknown) => `page unreadable: ${String(e)}`);
    throw new Error(`${n} more frames than ${start} not decoded within ${timeout} ms; the page: ${seen}`, {
      cause: err,
    });
  }
  return framesDecoded(page);
}

export async function scoreSeqs(page: Page): Promise<number[]> {
  return page.evaluate(() => (window.__mm?.scores ?? []).map((s) => s.seq));
}

/** Every seq after the first is exactly one more than the one before: no gap, no reorder, no duplicate. */
export function isContiguous(seqs: number[]): boolean {
  return seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1);
}

/**
 * Record the page time of every presented video frame from now on (on
 * whatever <video> elements the page has, re-scanned as players swap them),
 * so a test can measure the longest freeze around an event.
 */
export async function startFrameClock(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __frameTimes?: number[] };
    w.__frameTimes = [];
    const watched = new WeakSet<HTMLVideoElement>();
    const watch = (): void => {
      for (const video of Array.from(document.querySelectorAll('video'))) {
        if (watched.has(video)) continue;
        watched.add(video);
        const onFrame = (now: number): void => {
          w.__frameTimes!.push(now);
          video.requestVideoFrameCallback(onFrame);
        };
        video.requestVideoFrameCallback(onFrame);
      }
    };
    watch();
    new MutationObserver(watch).observe(document.body, { childList: true, subtree: true });
  });
}

/** Page clock now (performance.now()), to bracket an event in frame-clock terms. */
export function pageNow(page: Page): Promise<number> {
  return page.evaluate(() => performance.now());
}

/**
 * Wait until the frame clock (startFrameClock) has seen `n` frames presented after page time `since`.
 * Presented, not decoded: after a freeze the decoder catches up on the frames held back and the
 * compositor shows only the newest of each burst, so a decoded count runs ahead of what a viewer saw.
 */
export async function waitForPresentedFrames(page: Page, since: number, n: number, timeout = 15_000): Promise<void> {
  try {
    await page.waitForFunction(
      ([from, count]) =>
        ((window as unknown as { __frameTimes?: number[] }).__frameTimes ?? []).filter((t) => t > from).length >= count,
      [since, n] as const,
      { timeout },
    );
  } catch (err) {
    const seen = await longestFreezeSince(page, since).catch(() => undefined);
    throw new Error(`${n} frames not presented within ${timeout} ms (saw ${JSON.stringify(seen)})`, { cause: err });
  }
}

/** The longest gap between presented frames that overlaps [from, ∞), and how many frames came after `from`. */
export async function longestFreezeSince(page: Page, from: number): Promise<{ gapMs: number; framesAfter: number }> {
  return page.evaluate((since) => {
    const times = (window as unknown as { __frameTimes?: number[] }).__frameTimes ?? [];
    let gapMs = 0;
    let framesAfter = 0;
    let previous = times.filter((t) => t <= since).at(-1) ?? since;
    for (const t of times) {
      if (t <= since) continue;
      framesAfter++;
      gapMs = Math.max(gapMs, t - previous);
      previous = t;
    }
    return { gapMs, framesAfter };
  }, from);
}

declare global {
  interface Window {
    /** The commentator booth's hook (apps/web CommentatorPage). */
    __mmBooth?: {
      state: string;
      reason: string;
      producerId: string | null;
      micDeviceId: string | null;
      rejoins: number;
      /** The other commentators heard (talkback), as the Booth list shows them. */
      talkback: { commentator: string; name: string | undefined; lang: string; muted: boolean; speaking: boolean }[];
      /** What the page plays for talkback (every voice after its mute), null before the first voice. */
      talkbackOutput(): MediaStreamTrack | null;
      /** The audio elements playing talkback to the speakers: whose voice, muted, paused. */
      talkbackPlaying(): { commentator: string; muted: boolean; paused: boolean }[];
    };
  }
}
