import { mkdir } from 'node:fs/promises';
import type { Logger } from '@matchmesh/sfu';
import { commentaryLanguage, PlainTap } from '@matchmesh/sfu';
import { FfmpegPackager, PACKAGER_TS_OFFSET_S, reserveRtpPorts } from './FfmpegPackager.ts';
import { type Fragment, type InitSegment, shiftFragment, type TrackInfo } from './fmp4.ts';
import type { HlsSource, HlsStreamOptions } from './HlsStream.ts';
import type { AudioRenditionInfo } from './playlist.ts';
import { RtpRelay } from './RtpRelay.ts';
import type { SegmentStore } from './SegmentStore.ts';

/** What an audio rendition reads of the stream's shared timeline (set by the video renditions). */
export interface AudioTimelineView {
  generation: number;
  /** RTP timestamp of the venue audio at decode time PACKAGER_TS_OFFSET_S. */
  audioRef?: number;
  audioClockRate: number;
  mediaTime0?: number;
  /** Segment starts (s, shared decode timeline) the video renditions registered, oldest first. */
  boundaries: readonly { msn: number; t: number }[];
  cc: number;
}

/** What AudioRenditions needs of its HlsStream. */
export interface AudioRenditionsHost {
  stream: HlsSource;
  options: HlsStreamOptions;
  log: Logger;
  timeline(): AudioTimelineView;
  epochMs(): number | undefined;
  /** A segment store in `<stream dir>/<folder>` (not opened). */
  newStore(folder: string): SegmentStore;
  /** Something changed that blocked requests may wait for. */
  changed(): void;
}

interface AudioRun {
  packager: FfmpegPackager;
  generation: number;
  track?: TrackInfo;
  /** Ticks added to ffmpeg's decode times to put them on the stream's timeline. */
  shift?: number;
}

/** A language's display name in that language ("English", "español"), the tag itself when unknown. */
export function languageName(lang: string): string {
  try {
    const name = new Intl.DisplayNames([lang], { type: 'language', fallback: 'none' }).of(lang);
    return name ? name.charAt(0).toLocaleUpperCase(lang) + name.slice(1) : lang;
  } catch {
    return lang;
  }
}

/** NAME of the venue-only rendition. */
export const VENUE_ONLY_NAME = 'Venue sound only';

/**
 * One audio-only HLS rendition: the venue sound alone (`lang` undefined), or
 * the venue mixed with one language's commentary track — its own PlainTap,
 * relay, ffmpeg (amix → AAC) and segment store, cut at the video renditions'
 * segment boundaries on the stream's shared timeline.
 */
export class AudioRendition {
  readonly lang: string | undefined;
  store: SegmentStore;
  tap: PlainTap | undefined;
  relay: RtpRelay | undefined;
  run: AudioRun | undefined;
  /** Producer ids the tap consumes (venue, then commentary): a change taps again. */
  producerIds = '';
  initGeneration = -1;
  track: TrackInfo | undefined;
  restarts = 0;
  /** Never dropped while it exists (a language that leaves is removed); the routes' check of video renditions. */
  readonly dropped = false;

  constructor(lang: string | undefined, store: SegmentStore) {
    this.lang = lang;
    this.store = store;
  }

  /** Folder beneath the token folder: `audio` (venue only) or `audio-<lang>`. */
  get folder(): string {
    return audioFolder(this.lang);
  }

  get listed(): boolean {
    return !!this.run && !!this.track && this.store.segments.length > 0;
  }
}

export function audioFolder(lang: string | undefined): string {
  return lang ? `audio-${lang}` : 'audio';
}

/**
 * The audio group of a stream's HLS: while a commentary language is on air
 * here, one audio-only rendition per language (venue + that language's mixed
 * track, summed by ffmpeg's amix where the packager takes its RTP) and one of
 * the venue sound alone (the group's DEFAULT). Made here, at the HLS tap, and
 * not at the ingest: every node that packages HLS already receives the venue
 * audio and each language's track once (pipes carry both), so a second
 * GStreamer branch per language at the ingest and a second track through every
 * pipe would cost more than one AAC encode per language per packaging node.
 * The venue-only rendition stays once started (a player on it keeps playing
 * when the last language leaves); a language that leaves is removed (its
 * playlist answers 404 and the client falls back to the venue).
 */
export class AudioRenditions {
  readonly #host: AudioRenditionsHost;
  /** By language ('' = venue only), in the order they came on air. */
  readonly #renditions = new Map<string, AudioRendition>();
  #syncing: Promise<void> = Promise.resolve();
  #closed = false;
  /** Each language's commentary summed with the venue sound of its delay earlier (CommentaryShift). */
  readonly #onDelays = (delays: Record<string, number>): void => {
    for (const r of this.#renditions.values()) if (r.lang) r.relay?.setCommentaryDelay(delays[r.lang] ?? 0);
  };

