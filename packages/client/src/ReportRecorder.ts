import {
  REPORT_SUBMIT_PATH,
  REPORT_WINDOW_MS,
  type ReportFallback,
  type ReportFigures,
  type ReportFreeze,
  type ReportSample,
  type ReportSubmission,
} from '@matchmesh/protocol';
import type { Player } from './Player.ts';
import type { PlayerStats } from './PlayerTypes.ts';
import { layerLabel } from './quality.ts';

/** What the recorder reads of a player (a Player; a fake in unit tests). */
export type RecordedPlayer = Pick<Player, 'stats' | 'videoLayers' | 'placement' | 'on' | 'path' | 'reason'>;

export type ReportRecorderOptions = {
  /** How far back the figures go (default REPORT_WINDOW_MS, 60 s). */
  windowMs?: number;
  /** Sampling period (default 1 s). */
  everyMs?: number;
  /** The clock (ms since the epoch); tests pass their own. */
  now?: () => number;
  /** navigator.userAgent, for the browser's and the OS's short names. */
  userAgent?: string;
};

/**
 * The player's own figures over the last minute, for a problem report: one
 * sample a second of what the stats panel shows (path, node, region, RTT,
 * loss, jitter, frames decoded, bitrate, layer), the freezes (seconds with
 * no newly decoded frame while on a path) and the moves along the ladder with
 * the player's reasons. Only measurements: nothing that identifies the viewer
 * beyond a short browser and OS name.
 */
export class ReportRecorder {
  readonly #player: RecordedPlayer;
  readonly #windowMs: number;
  readonly #everyMs: number;
  readonly #now: () => number;
  readonly #userAgent: string;
  #samples: ReportSample[] = [];
  #freezes: ReportFreeze[] = [];
  #fallbacks: ReportFallback[] = [];
  /** A freeze still going on: since when (the last sample that had progressed). */
  #freezeSince: number | null = null;
  /**
   * The last few samples' stats, newest last (emptied when nothing plays). Deltas (kbps, loss, a freeze) are
   * taken against the newest one at least half a period old: the report button takes a sample of its own, which
   * can come a few ms after the timer's, and the browser may answer both from one cached stats report — against
   * that sample, the bitrate would read 0 and the picture frozen.
   */
  #recent: { at: number; stats: PlayerStats }[] = [];
  #lastPath: string;
  #timer: ReturnType<typeof setInterval> | undefined;
  #offState: (() => void) | undefined;
  #sampling = false;

  constructor(player: RecordedPlayer, options: ReportRecorderOptions = {}) {
    this.#player = player;
    this.#windowMs = options.windowMs ?? REPORT_WINDOW_MS;
    this.#everyMs = options.everyMs ?? 1000;
    this.#now = options.now ?? Date.now;
    this.#userAgent = options.userAgent ?? (typeof navigator === 'undefined' ? '' : navigator.userAgent);
    this.#lastPath = player.path;
  }

  /** Sample every second and follow the player's moves until stop(). */
  start(): void {
    if (this.#timer) return;
    this.#offState = this.#player.on('state', (change) => this.pathChanged(change.path, change.reason));
    this.#timer = setInterval(() => void this.sampleNow(), this.#everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#offState?.();
  }

  /** Take one sample from the player now (skipped while the previous one is still being read). */
  async sampleNow(): Promise<void> {
    if (this.#sampling) return;
    this.#sampling = true;
    try {
      const stats = await this.#player.stats().catch(() => null);
      this.record(stats);
    } finally {
      this.#sampling = false;
    }
  }

  /** One sample of `stats` at the recorder's clock (the player's getStats summary; null: nothing playing). */
  record(stats: PlayerStats | null): void {
    const at = this.#now();
    const prev = this.#recent.findLast((r) => at - r.at >= this.#everyMs / 2) ?? null;
    const path = !stats ? 'none' : stats.path === 'webrtc' && stats.iceProtocol === 'tcp' ? 'webrtc-tcp' : stats.path;
    const frames = stats?.framesDecoded ?? 0;
    const dt = prev ? (at - prev.at) / 1000 : 0;
    const received = (s: PlayerStats) => s.inboundAudioPackets + s.inboundVideoPackets;
    let lossPct: number | null = null;
    let kbps: number | null = null;
    // Counters restart with a new session (another relay, another path): a drop is a restart, not a delta.
    if (stats && prev && dt > 0 && stats.bytesReceived >= prev.stats.bytesReceived) {
      kbps = ((stats.bytesReceived - prev.stats.bytesReceived) * 8) / 1000 / dt;
      const lost = Math.max(0, stats.packetsLost - prev.stats.packetsLost);
      const got = Math.max(0, received(stats) - received(prev.stats));
      lossPct = lost + got > 0 ? (100 * lost) / (lost + got) : 0;
    }
    const layers = this.#player.videoLayers;
    const current = layers?.current?.spatialLayer;
    this.#samples.push({
      at,
      path,
      ...(stats ? whereOf(stats) : { nodeId: null, region: null }),
      rttMs: stats?.rttMs ?? null,
      packetsLost: Math.max(0, Math.round(stats?.packetsLost ?? 0)),
      lossPct,
      jitterMs: stats?.jitterMs ?? null,
      framesDecoded: Math.max(0, Math.round(frames)),
      fps: stats?.framesPerSecond ?? null,
      kbps,
      layer: layers && current !== undefined && path.startsWith('webrtc') ? layerLabel(layers, current) : null,
    });
    this.#trackFreeze(at, path, frames, prev);
    this.#recent = stats ? [...this.#recent.slice(-2), { at, stats }] : [];
    this.#forget(at);
  }

