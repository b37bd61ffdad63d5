import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { forwardKeyFrameRequests } from './keyFrameFeedback.ts';
import { type MergeReport, sumMergeReports } from './mergeReport.ts';
import {
  DEFAULT_PROGRAM_OPTIONS,
  type ProgramOptions,
  type ProgramSource,
  type ProgramStatus,
  type SourceRole,
  type SwitchRecord,
} from './programTypes.ts';
import { StableTrack } from './StableTrack.ts';
import type { SpliceAt, SpliceInfo } from './types.ts';

// The program's public shapes live in programTypes.ts; re-exported for the modules that import them from here.
export type { ProgramOptions, ProgramSource, SourceRole } from './programTypes.ts';

interface Attached extends ProgramSource {
  attachedAt: number;
  /** Since when the source has delivered without a silence > silenceMs (undefined: silent). */
  aliveSince: number | undefined;
  /** When the program last switched away from it (a stall): its stable time counts from then. */
  demotedAt: number;
}

interface StableProgramEvents {
  /** The set of stable producers changed (first source, or the end of the grace time). */
  changed: [];
  switched: [record: SwitchRecord];
  spliced: [info: SpliceInfo];
}

const now = (): number => performance.now();
const TICK_MS = 25;
/** Within this long of the previous switch a lag-based switch needs twice the lag. */
const LAG_HOLD_MS = 3000;

/**
 * The program of a stream on one node, with a stable identity: one
 * StableTrack per media kind, fed by the best live source. Sources are
 * ranked primary before backup, newest first; the active one is replaced
 * when it has been silent for `silenceMs` and another is alive (media
 * liveness decides, nothing else), and a backup gives way to a primary that
 * has been alive for `returnAfterMs`, on a key frame so the return shows no
 * artifact. Audio and video switch together.
 */
