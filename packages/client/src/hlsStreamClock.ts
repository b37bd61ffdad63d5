/*
 * Where an HLS frame sits on the stream's timeline. Each relay packages HLS
 * on its own (segment numbers and decode times differ between relays), so a
 * frame is placed through the score log's anchors, not by its element time:
 * that is what lets the on-screen score match the frame, and a drain move
 * seek the new relay's playhead in step with the old one.
 */
import { type HlsTimelineAnchor, hlsMediaTimeForDecodeTime, hlsMediaTimeForPdt } from '@matchmesh/protocol';
import type { HlsLike } from './hlsJs.ts';

/** Fragments whose initPTS is remembered (about 4 minutes of 1 s segments). */
const MAX_FRAGMENTS_KEPT = 240;

export type HlsClockState = {
  /** The fragment at the playhead (null before hls.js named one). */
  playing: { cc: number; sn: number } | null;
  /** hls.js initPTS (s) per discontinuity counter: the latest. */
  initPts: [cc: number, seconds: number][];
  /** INIT_PTS_FOUND events so far: more than one per discontinuity is hls.js re-mapping. */
  initPtsFound: number;
  /** The initPTS (s) the playing fragment was remuxed with (null: not recorded). */
  playingInitPts: number | null;
  anchors: { msn: number; decodeTime: number; mediaTime: number }[];
};

export class HlsStreamClock {
  /** The score log's anchors (msn → decode time and program date time → mediaTime). */
  #timeline: HlsTimelineAnchor[] = [];
  /** hls.js initPTS (seconds) per discontinuity counter: presentation time + initPTS = fMP4 decode time. */
  readonly #initPts = new Map<number, number>();
  /**
   * The initPTS each main fragment was remuxed with (by sn). hls.js may
   * re-map a discontinuity's initPTS mid-stream (a fragment whose decode time
   * is ≥ 1 s off its playlist position, e.g. after a gap in the packaged
   * media); fragments already buffered keep the old one, and the playhead
   * plays them for as long as the buffer lasts — a rewind buffers many
   * seconds ahead. So a frame is placed with its own fragment's initPTS, not
   * the latest.
   */
  readonly #fragmentInitPts = new Map<number, number>();
  #initPtsFound = 0;
  /** The fragment at the playhead (hls.js FRAG_CHANGED). */
  #playing: { cc: number; sn: number } | undefined;

  /** What the clock places frames with now (diagnostics: a test prints it when frames were not placed). */
  get state(): HlsClockState {
    return {
      playing: this.#playing ?? null,
      initPts: [...this.#initPts],
      initPtsFound: this.#initPtsFound,
      playingInitPts: (this.#playing && this.#fragmentInitPts.get(this.#playing.sn)) ?? null,
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
        this.#initPtsFound++;
      }
    });
    // FRAG_PARSED follows the INIT_PTS_FOUND (if any) of the same fragment; hls.js transmuxes one main fragment at a time.
    hls.on('hlsFragParsed', (_event, data) => {
      const frag = (data as { frag?: { cc?: number; sn?: number | string; type?: string } }).frag;
      if (frag?.type !== 'main' || typeof frag.sn !== 'number') return;
      const initPts = this.#initPts.get(frag.cc ?? 0);
      if (initPts === undefined) return;
      this.#fragmentInitPts.delete(frag.sn);
      this.#fragmentInitPts.set(frag.sn, initPts);
      // A few minutes of segments: older ones have left the buffer (Map keeps insertion order).
      if (this.#fragmentInitPts.size > MAX_FRAGMENTS_KEPT) {
        this.#fragmentInitPts.delete(this.#fragmentInitPts.keys().next().value!);
      }
    });
    hls.on('hlsFragChanged', (_event, data) => {
      const frag = (data as { frag?: { cc?: number; sn?: number | string } }).frag;
      if (frag && typeof frag.sn === 'number') this.#playing = { cc: frag.cc ?? 0, sn: frag.sn };
    });
  }

  /**
   * mediaTime (ms) of element time `seconds` in the fragment playing now.
   * Exact: presentation time + the initPTS hls.js remuxed that fragment with = the fMP4 decode time the
   * packager wrote, mapped through the anchor of the playing segment. Else
   * (native HLS, no initPTS yet) from the program date time at `hls`'s
   * playhead, within about a frame.
   */
  streamTimeAt(seconds: number, hls: HlsLike | null): number | undefined {
    const playing = this.#playing;
    const initPts = playing ? (this.#fragmentInitPts.get(playing.sn) ?? this.#initPts.get(playing.cc)) : undefined;
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