  /** The player moved along the ladder (or lost its path): kept with its reason. */
  pathChanged(path: string, reason: string): void {
    if (path === this.#lastPath) return;
    this.#fallbacks.push({ at: this.#now(), from: this.#lastPath, to: path, reason: reason.slice(0, 300) });
    this.#lastPath = path;
    this.#forget(this.#now());
  }

  /** The last window's figures, ready to send. A freeze still going on counts up to now. */
  figures(): ReportFigures {
    const now = this.#now();
    this.#forget(now);
    const open = this.#freezeSince === null ? [] : [{ at: this.#freezeSince, durationMs: now - this.#freezeSince }];
    const rtts = this.#player.placement?.rtts ?? {};
    return {
      samples: [...this.#samples],
      freezes: [...this.#freezes, ...open],
      fallbacks: [...this.#fallbacks],
      placementRtts: Object.fromEntries(
        Object.entries(rtts).map(([r, ms]) => [r, ms === null ? null : Math.round(ms)]),
      ),
      ...platformOf(this.#userAgent),
    };
  }

  /**
   * A freeze: while on a path, a sample with no frame decoded since the
   * previous one. It starts at that previous sample and ends at the first
   * sample that decoded again.
   */
  #trackFreeze(at: number, path: string, frames: number, prev: { at: number; stats: PlayerStats } | null): void {
    const before = prev?.stats.framesDecoded;
    const stuck = path !== 'none' && prev !== null && before !== undefined && frames === before;
    if (stuck) {
      this.#freezeSince ??= prev.at;
      return;
    }
    if (this.#freezeSince !== null) {
      this.#freezes.push({ at: this.#freezeSince, durationMs: at - this.#freezeSince });
      this.#freezeSince = null;
    }
  }

  #forget(now: number): void {
    const since = now - this.#windowMs;
    this.#samples = this.#samples.filter((s) => s.at >= since);
    this.#freezes = this.#freezes.filter((f) => f.at + f.durationMs >= since);
    this.#fallbacks = this.#fallbacks.filter((f) => f.at >= since);
  }
}

/**
 * The node playing and its region: the session's (known once it joined), else
 * the placement's when the player plays (HLS) or connects to the placed node.
 */
function whereOf(stats: PlayerStats): { nodeId: string | null; region: string | null } {
  if (stats.nodeId) return { nodeId: stats.nodeId, region: stats.region };
  const placed = stats.placement;
  if (placed && placed.nodeUrl === stats.nodeUrl)
    return { nodeId: placed.nodeId, region: placed.region ?? stats.region };
  return { nodeId: null, region: stats.region };
}

/** A short browser and OS name from the user agent string (`Chrome 131`, `Linux`): not the string itself. */
export function platformOf(userAgent: string): { browser: string; os: string } {
  const version = (re: RegExp) => re.exec(userAgent)?.[1]?.split('.')[0];
  const named: [string, RegExp][] = [
    ['Edge', /Edg\/([\d.]+)/],
    ['Opera', /OPR\/([\d.]+)/],
    ['Firefox', /Firefox\/([\d.]+)/],
    ['Chrome', /(?:Headless)?Chrome\/([\d.]+)/],
    ['Safari', /Version\/([\d.]+).*Safari/],
  ];
  const hit = named.find(([, re]) => re.test(userAgent));
  const browser = hit ? `${hit[0]} ${version(hit[1])}` : 'other';
  const os = /Android/.test(userAgent)
    ? 'Android'
    : /iPhone|iPad|iPod/.test(userAgent)
      ? 'iOS'
      : /Windows/.test(userAgent)
        ? 'Windows'
        : /Mac OS X/.test(userAgent)
          ? 'macOS'
          : /CrOS/.test(userAgent)
            ? 'ChromeOS'
            : /Linux/.test(userAgent)
              ? 'Linux'
              : 'other';
  return { browser, os };
}

/** A problem report's failure as the page shows it: the node's problem detail and status. */
export class ReportError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Send a problem report to `baseUrl` (any node of the mesh: reports are kept
 * cluster-wide; the page's own origin avoids a cross-origin request). Resolves
 * with the report's id.
 */
export async function sendProblemReport(
  baseUrl: string,
  token: string,
  report: ReportSubmission,
  fetchImpl: typeof fetch = fetch,
): Promise<string> {
  const res = await fetchImpl(new URL(REPORT_SUBMIT_PATH, baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(report),
  });
  const body = (await res.json().catch(() => ({}))) as { id?: string; detail?: string; title?: string };
  if (!res.ok || typeof body.id !== 'string') {
    const retry = res.headers.get('retry-after');
    const why = body.detail ?? body.title ?? `HTTP ${res.status}`;
    throw new ReportError(res.status, retry ? `${why} (retry after ${retry} s)` : why);
  }
  return body.id;
}