export class StableProgram extends EventEmitter<StableProgramEvents> {
  readonly options: ProgramOptions;
  readonly #transport: types.DirectTransport;
  readonly #routerCaps: types.RtpCapabilities;
  readonly #appData: types.AppData;
  readonly #tracks = new Map<types.MediaKind, StableTrack>();
  readonly #creating = new Map<types.MediaKind, Promise<StableTrack>>();
  readonly #sources = new Map<string, Attached>();
  /** When each path of a merged source was attached (alive until its first packet is due). */
  readonly #pathAttachedAt = new Map<string, number>();
  #active: Attached | undefined;
  #everActive = false;
  #lastSwitchAt = Number.NEGATIVE_INFINITY;
  #switches = 0;
  #lastSwitch: SwitchRecord | undefined;
  #timer: NodeJS.Timeout | undefined;
  #grace: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    transport: types.DirectTransport,
    routerCaps: types.RtpCapabilities,
    appData: types.AppData,
    options: Partial<ProgramOptions> = {},
  ) {
    super();
    this.#transport = transport;
    this.#routerCaps = routerCaps;
    this.#appData = appData;
    this.options = { ...DEFAULT_PROGRAM_OPTIONS, ...options };
    transport.on('rtcp', (packet) => this.#onRtcp(packet));
  }

  get live(): boolean {
    return this.#tracks.size > 0;
  }

  /** At least one live feed is attached (the stable producers alone outlive their feeds for the grace time). */
  get fed(): boolean {
    return this.#sources.size > 0;
  }

  producers(): types.Producer[] {
    return [...this.#tracks.values()].map((t) => t.producer);
  }

  track(kind: types.MediaKind): StableTrack | undefined {
    return this.#tracks.get(kind);
  }

  /** Codec of the stable track of `kind`, if there is one (a reconnecting publisher must match it). */
  codecOf(kind: types.MediaKind): string | undefined {
    return this.#tracks.get(kind)?.mimeType;
  }

  /** The newest attached source of a role (a WHIP publisher slot). */
  sourceOf(role: SourceRole): (ProgramSource & { lastPacketMsAgo: number | null }) | undefined {
    const list = [...this.#sources.values()].filter((s) => s.role === role);
    const s = list.at(-1);
    return s ? { ...s, lastPacketMsAgo: this.#silentFor(s) } : undefined;
  }

  /**
   * Has the source delivered a packet within `ms`? A just-attached source
   * counts as alive. `id` may name one path of a merged source: whether that
   * path delivered (won or duplicate).
   */
  sourceAlive(id: string, ms: number): boolean {
    const s = this.#sources.get(id);
    if (!s) return this.#pathAlive(id, ms);
    return this.#aliveFor(s, ms);
  }

  #pathAlive(path: string, ms: number): boolean {
    for (const t of this.#tracks.values()) {
      const source = t.sourceOfPath(path);
      if (!source) continue;
      const at = t.mergeReport(source)?.paths.get(path)?.lastAt ?? this.#pathAttachedAt.get(path);
      if (at !== undefined && now() - at < ms) return true;
    }
    return false;
  }

  #aliveFor(s: Attached, ms: number): boolean {
    const silent = this.#silentFor(s);
    return silent === null ? now() - s.attachedAt < ms : silent < ms;
  }

  status(): ProgramStatus {
    return {
      activeSource: this.#active?.id,
      activeRole: this.#active?.role,
      activeLabel: this.#active?.label,
      sources: [...this.#sources.values()].map((s) => ({
        id: s.id,
        role: s.role,
        label: s.label,
        lastPacketMsAgo: this.#silentFor(s),
      })),
      switches: this.#switches,
      lastSwitch: this.#lastSwitch,
      tracks: [...this.#tracks.values()].map((t) => ({
        kind: t.kind,
        active: t.activeSource,
        pending: t.pendingSource,
        forwarded: t.forwarded,
        dropped: t.dropped,
        paced: t.paced,
        keyFrameRequests: t.keyFrameRequests,
      })),
    };
  }

  /**
   * Per path of the merged source `id` (summed over media kinds): packets won,
   * duplicates dropped, unmatched, and the packets no path delivered.
   */
  mergeReport(id: string): MergeReport | undefined {
    return sumMergeReports([...this.#tracks.values()].map((t) => t.mergeReport(id)));
  }

  /** Add a live feed. Its media is forwarded once it is selected (at once if nothing better is live). */
  async attach(source: ProgramSource): Promise<void> {
    if (this.#closed) throw new Error('program closed');
    clearTimeout(this.#grace);
    this.#grace = undefined;
    const path = source.path;
    if (path) this.#pathAttachedAt.set(path, now());
    const existing = this.#sources.get(source.id);
    if (path && existing) {
      // Another path of a merged source: its packets join the merge; the program sees no new source.
      for (const producer of source.producers) {
        const track = this.#tracks.get(producer.kind) ?? (await this.#trackFor(producer));
        await track.addSource(source.id, producer, path);
      }
      for (const producer of source.producers) {
        if (producer.closed) this.#detachPath(source.id, path);
        else producer.observer.once('close', () => this.#detachPath(source.id, path));
      }
      return;
    }
    const entry: Attached = { ...source, attachedAt: now(), aliveSince: undefined, demotedAt: 0 };
    let added = false;
    for (const producer of source.producers) {
      let track = this.#tracks.get(producer.kind);
      if (!track) {
        added = true;
        track = await this.#trackFor(producer);
      }
      await track.addSource(source.id, producer, path);
    }
    // Only now can it be selected: every track knows it (the selection tick
    // runs meanwhile and would otherwise switch half of the kinds).
    this.#sources.set(source.id, entry);
    const gone = path ? () => this.#detachPath(source.id, path) : () => this.detach(source.id);
    for (const producer of source.producers) {
      if (producer.closed) gone();
      else producer.observer.once('close', gone);
    }
    if (added) this.emit('changed');
    this.#timer ??= setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref?.();
    this.#evaluate();
  }

  /** One path of a merged source went away: the source goes on from its other paths, or goes with the last. */
  #detachPath(id: string, path: string): void {
    this.#pathAttachedAt.delete(path);
    let left = false;
    for (const t of this.#tracks.values()) if (t.removePath(id, path)) left = true;
    if (!left) this.detach(id);
  }

  /** The source went away; the stable producers stay (for `graceMs` if nothing else feeds them). */
  detach(id: string): void {
    const s = this.#sources.get(id);
    if (!s) return;
    this.#sources.delete(id);
    for (const t of this.#tracks.values()) t.removeSource(id);
    if (this.#active === s) this.#active = undefined;
    if (this.#sources.size === 0 && !this.#closed) {
      clearTimeout(this.#grace);
      this.#grace = setTimeout(() => this.#endProgram(), this.options.graceMs);
      this.#grace.unref?.();
    }
    this.#evaluate();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#grace);
    for (const t of this.#tracks.values()) t.close();
    this.#tracks.clear();
    this.#sources.clear();
  }

  async #trackFor(producer: types.Producer): Promise<StableTrack> {
    let pending = this.#creating.get(producer.kind);
    if (!pending) {
      pending = StableTrack.create(
        this.#transport,
        this.#routerCaps,
        producer,
        this.#appData,
        this.options.feedWindow,
        this.options.keyFrameIntervalMs,
      ).then((track) => {
        this.#tracks.set(producer.kind, track);
        track.on('spliced', (info) => this.#onSpliced(info));
        return track;
      });
      this.#creating.set(producer.kind, pending);
      pending.finally(() => this.#creating.delete(producer.kind)).catch(() => undefined);
    }
    return pending;
  }

  /** No source came back within the grace time: the program is over; viewers' consumers close. */
  #endProgram(): void {
    if (this.#sources.size > 0 || this.#closed) return;
    for (const t of this.#tracks.values()) t.close();
    this.#tracks.clear();
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.emit('changed');
  }

  /** Milliseconds since the source's last packet (video if it has video), or null if none yet. */
  #silentFor(s: Attached): number | null {
    const t = this.#tracks.get('video')?.hasSource(s.id) ? this.#tracks.get('video') : this.#tracks.get('audio');
    const at = t?.lastPacketAt(s.id);
    return at === undefined ? null : now() - at;
  }

  #rank(a: Attached, b: Attached): number {
    if (a.role !== b.role) return a.role === 'primary' ? -1 : 1;
    return b.attachedAt - a.attachedAt;
  }

  #lastTick = now();

  /**
   * Timers run before I/O: after the event loop stalled (a loaded machine),
   * packets that arrived meanwhile are still queued and every source looks
   * silent. So skip the first tick after a stall and decide after the poll
   * phase (setImmediate), when what arrived has been counted.
   */
  #tick(): void {
    const t = now();
    const late = t - this.#lastTick > TICK_MS * 2;
    this.#lastTick = t;
    if (!late) setImmediate(() => this.#evaluate());
  }

  #evaluate(): void {
    if (this.#closed) return;
    const t = now();
    const silence = this.options.silenceMs;
    for (const s of this.#sources.values()) {
      const silent = this.#silentFor(s);
      if (silent === null || silent >= silence) s.aliveSince = undefined;
      else s.aliveSince ??= t - silent;
    }
    const ranked = [...this.#sources.values()].sort((a, b) => this.#rank(a, b));
    const alive = ranked.filter((s) => s.aliveSince !== undefined);
    const active = this.#active;
    if (!active) {
      // Nothing on air: the best live source, else the newest (its first key frame starts it).
      const next = alive[0] ?? ranked[0];
      if (next) this.#switchTo(next, this.#everActive ? 'previous source gone' : 'first source', 'now');
      return;
    }
    const activeSilent = this.#silentFor(active);
    const activeDead = activeSilent === null ? t - active.attachedAt >= silence : activeSilent >= silence;
    if (activeDead) {
      const next = alive.find((s) => s !== active);
      if (next) this.#switchTo(next, `no packets from ${active.label} for ${silence} ms`, 'frame');
      return;
    }
    // Two copies of one encoder carry the same timestamps: when the standby
    // copy is ahead of the active one by `lagMs` of media, the active one has
    // stalled. Comparing progress (not wall-clock silence) keeps a stalled
    // event loop, which delays both copies alike, from looking like a failure.
    // For a while after any switch the bar is twice as high, so copies that
    // take turns lagging a little do not ping-pong the program.
    const video = this.#tracks.get('video');
    if (video) {
      const lag = t - this.#lastSwitchAt >= LAG_HOLD_MS ? this.options.lagMs : this.options.lagMs * 2;
      const ahead = alive.find((s) => s !== active && (video.leadMs(active.id, s.id) ?? 0) >= lag);
      if (ahead) {
        const lead = Math.round(video.leadMs(active.id, ahead.id) ?? 0);
        this.#switchTo(ahead, `${active.label} is ${lead} ms behind ${ahead.label}`, 'frame');
        return;
      }
    }
    // A primary that has been alive long enough takes the program back.
    if (active.role === 'backup') {
      const primary = alive.find(
        (s) => s.role === 'primary' && t - Math.max(s.aliveSince ?? t, s.demotedAt) >= this.options.returnAfterMs,
      );
      if (primary) this.#switchTo(primary, `${primary.label} stable for ${this.options.returnAfterMs} ms`, 'keyframe');
    }
  }

  #switchTo(next: Attached, reason: string, at: SpliceAt): void {
    const from = this.#active;
    const first = !this.#everActive;
    // The first source going on air is no switch: it does not raise the lag bar.
    if (!first) this.#lastSwitchAt = now();
    if (from) from.demotedAt = now();
    this.#active = next;
    this.#everActive = true;
    const record: SwitchRecord = { at: Date.now(), from: from?.id, to: next.id, reason, freezeMs: undefined };
    // Recorded before the tracks move: a splice from a standby buffer happens at once.
    if (!first) {
      this.#switches++;
      this.#lastSwitch = record;
    }
    for (const track of this.#tracks.values()) track.select(next.id, at);
    if (!first) this.emit('switched', record);
  }

  #onSpliced(info: SpliceInfo): void {
    const last = this.#lastSwitch;
    if (info.kind === 'video' && last && last.to === info.to && last.freezeMs === undefined) {
      last.freezeMs = Math.round(info.gapMs);
    }
    this.emit('spliced', info);
  }

  #onRtcp(packet: Buffer): void {
    const video = this.#tracks.get('video');
    if (video) forwardKeyFrameRequests(packet, video);
  }
}
