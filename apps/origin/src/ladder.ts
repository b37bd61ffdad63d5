import { VIDEO_SSRC } from './codecs.ts';

/*
 * The simulcast ladder: the layers one ffmpeg encodes from a single decode of
 * the source, each published as its own RTP stream (own SSRC, own rid) in the
 * one video m-section of the WHIP offer (RFC 8853).
 *
 * Written in the environment as `WxH@FPS:KBPS` entries separated by commas,
 * in any order (`MM_LADDER=1920x1080@60:4500,1280x720@60:2000,640x360@30:600`);
 * the agent lists them from the lowest to the highest quality, which is also
 * the order of the rids (`r0` lowest) in `a=simulcast:send r0;r1;r2`.
 *
 * FPS is the layer's maximum: a layer never gets more frames than the source
 * has (a 50 fps feed stays 50 fps under `@60`) and a faster source is thinned
 * to at most FPS by dropping frames, never by duplicating them.
 */

export interface LadderLayer {
  /** RTP stream id: `r0` is the lowest layer. */
  rid: string;
  width: number;
  height: number;
  /** Highest frame rate of the layer (the source's rate when lower). */
  maxFps: number;
  kbps: number;
  /** H.264 level of this layer's SPS (Constrained Baseline), e.g. '4.2'. */
  level: string;
  /** profile-level-id of this layer alone, e.g. '42e02a'. */
  profileLevelId: string;
  /** SSRC the layer is sent with: 0x4D4D5601 + index ("MMV\x01", "MMV\x02"...). */
  ssrc: number;
}

export const DEFAULT_LADDER = '1920x1080@60:4500,1280x720@60:2000,640x360@30:600';
export const MAX_LAYERS = 4;
export const MAX_WIDTH = 1920;
export const MAX_HEIGHT = 1080;
export const MAX_FPS = 60;

/**
 * H.264 levels (ITU-T H.264 table A-1) a Constrained Baseline layer may use:
 * max macroblocks per frame, per second, and max video bitrate (Baseline,
 * kbit/s). Level 4.2 (1080p60) is the highest the ladder allows.
 */
const LEVELS: ReadonlyArray<{ name: string; idc: number; maxFs: number; maxMbps: number; maxKbps: number }> = [
  { name: '2.1', idc: 21, maxFs: 792, maxMbps: 19_800, maxKbps: 4000 },
  { name: '2.2', idc: 22, maxFs: 1620, maxMbps: 20_250, maxKbps: 4000 },
  { name: '3.0', idc: 30, maxFs: 1620, maxMbps: 40_500, maxKbps: 10_000 },
  { name: '3.1', idc: 31, maxFs: 3600, maxMbps: 108_000, maxKbps: 14_000 },
  { name: '3.2', idc: 32, maxFs: 5120, maxMbps: 216_000, maxKbps: 20_000 },
  { name: '4.0', idc: 40, maxFs: 8192, maxMbps: 245_760, maxKbps: 20_000 },
  { name: '4.1', idc: 41, maxFs: 8192, maxMbps: 245_760, maxKbps: 50_000 },
  { name: '4.2', idc: 42, maxFs: 8704, maxMbps: 522_240, maxKbps: 50_000 },
];

/** Lowest H.264 level that carries width x height at fps and kbps (Constrained Baseline). */
export function h264Level(width: number, height: number, fps: number, kbps: number): { name: string; idc: number } {
  const mbs = Math.ceil(width / 16) * Math.ceil(height / 16);
  const level = LEVELS.find(
    (l) =>
      mbs <= l.maxFs &&
      mbs * fps <= l.maxMbps &&
      kbps <= l.maxKbps &&
      // MaxFS also bounds each dimension: sqrt(8 * MaxFS) macroblocks.
      Math.ceil(width / 16) <= Math.sqrt(8 * l.maxFs) &&
      Math.ceil(height / 16) <= Math.sqrt(8 * l.maxFs),
  );
  if (!level) throw new Error(`${width}x${height}@${fps} at ${kbps} kbit/s exceeds H.264 level 4.2`);
  return level;
}

/** Constrained Baseline profile-level-id (42 e0 <level>) as written in SDP. */
export function profileLevelId(levelIdc: number): string {
  return `42e0${levelIdc.toString(16).padStart(2, '0')}`;
}

const ENTRY = /^(\d{2,4})x(\d{2,4})(?:@(\d{1,3}))?:(\d{2,5})$/;

/**
 * Parse `MM_LADDER`. Throws an Error naming the bad entry and what is
 * accepted. Returns the layers lowest first, rids and SSRCs assigned.
 * `fallbackFps` is the frame rate of an entry written without `@FPS`.
 */
