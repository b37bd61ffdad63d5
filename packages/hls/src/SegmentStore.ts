import { EventEmitter } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Logger, silentLogger } from '@matchmesh/sfu';

export interface Part {
  index: number;
  /** Seconds. */
  duration: number;
  independent: boolean;
  data: Buffer;
}

export interface Segment {
  msn: number;
  /** Init segment (EXT-X-MAP) this segment needs. */
  period: number;
  /** First segment of a new period (EXT-X-DISCONTINUITY before it). */
  discontinuity: boolean;
  /** Program date time of the first frame, ms since the epoch. */
  pdtMs: number;
  /** Stream mediaTime of the first frame, ms. */
  mediaTimeMs: number;
  /** Seconds; grows while open. */
  duration: number;
  independent: boolean;
  complete: boolean;
  bytes: number;
  /** Parts, while recent; dropped (empty) for old segments. */
  parts: Part[];
  /** The whole segment in memory while recent; undefined once only on disk. */
  data?: Buffer;
  /** Written to disk (servable from there). */
  onDisk: boolean;
}

export interface FragmentIn {
  data: Buffer;
  duration: number;
  independent: boolean;
  mediaTimeMs: number;
  pdtMs: number;
  /**
   * Set by a caller that cuts segments itself (HlsStream cuts every rendition
   * of a stream at the same media times, with the same numbers): this
   * fragment begins segment `msn`. Undefined: the store decides (key frame
   * once long enough, or the target duration) — or, for a clocked fragment
   * (`clocked`), continues the open segment.
   */
  msn?: number;
  /** The caller decides the cuts: without `msn`, the fragment continues the open segment (dropped if none). */
  clocked?: boolean;
}

export interface SegmentStoreOptions {
  dir: string;
  /** A segment ends at the first independent part once it is this long (s). */
  segmentSeconds: number;
  /** No segment may be longer than this (EXT-X-TARGETDURATION, s). */
  targetDuration: number;
  windowSeconds: number;
  maxBytes: number;
  /** Keep parts for this many most recent segments. */
  partSegments: number;
  /** Where failed disk writes are reported (silent by default). */
  log?: Logger;
}

/**
 * Media sequence number of a stream's first segment. Not 0: hls.js (1.7.x,
 * fragment-tracker `detectEvictedFragments`) takes `appendedPart.fragment.sn || -1`
 * as the segment a part is being appended to, so for segment 0 it sees none
 * and checks segment 0 itself for eviction after each of its parts is
 * appended; while that segment is still open (the stream just started) its
 * listed span runs past the buffer, hls.js drops it with its parts' loaded
 * marks, and loads the same parts again in a loop — hundreds of times a
 * second, for as long as the player stays in segment 0 (e2e
 * session-credential). RFC 8216bis lets a playlist start at any number.
 */
export const FIRST_MSN = 1;

/** Kept free under the cap for the other files of the folder (ffmpeg's SDP input). */
const RESERVED_BYTES = 4096;

interface SegmentStoreEvents {
  /** Something new is in the playlist (a part, a segment, a period). */
  changed: [];
}

/**
 * The rewind window of one stream: segments on disk under `dir` (named only
 * by number, so no request text ever reaches a file path), recent parts in
 * memory, and eviction by age (window) and by bytes (cap) — the window
 * shrinks before the folder grows past the cap.
 */
export class SegmentStore extends EventEmitter<SegmentStoreEvents> {
  readonly o: SegmentStoreOptions;
  readonly segments: Segment[] = [];
  readonly inits = new Map<number, Buffer>();
  #nextMsn = FIRST_MSN;
  #period = -1;
  #pendingDiscontinuity = false;
  /** Segments removed from the front that began with a discontinuity (EXT-X-DISCONTINUITY-SEQUENCE). */
  discontinuitySequence = 0;
  #diskBytes = 0;
  #closed = false;
  #writes: Promise<unknown> = Promise.resolve();

  constructor(o: SegmentStoreOptions) {
    super();
    this.o = o;
  }

  async open(): Promise<void> {
    await rm(this.o.dir, { recursive: true, force: true });
    await mkdir(this.o.dir, { recursive: true });
  }

  get period(): number {
    return this.#period;
  }

  get diskBytes(): number {
    return this.#diskBytes;
  }

