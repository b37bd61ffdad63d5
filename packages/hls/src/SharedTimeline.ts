import type { Logger } from '@matchmesh/sfu';
import { PACKAGER_TS_OFFSET_S } from './FfmpegPackager.ts';
import { type Fragment, shiftFragment } from './fmp4.ts';
import type { HlsSource, HlsStreamOptions } from './HlsStream.ts';
import type { Rendition, RenditionRun } from './Rendition.ts';
import type { ScoreLog } from './ScoreLog.ts';
import { FIRST_MSN } from './SegmentStore.ts';

/**
 * The stream's media timeline for one set of program producers (a
 * generation; a new one follows EXT-X-DISCONTINUITY). The first rendition to
 * start sets its reference: decode time PACKAGER_TS_OFFSET_S is video RTP
 * time `rtpRef` (mediaTime `mediaTime0`) in every rendition, and segment
 * boundaries (with their numbers) are shared, so a player switching
 * renditions finds the same msn at the same media time, and one score
 * anchor serves all of them.
 */
export interface Timeline {
  generation: number;
  rtpRef?: number;
  videoClockRate: number;
  audioRef?: number;
  audioClockRate: number;
  mediaTime0?: number;
  /** Segment starts (s, on the shared decode timeline), oldest first; a few recent ones. */
  boundaries: { msn: number; t: number }[];
  /** EXT-X-DISCONTINUITY-SEQUENCE value of this generation's segments. */
  cc: number;
  hadOutput: boolean;
}

const TWO32 = 2 ** 32;
/** Two renditions' key frames at the same media time differ by less than this (s). */
const SAME_TIME_S = 0.004;

/** What SharedTimeline needs of its HlsStream. */
export interface SharedTimelineHost {
  stream: HlsSource;
  options: HlsStreamOptions;
  log: Logger;
  /** Where the generation's anchor goes, and what is pruned as segments leave. */
  scores: ScoreLog;
  /** The video renditions, lowest layer first. */
  renditions(): readonly Rendition[];
}

/**
 * The stream's shared timeline across generations: the current Timeline,
 * the segment numbers (never reused, across generations) and the wall-clock
 * epoch that dates media time (PDT). Video renditions' fragments are placed
 * on it here; the audio renditions read it (AudioTimelineView).
 */