export function parseLadder(text: string, fallbackFps = 30): LadderLayer[] {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) throw new Error('empty ladder: give WxH@FPS:KBPS entries, or "off"');
  if (entries.length > MAX_LAYERS) throw new Error(`${entries.length} layers: at most ${MAX_LAYERS}`);
  const parsed = entries.map((entry) => {
    const m = ENTRY.exec(entry);
    if (!m) throw new Error(`"${entry}": expected WxH@FPS:KBPS, e.g. 1280x720@60:2000`);
    const [width, height, fps, kbps] = [Number(m[1]), Number(m[2]), m[3] ? Number(m[3]) : fallbackFps, Number(m[4])];
    if (width % 2 || height % 2) throw new Error(`"${entry}": width and height must be even (4:2:0)`);
    if (width < 64 || height < 64 || width > MAX_WIDTH || height > MAX_HEIGHT)
      throw new Error(`"${entry}": size must be within 64x64 .. ${MAX_WIDTH}x${MAX_HEIGHT}`);
    if (fps < 1 || fps > MAX_FPS) throw new Error(`"${entry}": frame rate must be 1..${MAX_FPS}`);
    if (kbps < 50 || kbps > 20_000) throw new Error(`"${entry}": bitrate must be 50..20000 kbit/s`);
    return { entry, width, height, fps, kbps };
  });
  parsed.sort((a, b) => a.width * a.height - b.width * b.height || a.fps - b.fps || a.kbps - b.kbps);
  for (let i = 1; i < parsed.length; i++) {
    const [lo, hi] = [parsed[i - 1]!, parsed[i]!];
    if (lo.width === hi.width && lo.height === hi.height && lo.fps === hi.fps)
      throw new Error(`"${lo.entry}" and "${hi.entry}": two layers of the same size and frame rate`);
    if (lo.width > hi.width || lo.height > hi.height)
      throw new Error(`"${lo.entry}" and "${hi.entry}": a lower layer must fit inside every higher one`);
    if (lo.kbps > hi.kbps)
      throw new Error(`"${hi.entry}": a higher layer must not have less bitrate than "${lo.entry}"`);
  }
  const top = parsed.at(-1)!;
  for (const l of parsed) {
    // Every layer is scaled from the top one: the same picture, not a stretched one.
    const aspectError = Math.abs((l.width / l.height) * (top.height / top.width) - 1);
    if (aspectError > 0.02)
      throw new Error(
        `"${l.entry}": aspect ratio differs from the top layer "${top.entry}" (all layers scale one picture)`,
      );
  }
  return parsed.map((l, i) => {
    const level = h264Level(l.width, l.height, l.fps, l.kbps);
    return {
      rid: `r${i}`,
      width: l.width,
      height: l.height,
      maxFps: l.fps,
      kbps: l.kbps,
      level: level.name,
      profileLevelId: profileLevelId(level.idc),
      ssrc: VIDEO_SSRC + i,
    };
  });
}

/**
 * The ladder for a source of known frame rate (the test pattern's 30 fps):
 * each layer's maximum becomes what it will really carry, and its level
 * follows. Other sources keep the configured maxima (their rate is only
 * known to ffmpeg).
 */
export function capLadderFps(layers: readonly LadderLayer[], sourceFps: number): LadderLayer[] {
  return layers.map((l) => {
    const maxFps = Math.min(l.maxFps, sourceFps);
    const level = h264Level(l.width, l.height, maxFps, l.kbps);
    return { ...l, maxFps, level: level.name, profileLevelId: profileLevelId(level.idc) };
  });
}

/** The profile-level-id the one video m-section declares: Constrained Baseline at the highest layer's level. */
export function ladderProfileLevelId(layers: readonly LadderLayer[]): string {
  const idc = (id: string) => Number.parseInt(id.slice(4), 16);
  return profileLevelId(Math.max(0x1f, ...layers.map((l) => idc(l.profileLevelId))));
}

/** `a=rid` restriction of a layer: max-width, max-height and max-fps (RFC 8851). */
export function ridRestrictions(layer: LadderLayer): string {
  return `max-width=${layer.width};max-height=${layer.height};max-fps=${layer.maxFps}`;
}

/** One line per layer for logs: `r2 1920x1080@60 4500k 4.2`. */
export function describeLadder(layers: readonly LadderLayer[]): string {
  return layers.map((l) => `${l.rid} ${l.width}x${l.height}@${l.maxFps} ${l.kbps}k L${l.level}`).join(', ');
}