  constructor(host: AudioRenditionsHost) {
    this.#host = host;
    host.stream.on('commentarydelays', this.#onDelays);
  }

  get renditions(): AudioRendition[] {
    return [...this.#renditions.values()];
  }

  /** The rendition of a folder's language ('' or undefined = venue only). */
  get(lang: string | undefined): AudioRendition | undefined {
    return this.#renditions.get(lang ?? '');
  }

  /** The multivariant playlist's audio group: nothing until a language is packaged. */
  infos(prefix = ''): AudioRenditionInfo[] {
    const listed = this.renditions.filter((r) => r.listed);
    if (!listed.some((r) => r.lang)) return [];
    return listed.map((r) => ({
      name: r.lang ? languageName(r.lang) : VENUE_ONLY_NAME,
      language: r.lang,
      default: !r.lang,
      uri: `${prefix}${r.folder}/media.m3u8`,
    }));
  }

  /** Next part a player may preload: the next segment's first once the video renditions cut it. */
  preloadHint(r: AudioRendition): { msn: number; part: number } | undefined {
    const open = r.store.openSegment;
    if (!open) return r.store.period >= 0 ? { msn: r.store.lastMsn + 1, part: 0 } : undefined;
    const cut = this.#host.timeline().boundaries.some((b) => b.msn > open.msn);
    return cut ? { msn: open.msn + 1, part: 0 } : { msn: open.msn, part: open.parts.length };
  }

  /** Match the renditions to the languages on air and the current program (serialized). */
  sync(): Promise<void> {
    this.#syncing = this.#syncing
      .then(() => this.#sync())
      .catch((err: unknown) => this.#host.log.warn({ err }, 'HLS audio renditions could not be updated'));
    return this.#syncing;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#host.stream.off('commentarydelays', this.#onDelays);
    await this.#syncing;
    await Promise.all(this.renditions.map((r) => this.#remove(r)));
  }

  async #sync(): Promise<void> {
    if (this.#closed) return;
    const { stream } = this.#host;
    const venue = stream.programProducers().find((p) => p.kind === 'audio' && !p.closed);
    const tracks = (stream.commentaryProducers?.() ?? []).filter((p) => !p.closed && commentaryLanguage(p));
    if (!venue || (tracks.length === 0 && this.#renditions.size === 0)) return;
    const want = new Map<string, typeof tracks>([['', [venue]]]);
    for (const t of tracks) want.set(commentaryLanguage(t)!, [venue, t]);
    for (const [lang, r] of this.#renditions) {
      if (want.has(lang)) continue;
      this.#renditions.delete(lang);
      this.#host.log.info({ lang }, 'HLS audio rendition removed: its language left');
      await this.#remove(r);
    }
    const generation = this.#host.timeline().generation;
    // Every wanted rendition exists (its playlist waits for output) before any starts; then all start at once.
    const starts: Promise<void>[] = [];
    for (const [lang, producers] of want) {
      const ids = producers.map((p) => p.id).join(',');
      let r = this.#renditions.get(lang);
      if (r && r.producerIds === ids && r.tap && !r.tap.closed && r.run?.generation === generation) continue;
      if (!r) {
        r = new AudioRendition(lang || undefined, this.#host.newStore(audioFolder(lang || undefined)));
        this.#renditions.set(lang, r);
      }
      r.producerIds = ids;
      starts.push(this.#start(r, producers));
    }
    await Promise.all(starts);
  }

  async #start(r: AudioRendition, producers: ReturnType<HlsSource['programProducers']>): Promise<void> {
    const lang = r.lang ?? 'venue';
    try {
      if (r.store.period < 0 && !r.tap) {
        await r.store.open();
        r.store.discontinuitySequence = this.#host.timeline().cc;
      } else {
        await this.#stop(r);
      }
      r.relay ??= await RtpRelay.open();
      if (r.lang) r.relay.setCommentaryDelay(this.#host.stream.commentaryDelays?.()[r.lang] ?? 0);
      r.tap = await PlainTap.open(this.#host.stream, producers, { ip: '127.0.0.1', port: r.relay.port });
      await this.#startRun(r, r.tap);
      this.#host.log.info({ lang }, 'HLS audio rendition started');
    } catch (err) {
      this.#host.log.warn({ err, lang }, 'HLS audio rendition failed to start');
    }
  }

  async #startRun(r: AudioRendition, tap: PlainTap): Promise<void> {
    const generation = this.#host.timeline().generation;
    await mkdir(r.store.o.dir, { recursive: true });
    const ports = await reserveRtpPorts(tap.tracks.length);
    const tracks = tap.tracks.map((t, i) => ({ ...t, port: ports[i]! }));
    const packager = await FfmpegPackager.start(r.store.o.dir, tracks, { ...this.#host.options, audioOnly: true });
    if (this.#closed || r.tap !== tap || tap.closed) {
      await packager.stop();
      return;
    }
    const run: AudioRun = { packager, generation };
    r.run = run;
    // Venue first: its first timestamp is the one the shared timeline's audio reference is about.
    r.relay?.setTargets(tracks.map((t) => ({ ssrc: t.ssrc, kind: t.kind, port: t.port })));
    packager.on('init', (init) => this.#onInit(r, run, init));
    packager.on('fragment', (f) => this.#onFragment(r, run, f));
    packager.once('exit', (code, stderr) => {
      if (r.run !== run || this.#closed) return;
      this.#host.log.warn({ code, stderr: stderr.slice(-500), lang: r.lang ?? 'venue' }, 'HLS audio packager exited');
      r.restarts++;
      r.run = undefined;
      r.relay?.setTargets([]);
      // Same store: segments are cut at the shared boundaries, so the playlist continues.
      setTimeout(() => {
        if (this.#closed || r.run || r.tap !== tap || tap.closed) return;
        void this.#startRun(r, tap).catch((err: unknown) =>
          this.#host.log.warn({ err, lang: r.lang ?? 'venue' }, 'HLS audio packager failed to restart'),
        );
      }, 1000).unref();
    });
  }

  #onInit(r: AudioRendition, run: AudioRun, init: InitSegment): void {
    if (r.run !== run) return;
    run.track = init.tracks.find((t) => t.kind === 'audio');
    r.track = run.track;
    const discontinuity = r.store.period >= 0 && r.initGeneration !== run.generation;
    r.initGeneration = run.generation;
    r.store.setInit(init.data, discontinuity);
  }

  /**
   * Places an audio fragment on the shared timeline — the same shift as the
   * video renditions' muxed audio (its venue's first RTP timestamp against the
   * timeline's audio reference) — and cuts segments where the video did: a
   * fragment whose middle passed a boundary begins that segment, so audio
   * segment n covers about the time video segment n does (within one AAC
   * fragment; alternate renditions need not be cut alike, players place them
   * by time). Nothing is kept before the video renditions set the timeline.
   */
  #onFragment(r: AudioRendition, run: AudioRun, f: Fragment): void {
    const track = run.track;
    if (r.run !== run || !track) return;
    const tl = this.#host.timeline();
    const a0 = r.relay?.firstAudioTimestamp;
    if (tl.generation !== run.generation || tl.audioRef === undefined || tl.mediaTime0 === undefined) return;
    if (a0 === undefined) return;
    run.shift ??= Math.round((((a0 - tl.audioRef) | 0) / tl.audioClockRate) * track.timescale);
    try {
      shiftFragment(f, new Map([[track.id, run.shift]]));
    } catch (err) {
      this.#host.log.warn({ err, lang: r.lang ?? 'venue' }, 'HLS audio fragment could not be placed on the timeline');
      return;
    }
    const a = f.runs.find((x) => x.trackId === track.id);
    if (!a) return;
    const t = a.baseMediaDecodeTime / track.timescale;
    const duration = a.duration / track.timescale;
    const boundary = tl.boundaries.findLast((b) => b.t <= t + duration / 2);
    const open = r.store.openSegment;
    const cur = open && r.initGeneration === tl.generation ? open.msn : undefined;
    let msn: number | undefined;
    if (cur === undefined) {
      if (!boundary) return;
      msn = boundary.msn;
    } else {
      msn = boundary && boundary.msn > cur ? boundary.msn : undefined;
    }
    const mediaTimeMs = tl.mediaTime0 + (t - PACKAGER_TS_OFFSET_S) * 1000;
    r.store.addFragment({
      data: f.data,
      duration,
      independent: true,
      mediaTimeMs,
      pdtMs: Math.round((this.#host.epochMs() ?? Date.now()) + mediaTimeMs),
      msn,
      clocked: true,
    });
  }

  async #stop(r: AudioRendition): Promise<void> {
    const run = r.run;
    r.run = undefined;
    r.tap?.close();
    r.tap = undefined;
    r.relay?.setTargets([]);
    if (run) await run.packager.stop();
  }

  async #remove(r: AudioRendition): Promise<void> {
    await this.#stop(r);
    r.relay?.close();
    r.relay = undefined;
    r.store.close();
    this.#host.changed();
    await r.store.destroy().catch(() => undefined);
  }
}
