/*
 * The part of hls.js an HLS session touches, kept to a small structural type
 * so unit tests can pass a fake and the browser bundle loads hls.js only when
 * a viewer falls back to HLS (loadHlsJs imports it on demand).
 */
import { HLS_JS_CONFIG } from './hlsConfig.ts';

/**
 * The smallest surface of hls.js HlsSession uses, so tests can pass a fake
 * and the browser bundle loads hls.js only when a viewer falls back.
 */
export type HlsLike = {
  loadSource(url: string): void;
  attachMedia(media: HTMLMediaElement): void;
  on(event: string, listener: (event: string, data: unknown) => void): void;
  destroy(): void;
  /** Program date time of the position being played (hls.js `playingDate`). */
  readonly playingDate?: Date | null;
  /** Where hls.js would play live now, in media-element seconds. */
  readonly liveSyncPosition?: number | null;
  /** The multivariant playlist's audio group (hls.js `audioTracks`): venue only and each commentary language. */
  readonly audioTracks?: readonly HlsAudioTrack[];
  /** Index in `audioTracks` of the rendition playing; set to switch (hls.js `audioTrack`). */
  audioTrack?: number;
};

/** What the session reads of an hls.js audio track (EXT-X-MEDIA TYPE=AUDIO). */
export type HlsAudioTrack = { lang?: string; name: string; default?: boolean };

/**
 * The audio track for a language choice: `lang`'s rendition (tags compared
 * case-insensitively), the venue-only one (no LANGUAGE) for null, and for
 * undefined (no choice) or a language not on air, none (hls.js keeps its default: the venue).
 */
export function audioTrackFor(tracks: readonly HlsAudioTrack[], lang: string | null | undefined): number | undefined {
  if (lang === undefined || tracks.length === 0) return undefined;
  const i =
    lang === null
      ? tracks.findIndex((t) => !t.lang)
      : tracks.findIndex((t) => t.lang?.toLowerCase() === lang.toLowerCase());
  return i >= 0 ? i : undefined;
}
/** hls.js settings a session adds to HLS_JS_CONFIG (its request rewriting). */
export type HlsSessionConfig = { xhrSetup: (xhr: XMLHttpRequest, url: string) => void };
export type HlsFactory = (config?: HlsSessionConfig) => Promise<HlsLike | null>;

/** The default HlsFactory: hls.js imported on demand; null where MSE is missing (the element plays HLS natively). */
export async function loadHlsJs(config?: HlsSessionConfig): Promise<HlsLike | null> {
  const { default: Hls } = await import('hls.js');
  if (!Hls.isSupported()) return null;
  // hls.js types `on` per event name (its Events enum and listener map); HlsLike keeps a
  // string-keyed `on` so tests can pass a small fake. The three events used are hls.js's own names.
  return new Hls({ ...HLS_JS_CONFIG, ...config }) as unknown as HlsLike;
}
