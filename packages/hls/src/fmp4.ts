import { EventEmitter } from 'node:events';

/**
 * Just enough ISO-BMFF to cut ffmpeg's fragmented MP4 into LL-HLS pieces:
 * the init segment (ftyp + moov), and each fragment (moof + mdat) with the
 * facts a playlist needs — per track its decode time, duration, and whether
 * the video starts with a sync sample.
 */

export interface Box {
  type: string;
  /** Whole box, header included. */
  data: Buffer;
  /** Offset of the payload inside `data`. */
  headerSize: number;
}

export interface TrackInfo {
  id: number;
  kind: 'video' | 'audio' | 'other';
  timescale: number;
  /** RFC 6381 codec string (avc1.42e01f, mp4a.40.2). */
  codec?: string;
  width?: number;
  height?: number;
  defaultSampleDuration: number;
  defaultSampleFlags: number;
}

export interface InitSegment {
  data: Buffer;
  tracks: TrackInfo[];
}

export interface TrackRun {
  trackId: number;
  baseMediaDecodeTime: number;
  /** Sum of sample durations, in the track's timescale. */
  duration: number;
  sampleCount: number;
  firstSampleIsSync: boolean;
  /** Composition offset of the first sample: its presentation time is baseMediaDecodeTime + this. */
  firstCompositionOffset: number;
}

export interface Fragment {
  data: Buffer;
  runs: TrackRun[];
}

/** Iterate the boxes directly inside `buf` (a payload). */
export function* childBoxes(buf: Buffer): Generator<Box> {
  let offset = 0;
  while (offset + 8 <= buf.length) {
    let size = buf.readUInt32BE(offset);
    const type = buf.toString('latin1', offset + 4, offset + 8);
    let headerSize = 8;
    if (size === 1) {
      if (offset + 16 > buf.length) return;
      size = Number(buf.readBigUInt64BE(offset + 8));
      headerSize = 16;
    } else if (size === 0) {
      size = buf.length - offset;
    }
    if (size < headerSize || offset + size > buf.length) return;
    yield { type, data: buf.subarray(offset, offset + size), headerSize };
    offset += size;
  }
}

function payload(box: Box): Buffer {
  return box.data.subarray(box.headerSize);
}

function child(buf: Buffer, type: string): Box | undefined {
  for (const b of childBoxes(buf)) if (b.type === type) return b;
  return undefined;
}

