import type { PlainTap } from '@matchmesh/sfu';
import type { FfmpegPackager } from './FfmpegPackager.ts';
import type { TrackInfo } from './fmp4.ts';
import type { RtpRelay } from './RtpRelay.ts';
import type { SegmentStore } from './SegmentStore.ts';

/** One ffmpeg run of one rendition: its packager and its timestamp mapping onto the stream's timeline. */
export interface RenditionRun {
  packager: FfmpegPackager;
  generation: number;
  tracks: { ssrc: number; kind: 'audio' | 'video'; port: number }[];
  /** The relay sends to this run's ports. */
  forwarding?: boolean;
  video?: TrackInfo;
  audio?: TrackInfo;
  /** RTP timestamp of the key frame the run began with (from the relay). */
  rtp0?: number;
  /** Ticks (per track id) added to ffmpeg's decode times to put them on the stream's timeline. */
  shifts?: Map<number, number>;
  keyFrameTimer?: NodeJS.Timeout;
}

/** Segments measured for BANDWIDTH / AVERAGE-BANDWIDTH. */
const MEASURED_SEGMENTS = 30;

/**
 * One HLS rendition: one simulcast layer of the program video (or the only
 * one), copied as is — never transcoded — with the program audio as AAC,
 * its own PlainTap consumer (pinned to the layer), relay, ffmpeg, segment
 * store and LL-HLS media playlist.
 */
export class Rendition {
  /** Spatial layer (0 = lowest); also the rendition's number in URLs (`r<index>/`). */
  readonly index: number;
  store: SegmentStore;
  tap: PlainTap | undefined;
  relay: RtpRelay | undefined;
  run: RenditionRun | undefined;
  /** Its layer stopped arriving (the consumer moved to another layer): not listed until it is back. */
  dropped = false;
  /** The consumer forwards this rendition's layer (always true without simulcast). */
  layerOk = false;
  /** Generation of the store's last init segment. */
  initGeneration = -1;
  videoTrack: TrackInfo | undefined;
  audioTrack: TrackInfo | undefined;
  lastGopSeconds = 0;
  sinceKeySeconds = 0;
  restarts = 0;
  /** Re-asks the consumer for its layer while it is on another (see RenditionLifecycle.start). */
  nudge: NodeJS.Timeout | undefined;
  /** Recent video (samples, seconds) per fragment, for FRAME-RATE. */
  readonly #frames: { samples: number; seconds: number }[] = [];

  constructor(index: number, store: SegmentStore) {
    this.index = index;
    this.store = store;
  }

  /** Listed in the multivariant playlist: its layer flows and it has output. */
  get listed(): boolean {
    return !this.dropped && !!this.run && this.store.segments.length > 0 && !!this.videoTrack;
  }

  noteVideo(samples: number, seconds: number): void {
    this.#frames.push({ samples, seconds });
    if (this.#frames.length > 100) this.#frames.shift();
  }

  /** Measured frames per second (snapped to a common rate within 1.5 %). */
  get frameRate(): number | undefined {
    const samples = this.#frames.reduce((n, f) => n + f.samples, 0);
    const seconds = this.#frames.reduce((n, f) => n + f.seconds, 0);
    if (seconds < 0.5 || samples < 2) return undefined;
    const measured = samples / seconds;
    for (const r of [15, 24, 25, 30, 48, 50, 60, 24000 / 1001, 30000 / 1001, 60000 / 1001]) {
      if (Math.abs(measured - r) / r < 0.015) return r;
    }
    return Math.round(measured * 1000) / 1000;
  }

  /** Peak and average segment bit rate (bits/s) over the recent complete segments (the open one when none). */
  get bitrates(): { peak: number; average: number } | undefined {
    const complete = this.store.segments.filter((s) => s.complete && s.duration > 0.1).slice(-MEASURED_SEGMENTS);
    const open = this.store.openSegment;
    const list = complete.length > 0 ? complete : open && open.duration > 0.1 ? [open] : [];
    if (list.length === 0) return undefined;
    const seconds = list.reduce((n, s) => n + s.duration, 0);
    const bytes = list.reduce((n, s) => n + s.bytes, 0);
    const peak = Math.max(...list.map((s) => (s.bytes * 8) / s.duration));
    return { peak, average: (bytes * 8) / seconds };
  }

  /** Next part (msn, index) a player may preload: the open segment's next, or the next segment's first at a key frame. */
  preloadHint(segmentSeconds: number, partTarget: number): { msn: number; part: number } | undefined {
    const open = this.store.openSegment;
    if (!open) return this.store.period >= 0 ? { msn: this.store.lastMsn + 1, part: 0 } : undefined;
    const keyNext =
      open.duration >= segmentSeconds &&
      this.lastGopSeconds > 0 &&
      this.sinceKeySeconds + partTarget / 2 >= this.lastGopSeconds;
    return keyNext ? { msn: open.msn + 1, part: 0 } : { msn: open.msn, part: open.parts.length };
  }
}
