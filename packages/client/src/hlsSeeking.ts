/*
 * Rewind and go-live on the HLS rung: plain media-element seeking against
 * the live edge hls.js reports. Apart from HlsSession so the session file
 * keeps to lifecycle and hls.js wiring.
 */
import type { HlsLike } from './hlsJs.ts';

/** The live edge in element seconds: where a live player sits (hls.js live sync, else the end of what is seekable). */
export function liveEdgeOf(video: HTMLVideoElement | null, hls: HlsLike | null): number | null {
  const sync = hls?.liveSyncPosition;
  if (typeof sync === 'number' && Number.isFinite(sync)) return sync;
  if (video && video.seekable.length > 0) return video.seekable.end(video.seekable.length - 1);
  return null;
}

/**
 * Seeks `video` `seconds` behind the live edge `edge` (clamped to the start
 * of the rewind window); resolves once it has seeked, with how far behind
 * live it now plays.
 */
export async function seekBehind(video: HTMLVideoElement, edge: number, seconds: number): Promise<number> {
  const start = video.seekable.length > 0 ? video.seekable.start(0) : 0;
  const target = Math.max(start, edge - Math.max(0, seconds));
  await seekElement(video, target);
  return edge - target;
}

/** Seeks `video` to `target` seconds; resolves once it has seeked (or after 5 s), and plays on. */
export async function seekElement(video: HTMLVideoElement, target: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      video.removeEventListener('seeked', done);
      resolve();
    };
    const timer = setTimeout(done, 5000);
    video.addEventListener('seeked', done);
    video.currentTime = target;
  });
  void video.play().catch(() => {});
}