  /**
   * A new init segment: the next part starts a new period — after
   * EXT-X-DISCONTINUITY unless it is the first, or the caller says the
   * timeline continues (a rendition's packager restarted on the stream's
   * shared timeline).
   */
  setInit(data: Buffer, discontinuity = this.#period >= 0): number {
    this.#period++;
    this.inits.set(this.#period, data);
    this.#pendingDiscontinuity = discontinuity;
    const open = this.openSegment;
    if (open) this.#finish(open);
    this.#diskBytes += data.length;
    this.#write(`init-${this.#period}.mp4`, data);
    this.emit('changed');
    return this.#period;
  }

  /** The segment that parts are being added to, if any. */
  get openSegment(): Segment | undefined {
    const last = this.segments.at(-1);
    return last && !last.complete ? last : undefined;
  }

  get lastMsn(): number {
    return this.#nextMsn - 1;
  }

  addFragment(f: FragmentIn): void {
    if (this.#closed || this.#period < 0) return;
    let open = this.openSegment;
    if (f.clocked || f.msn !== undefined) {
      if (f.msn === undefined) {
        if (!open) return;
      } else if (!open || open.msn !== f.msn) {
        if (open) this.#finish(open);
        open = undefined;
        this.#nextMsn = f.msn;
      }
    } else if (open && f.independent && open.duration >= this.o.segmentSeconds * 0.75) {
      // A key frame a little early (GOPs jitter by a frame) still ends the segment.
      this.#finish(open);
      open = undefined;
    } else if (open && open.duration + f.duration > this.o.targetDuration) {
      // No key frame in time: cut anyway (the next segment is not independent).
      this.#finish(open);
      open = undefined;
    }
    if (!open) {
      // A period starts only at an independent fragment (ffmpeg starts at a key frame).
      open = {
        msn: this.#nextMsn++,
        period: this.#period,
        discontinuity: this.#pendingDiscontinuity,
        pdtMs: f.pdtMs,
        mediaTimeMs: f.mediaTimeMs,
        duration: 0,
        independent: f.independent,
        complete: false,
        bytes: 0,
        parts: [],
        onDisk: false,
      };
      this.#pendingDiscontinuity = false;
      this.segments.push(open);
    }
    open.parts.push({
      index: open.parts.length,
      duration: f.duration,
      independent: f.independent,
      data: f.data,
    });
    open.duration += f.duration;
    open.bytes += f.data.length;
    this.emit('changed');
  }

  find(msn: number): Segment | undefined {
    const first = this.segments[0];
    if (!first) return undefined;
    const s = this.segments[msn - first.msn];
    // Numbers are consecutive; a clocked store that skipped one is searched.
    return s?.msn === msn ? s : this.segments.find((x) => x.msn === msn);
  }

  filePath(name: `seg-${number}.m4s` | `init-${number}.mp4`): string {
    return path.join(this.o.dir, name);
  }

  /** Resolves when queued disk writes and deletions are done (tests, shutdown). */
  flushed(): Promise<unknown> {
    return this.#writes;
  }

  close(): void {
    this.#closed = true;
  }

  /** Remove the whole folder (stream packaging stopped for good). */
  async destroy(): Promise<void> {
    this.close();
    await this.#writes;
    await rm(this.o.dir, { recursive: true, force: true });
  }

  #finish(segment: Segment): void {
    segment.complete = true;
    segment.data = Buffer.concat(segment.parts.map((p) => p.data));
    this.#diskBytes += segment.data.length;
    // Old files go first, then the new one is written: the folder never
    // holds more than the cap, not even for a moment.
    this.#evict();
    const data = segment.data;
    void this.#write(`seg-${segment.msn}.m4s`, data).then(() => {
      segment.onDisk = true;
    });
    // Parts and memory copies only for the most recent segments.
    const keep = this.segments.length - this.o.partSegments;
    for (let i = 0; i < keep; i++) {
      const s = this.segments[i]!;
      if (s.parts.length) s.parts = [];
      if (s.onDisk) s.data = undefined;
    }
  }

  #evict(): void {
    const live = this.segments.at(-1);
    if (!live) return;
    const liveEnd = live.pdtMs + live.duration * 1000;
    while (this.segments.length > 2) {
      const first = this.segments[0]!;
      const tooOld = liveEnd - (first.pdtMs + first.duration * 1000) > this.o.windowSeconds * 1000;
      const tooBig = this.#diskBytes + RESERVED_BYTES > this.o.maxBytes;
      if (!first.complete || (!tooOld && !tooBig)) break;
      this.segments.shift();
      if (first.discontinuity) this.discontinuitySequence++;
      this.#diskBytes -= first.bytes;
      this.#remove(`seg-${first.msn}.m4s`);
      const next = this.segments[0];
      if (next && next.period !== first.period && this.inits.has(first.period)) {
        this.#diskBytes -= this.inits.get(first.period)!.length;
        this.inits.delete(first.period);
        this.#remove(`init-${first.period}.mp4`);
      }
    }
  }

  #write(name: string, data: Buffer): Promise<void> {
    const file = path.join(this.o.dir, name);
    // A failed write leaves that file out of the rewind window (it 404s); live parts are served from memory.
    const p = this.#writes
      .then(() => (this.#closed ? undefined : writeFile(file, data)))
      .catch((err: unknown) => this.#log.warn({ err, file }, 'HLS file write failed'));
    this.#writes = p;
    return p;
  }

  #remove(name: string): void {
    const file = path.join(this.o.dir, name);
    // force: a missing file is no error; anything else (permissions) leaves a stray file the byte cap does not count.
    this.#writes = this.#writes
      .then(() => rm(file, { force: true }))
      .catch((err: unknown) => this.#log.warn({ err, file }, 'HLS file removal failed'));
  }

  get #log(): Logger {
    return this.o.log ?? silentLogger;
  }
}