export class SharedTimeline {
  readonly #stream: HlsSource;
  readonly #o: HlsStreamOptions;
  readonly #log: Logger;
  readonly #scores: ScoreLog;
  readonly #renditions: () => readonly Rendition[];
  #current: Timeline = {
    generation: 0,
    videoClockRate: 90000,
    audioClockRate: 48000,
    boundaries: [],
    cc: 0,
    hadOutput: false,
  };
  /** Shared by every rendition (their segments are cut at the same media times with the same numbers). */
  #nextMsn = FIRST_MSN;
  #epochMs: number | undefined;

  constructor(host: SharedTimelineHost) {
    this.#stream = host.stream;
    this.#o = host.options;
    this.#log = host.log;
    this.#scores = host.scores;
    this.#renditions = host.renditions;
  }

  /** The current generation's timeline. */
  get current(): Timeline {
    return this.#current;
  }

  /** Wall-clock ms of media time 0 (undefined before the first output). */
  get epochMs(): number | undefined {
    return this.#epochMs;
  }

  /** Starts the next generation (new program producers): its first output follows EXT-X-DISCONTINUITY. */
  newGeneration(): void {
    const t = this.#current;
    this.#current = {
      generation: t.generation + 1,
      videoClockRate: 90000,
      audioClockRate: 48000,
      boundaries: [],
      cc: t.hadOutput ? t.cc + 1 : t.cc,
      hadOutput: false,
    };
  }

  /** Offsets that put this run's decode times on the generation's timeline (set by the first run to output). */
  #shiftsFor(r: Rendition, run: RenditionRun): Map<number, number> | undefined {
    if (run.shifts) return run.shifts;
    if (run.rtp0 === undefined || !run.video) return undefined;
    const tl = this.#current;
    const videoClock = r.tap?.tracks.find((t) => t.kind === 'video')?.clockRate ?? 90000;
    const audioClock = r.tap?.tracks.find((t) => t.kind === 'audio')?.clockRate ?? 48000;
    const a0 = r.relay?.firstAudioTimestamp;
    if (tl.rtpRef === undefined) {
      tl.rtpRef = run.rtp0;
      tl.videoClockRate = videoClock;
      tl.audioRef = a0;
      tl.audioClockRate = audioClock;
      tl.mediaTime0 = this.#mediaTimeOf(run.rtp0, videoClock);
      this.#log.debug({ rendition: r.index, rtpRef: tl.rtpRef, audioRef: a0 }, 'HLS timeline reference');
    } else if (tl.audioRef === undefined && a0 !== undefined) {
      tl.audioRef = a0;
    }
    const shifts = new Map<number, number>();
    // Signed 32-bit differences: RTP timestamps wrap.
    const dv = ((run.rtp0 - tl.rtpRef) | 0) / tl.videoClockRate;
    shifts.set(run.video.id, Math.round(dv * run.video.timescale));
    if (run.audio && a0 !== undefined && tl.audioRef !== undefined) {
      const da = ((a0 - tl.audioRef) | 0) / tl.audioClockRate;
      shifts.set(run.audio.id, Math.round(da * run.audio.timescale));
    }
    run.shifts = shifts;
    return shifts;
  }

  /**
   * The segment a fragment starting at `t` (s, shared timeline) begins, or
   * undefined when it continues the open one, or null when it must wait (a
   * rendition joining mid-segment starts at the next boundary). The first
   * rendition to reach a key frame that ends a segment (≥ 0.75 segment after
   * the last boundary; or none within the target duration) registers the
   * boundary; the others cut at the same time with the same number.
   */
  #segmentFor(r: Rendition, t: number, independent: boolean, duration: number): number | undefined | null {
    const tl = this.#current;
    const open = r.store.openSegment;
    const cur = open && r.initGeneration === tl.generation ? open.msn : undefined;
    const last = tl.boundaries.at(-1);
    if (cur !== undefined) {
      const next = tl.boundaries.find((b) => b.msn === cur + 1);
      if (next) return t + SAME_TIME_S >= next.t ? next.msn : undefined;
      const segmentStart = tl.boundaries.find((b) => b.msn === cur)?.t ?? t - open!.duration;
      const longEnough = t - segmentStart >= (this.#o.segmentMs / 1000) * 0.75;
      const tooLong = t + duration - segmentStart > this.#o.targetDuration;
      if ((independent && longEnough) || tooLong) return this.#boundary(t);
      return undefined;
    }
    if (!independent) return null;
    const same = tl.boundaries.find((b) => Math.abs(b.t - t) < SAME_TIME_S);
    if (same) return same.msn;
    if (!last || t - last.t >= (this.#o.segmentMs / 1000) * 0.75) return this.#boundary(t);
    return null;
  }

  #boundary(t: number): number {
    const tl = this.#current;
    const msn = this.#nextMsn++;
    tl.boundaries.push({ msn, t });
    if (tl.boundaries.length > 64) tl.boundaries.shift();
    if (!tl.hadOutput) {
      tl.hadOutput = true;
      // One anchor per generation, for every rendition: decode time
      // PACKAGER_TS_OFFSET_S is the reference key frame, mediaTime0.
      const wall = Date.now();
      const lastEnd = this.#renditions()
        .map((x) => x.store.segments.at(-1))
        .filter((s) => !!s)
        .sort((a, b) => b.pdtMs + b.duration * 1000 - (a.pdtMs + a.duration * 1000))[0];
      const mediaTime0 = tl.mediaTime0 ?? 0;
      const candidate = this.#epochMs === undefined ? undefined : this.#epochMs + mediaTime0;
      // Keep one epoch while media time moves forward with the wall clock;
      // otherwise (a publisher that restarted its clock) take a new one.
      if (
        candidate === undefined ||
        Math.abs(candidate - wall) > 30_000 ||
        (lastEnd && candidate < lastEnd.pdtMs + lastEnd.duration * 1000)
      ) {
        this.#epochMs = Math.round(wall - mediaTime0);
      }
      this.#scores.addAnchor({
        pdt: Math.round(this.#epochMs! + mediaTime0),
        decodeTime: PACKAGER_TS_OFFSET_S,
        mediaTime: mediaTime0,
        msn,
      });
    }
    return msn;
  }

  /**
   * Puts a rendition's fragment on the timeline (its decode times shifted,
   * its segment chosen) and hands it to the rendition's store.
   */
  placeFragment(r: Rendition, run: RenditionRun, f: Fragment): void {
    if (r.run !== run || !run.video) return;
    const video = f.runs.find((x) => x.trackId === run.video!.id);
    const main = video ?? f.runs[0];
    if (!main) return;
    // ffmpeg may emit audio while it still probes the video: a period starts
    // with the key frame the relay began with, so drop what comes before it.
    if (!run.shifts && !video?.firstSampleIsSync) return;
    const shifts = this.#shiftsFor(r, run);
    if (!shifts) return;
    try {
      shiftFragment(f, shifts);
    } catch (err) {
      this.#log.warn({ err, rendition: r.index }, 'HLS fragment could not be placed on the timeline');
      return;
    }
    const tl = this.#current;
    const timescale = run.video.timescale;
    const duration = main.duration / (video ? timescale : (run.audio?.timescale ?? 48000));
    const independent = video?.firstSampleIsSync ?? false;
    let mediaTimeMs: number;
    let msn: number | undefined | null;
    if (video) {
      const t = (video.baseMediaDecodeTime + video.firstCompositionOffset) / timescale;
      mediaTimeMs = (tl.mediaTime0 ?? 0) + (t - PACKAGER_TS_OFFSET_S) * 1000;
      msn = this.#segmentFor(r, t, independent, duration);
      if (msn === null) return;
      r.noteVideo(video.sampleCount, duration);
    } else {
      if (!r.store.openSegment) return;
      mediaTimeMs = r.store.openSegment.mediaTimeMs;
      msn = undefined;
    }
    if (independent) {
      if (r.sinceKeySeconds > 0) r.lastGopSeconds = r.sinceKeySeconds;
      r.sinceKeySeconds = 0;
    }
    r.sinceKeySeconds += duration;
    // PDT dates the segment's first video frame (the one the score timeline
    // is about); audio may start up to an AAC frame earlier or later.
    r.store.addFragment({
      data: f.data,
      duration,
      independent,
      mediaTimeMs,
      pdtMs: Math.round((this.#epochMs ?? Date.now()) + mediaTimeMs),
      msn,
      clocked: true,
    });
    // The score log covers the oldest segment any rendition still lists.
    const firsts = this.#renditions()
      .map((x) => x.store.segments[0])
      .filter((s) => !!s);
    const oldest = firsts.sort((a, b) => a.msn - b.msn)[0];
    if (oldest) this.#scores.prune(oldest.msn, oldest.mediaTimeMs);
  }

  /**
   * mediaTime (ms) of a video RTP timestamp: the origin writes its media
   * clock into it (frame n = 3000 n at 90 kHz). The 32-bit value wraps every
   * ~13 h; the wrap count is the one that lands nearest the latest score.
   */
  #mediaTimeOf(rtp: number, clockRate: number): number {
    const hint = (this.#stream.latestScore?.mediaTime ?? 0) * (clockRate / 1000);
    const wraps = Math.max(0, Math.round((hint - rtp) / TWO32));
    return ((rtp + wraps * TWO32) * 1000) / clockRate;
  }
}
