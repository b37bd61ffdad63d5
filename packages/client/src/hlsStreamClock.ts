/*
 * Where an HLS frame sits on the stream's timeline. Each relay packages HLS
 * on its own (segment numbers and decode times differ between relays), so a
 * frame is placed through the score log's anchors, not by its element time:
 * that is what lets the on-screen score match the frame, and a drain move
 * seek the new relay's playhead in step with the old one.
 */
import { type HlsTimelineAnchor, hlsMediaTimeForDecodeTime, hlsMediaTimeForPdt } from '@matchmesh/protocol';
import type { HlsLike } from './hlsJs.ts';

export type HlsClockState = {
  /** The fragment at the playhead (null before hls.js named one). */
  playing: { cc: number; sn: number } | null;
  /** hls.js initPTS (s) per discontinuity counter. */
  initPts: [cc: number, seconds: number][];
  anchors: { msn: number; decodeTime: number; mediaTime: number }[];
};

export class HlsStreamClock {
  /** The score log's anchors (msn → decode time and program date time → mediaTime). */
  #timeline: HlsTimelineAnchor[] = [];
  /** hls.js initPTS (seconds) per discontinuity counter: presentation time + initPTS = fMP4 decode time. */
  readonly #initPts = new Map<number, number>();
  /** The fragment at the playhead (hls.js FRAG_CHANGED). */
  #playing: { cc: number; sn: number } | undefined;

  /** What the clock places frames with now (diagnostics: a test prints it when frames were not placed). */
  get state(): HlsClockState {
    return {
      playing: this.#playing ?? null,
      initPts: [...this.#initPts],
      anchors: this.#timeline.map((a) => ({ msn: a.msn, decodeTime: a.decodeTime, mediaTime: a.mediaTime })),
    };
  }

  /** The anchors of the score log's latest answer. */
  setTimeline(anchors: HlsTimelineAnchor[]): void {
    this.#timeline = anchors;
  }

  /** Listens to `hls` for the initPTS of each discontinuity and the fragment at the playhead. */
  follow(hls: HlsLike): void {
    hls.on('hlsInitPtsFound', (_event, data) => {
      const { frag, initPTS, timescale } = data as { frag?: { cc?: number }; initPTS?: number; timescale?: number };
      if (typeof initPTS === 'number' && typeof timescale === 'number' && timescale > 0) {
        this.#initPts.set(frag?.cc ?? 0, initPTS / timescale);
      }
    });
    hls.on('hlsFragChanged', (_event, data) => {
      const frag = (data as { frag?: { cc?: number; sn?: number | string } }).frag;
      if (frag && typeof frag.sn === 'number') this.#playing = { cc: frag.cc ?? 0, sn: frag.sn };
    });
  }

  /**
   * mediaTime (ms) of element time `seconds` in the fragment playing now.
   * Exact: presentation time + hls.js initPTS = the fMP4 decode time the
   * packager wrote, mapped through the anchor of the playing segment. Else
   * (native HLS, no initPTS yet) from the program date time at `hls`'s
   * playhead, within about a frame.
   */
  streamTimeAt(seconds: number, hls: HlsLike | null): number | undefined {
    const playing = this.#playing;
    const initPts = playing ? this.#initPts.get(playing.cc) : undefined;
    if (playing && initPts !== undefined) {
      let anchor: HlsTimelineAnchor | undefined;
      for (const a of this.#timeline) if (a.msn <= playing.sn) anchor = a;
      if (anchor) return hlsMediaTimeForDecodeTime(anchor, seconds + initPts);
    }
    const pdt = hls?.playingDate?.getTime();
    if (pdt === undefined || !Number.isFinite(pdt)) return undefined;
    return hlsMediaTimeForPdt(this.#timeline, pdt);
  }
}