function path(buf: Buffer, ...types: string[]): Box | undefined {
  let current: Buffer = buf;
  let found: Box | undefined;
  for (const t of types) {
    found = child(current, t);
    if (!found) return undefined;
    current = payload(found);
  }
  return found;
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

/** Tracks of a moov box payload. */
export function parseMoov(moov: Buffer): TrackInfo[] {
  const trex = new Map<number, { duration: number; flags: number }>();
  const mvex = child(moov, 'mvex');
  if (mvex) {
    for (const b of childBoxes(payload(mvex))) {
      if (b.type !== 'trex') continue;
      const p = payload(b);
      trex.set(p.readUInt32BE(4), { duration: p.readUInt32BE(12), flags: p.readUInt32BE(20) });
    }
  }
  const tracks: TrackInfo[] = [];
  for (const trak of childBoxes(moov)) {
    if (trak.type !== 'trak') continue;
    const t = payload(trak);
    const tkhd = child(t, 'tkhd');
    const mdhd = path(t, 'mdia', 'mdhd');
    const hdlr = path(t, 'mdia', 'hdlr');
    if (!tkhd || !mdhd || !hdlr) continue;
    const tk = payload(tkhd);
    const id = tk[0] === 1 ? tk.readUInt32BE(20) : tk.readUInt32BE(12);
    const md = payload(mdhd);
    const timescale = md[0] === 1 ? md.readUInt32BE(20) : md.readUInt32BE(12);
    const handler = payload(hdlr).toString('latin1', 8, 12);
    const kind = handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other';
    const info: TrackInfo = {
      id,
      kind,
      timescale,
      defaultSampleDuration: trex.get(id)?.duration ?? 0,
      defaultSampleFlags: trex.get(id)?.flags ?? 0,
    };
    const stsd = path(t, 'mdia', 'minf', 'stbl', 'stsd');
    if (stsd) {
      // stsd: version/flags (4) + entry count (4), then sample entries.
      const entry = [...childBoxes(payload(stsd).subarray(8))][0];
      if (entry?.type === 'avc1' || entry?.type === 'avc3') {
        const e = payload(entry);
        info.width = e.readUInt16BE(24);
        info.height = e.readUInt16BE(26);
        const avcC = child(e.subarray(78), 'avcC');
        if (avcC) {
          const c = payload(avcC);
          info.codec = `${entry.type}.${hex2(c[1]!)}${hex2(c[2]!)}${hex2(c[3]!)}`;
        }
      } else if (entry?.type === 'mp4a') {
        info.codec = 'mp4a.40.2';
      } else if (entry) {
        info.codec = entry.type;
      }
    }
    tracks.push(info);
  }
  return tracks;
}

const NON_SYNC = 0x00010000;

/** The per-track runs of a moof box payload (tfhd + tfdt + trun). */
export function parseMoof(moof: Buffer, tracks: ReadonlyMap<number, TrackInfo>): TrackRun[] {
  const runs: TrackRun[] = [];
  for (const traf of childBoxes(moof)) {
    if (traf.type !== 'traf') continue;
    const t = payload(traf);
    const tfhd = child(t, 'tfhd');
    if (!tfhd) continue;
    const h = payload(tfhd);
    const hFlags = h.readUInt32BE(0) & 0xffffff;
    const trackId = h.readUInt32BE(4);
    const track = tracks.get(trackId);
    let o = 8;
    if (hFlags & 0x1) o += 8; // base data offset
    if (hFlags & 0x2) o += 4; // sample description index
    let defaultDuration = track?.defaultSampleDuration ?? 0;
    let defaultFlags = track?.defaultSampleFlags ?? 0;
    if (hFlags & 0x8) {
      defaultDuration = h.readUInt32BE(o);
      o += 4;
    }
    if (hFlags & 0x10) o += 4; // default sample size
    if (hFlags & 0x20) defaultFlags = h.readUInt32BE(o);
    const tfdtBox = child(t, 'tfdt');
    let baseMediaDecodeTime = 0;
    if (tfdtBox) {
      const d = payload(tfdtBox);
      baseMediaDecodeTime = d[0] === 1 ? Number(d.readBigUInt64BE(4)) : d.readUInt32BE(4);
    }
    let duration = 0;
    let sampleCount = 0;
    let firstSampleIsSync = false;
    let firstCompositionOffset = 0;
    let firstRun = true;
    for (const trun of childBoxes(t)) {
      if (trun.type !== 'trun') continue;
      const r = payload(trun);
      const version = r[0]!;
      const flags = r.readUInt32BE(0) & 0xffffff;
      const count = r.readUInt32BE(4);
      let p = 8;
      if (flags & 0x1) p += 4; // data offset
      let firstFlags: number | undefined;
      if (flags & 0x4) {
        firstFlags = r.readUInt32BE(p);
        p += 4;
      }
      for (let i = 0; i < count; i++) {
        let sampleDuration = defaultDuration;
        let sampleFlags = i === 0 && firstFlags !== undefined ? firstFlags : defaultFlags;
        if (flags & 0x100) {
          sampleDuration = r.readUInt32BE(p);
          p += 4;
        }
        if (flags & 0x200) p += 4; // size
        if (flags & 0x400) {
          sampleFlags = r.readUInt32BE(p);
          p += 4;
        }
        let cto = 0;
        if (flags & 0x800) {
          cto = version === 1 ? r.readInt32BE(p) : r.readUInt32BE(p);
          p += 4;
        }
        if (firstRun && i === 0) {
          firstSampleIsSync = (sampleFlags & NON_SYNC) === 0;
          firstCompositionOffset = cto;
        }
        duration += sampleDuration;
      }
      sampleCount += count;
      firstRun = false;
    }
    runs.push({
      trackId,
      baseMediaDecodeTime,
      duration,
      sampleCount,
      firstSampleIsSync,
      firstCompositionOffset,
    });
  }
  return runs;
}

interface Fmp4SplitterEvents {
  init: [init: InitSegment];
  fragment: [fragment: Fragment];
  error: [err: Error];
}

/**
 * Feed it a fragmented-MP4 byte stream (ffmpeg's stdout); it emits the init
 * segment once, then each moof+mdat pair as a fragment. Boxes it does not need
 * (styp, sidx, free) are dropped.
 */
export class Fmp4Splitter extends EventEmitter<Fmp4SplitterEvents> {
  #buffer: Buffer = Buffer.alloc(0);
  #initParts: Buffer[] = [];
  #tracks = new Map<number, TrackInfo>();
  #initDone = false;
  #moof: Buffer | undefined;

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    for (;;) {
      if (this.#buffer.length < 8) return;
      let size = this.#buffer.readUInt32BE(0);
      if (size === 1) {
        if (this.#buffer.length < 16) return;
        size = Number(this.#buffer.readBigUInt64BE(8));
      }
      if (size < 8) {
        this.emit('error', new Error(`bad MP4 box size ${size}`));
        this.#buffer = Buffer.alloc(0);
        return;
      }
      if (this.#buffer.length < size) return;
      const type = this.#buffer.toString('latin1', 4, 8);
      const headerSize = this.#buffer.readUInt32BE(0) === 1 ? 16 : 8;
      const box = Buffer.from(this.#buffer.subarray(0, size));
      this.#buffer = this.#buffer.subarray(size);
      this.#onBox(type, box, headerSize);
    }
  }

  #onBox(type: string, box: Buffer, headerSize: number): void {
    if (!this.#initDone) {
      if (type === 'ftyp') this.#initParts.push(box);
      else if (type === 'moov') {
        this.#initParts.push(box);
        const tracks = parseMoov(box.subarray(headerSize));
        for (const t of tracks) this.#tracks.set(t.id, t);
        this.#initDone = true;
        this.emit('init', { data: Buffer.concat(this.#initParts), tracks });
      }
      return;
    }
    if (type === 'moof') this.#moof = box;
    else if (type === 'mdat' && this.#moof) {
      const moof = this.#moof;
      this.#moof = undefined;
      const runs = parseMoof(moof.subarray(moof.readUInt32BE(0) === 1 ? 16 : 8), this.#tracks);
      this.emit('fragment', { data: Buffer.concat([moof, box]), runs });
    }
  }
}

/**
 * Move each track's decode times in a fragment (moof + mdat) by `shifts`
 * (track id → ticks of that track's timescale), in place: the tfdt boxes
 * are rewritten and `runs` updated. HLS renditions of one stream are each cut
 * by their own ffmpeg, whose timestamps start at the first packet it got;
 * this puts them all on one timeline.
 */
export function shiftFragment(fragment: Fragment, shifts: ReadonlyMap<number, number>): void {
  const first = [...childBoxes(fragment.data)][0];
  if (first?.type !== 'moof') return;
  const moof = payload(first);
  for (const traf of childBoxes(moof)) {
    if (traf.type !== 'traf') continue;
    const t = payload(traf);
    const tfhd = child(t, 'tfhd');
    const tfdt = child(t, 'tfdt');
    if (!tfhd || !tfdt) continue;
    const trackId = payload(tfhd).readUInt32BE(4);
    const shift = shifts.get(trackId) ?? 0;
    if (shift === 0) continue;
    const d = payload(tfdt);
    let value: number;
    if (d[0] === 1) {
      value = Number(d.readBigUInt64BE(4)) + shift;
      if (value < 0) throw new RangeError('shifted decode time is negative');
      d.writeBigUInt64BE(BigInt(value), 4);
    } else {
      value = d.readUInt32BE(4) + shift;
      if (value < 0 || value >= 2 ** 32) throw new RangeError('shifted decode time does not fit a version-0 tfdt');
      d.writeUInt32BE(value, 4);
    }
    for (const run of fragment.runs) if (run.trackId === trackId) run.baseMediaDecodeTime = value;
  }
}
