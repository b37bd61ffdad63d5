import { type Box, childBoxes } from './fmp4.ts';

/**
 * One track out of ffmpeg's muxed fMP4, for the video-only renditions an HLS
 * audio group needs: hls.js cannot play a muxed fMP4 variant with alternate
 * audio renditions (it refuses appends to an "audio" SourceBuffer it did not
 * create; video-dev/hls.js#5485: muxed mp4 with alt audio is unsupported), so
 * while commentary is on air each video rendition is also served without its
 * audio track — the same files on disk, rewritten per request (box headers
 * and offsets only, no media parsing). Plain functions on whole boxes.
 */

const box = (type: string, body: Buffer): Buffer => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
};

const payloadOf = (b: Box): Buffer => b.data.subarray(b.headerSize);

/** Track id of a trak (tkhd), trex or traf (tfhd) payload. */
function trackIdOf(b: Box): number | undefined {
  const p = payloadOf(b);
  if (b.type === 'trex') return p.readUInt32BE(4);
  const inner = [...childBoxes(p)].find((c) => c.type === (b.type === 'trak' ? 'tkhd' : 'tfhd'));
  if (!inner) return undefined;
  const h = payloadOf(inner);
  if (b.type === 'trak') return h[0] === 1 ? h.readUInt32BE(20) : h.readUInt32BE(12);
  return h.readUInt32BE(4);
}

/** Init segment (ftyp + moov) without track `drop`'s trak and trex. */
export function initWithoutTrack(init: Buffer, drop: number): Buffer {
  const out: Buffer[] = [];
  for (const top of childBoxes(init)) {
    if (top.type !== 'moov') {
      out.push(top.data);
      continue;
    }
    const children: Buffer[] = [];
    for (const c of childBoxes(payloadOf(top))) {
      if (c.type === 'trak' && trackIdOf(c) === drop) continue;
      if (c.type === 'mvex') {
        const kept = [...childBoxes(payloadOf(c))].filter((x) => !(x.type === 'trex' && trackIdOf(x) === drop));
        children.push(box('mvex', Buffer.concat(kept.map((x) => x.data))));
        continue;
      }
      children.push(c.data);
    }
    out.push(box('moov', Buffer.concat(children)));
  }
  return Buffer.concat(out);
}

/** Bytes of media data each trun of a traf points at: [offset from the moof's start, length]. */
function trafRanges(traf: Box, defaultSize: number): [number, number][] {
  const ranges: [number, number][] = [];
  const t = payloadOf(traf);
  let sizeFromTfhd = defaultSize;
  for (const c of childBoxes(t)) {
    if (c.type === 'tfhd') {
      const h = payloadOf(c);
      const flags = h.readUInt32BE(0) & 0xffffff;
      let o = 8;
      if (flags & 0x1) o += 8;
      if (flags & 0x2) o += 4;
      if (flags & 0x8) o += 4;
      if (flags & 0x10) sizeFromTfhd = h.readUInt32BE(o);
    }
    if (c.type !== 'trun') continue;
    const r = payloadOf(c);
    const flags = r.readUInt32BE(0) & 0xffffff;
    const count = r.readUInt32BE(4);
    if (!(flags & 0x1)) throw new Error('trun without a data offset');
    const offset = r.readInt32BE(8);
    let p = 12 + (flags & 0x4 ? 4 : 0);
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      if (flags & 0x100) p += 4;
      if (flags & 0x200) {
        bytes += r.readUInt32BE(p);
        p += 4;
      } else bytes += sizeFromTfhd;
      if (flags & 0x400) p += 4;
      if (flags & 0x800) p += 4;
    }
    ranges.push([offset, bytes]);
  }
  return ranges;
}

/** Add `delta` to every trun data offset of a traf (in place, on a copy). */
function shiftTraf(traf: Box, delta: number): Buffer {
  const copy = Buffer.from(traf.data);
  const t = copy.subarray(traf.headerSize);
  for (const c of childBoxes(t)) {
    if (c.type !== 'trun') continue;
    const r = c.data.subarray(c.headerSize);
    if (r.readUInt32BE(0) & 0x1) r.writeInt32BE(r.readInt32BE(8) + delta, 8);
  }
  return copy;
}

/**
 * Media (one or more moof + mdat fragments, ffmpeg's `default_base_moof`:
 * data offsets count from each moof's start) without track `drop`: its traf
 * leaves the moof, its samples leave the mdat, and the other tracks' data
 * offsets follow. Anything that is not a moof + mdat pair passes unchanged.
 */
export function mediaWithoutTrack(media: Buffer, drop: number): Buffer {
  const boxes = [...childBoxes(media)];
  const out: Buffer[] = [];
  for (let i = 0; i < boxes.length; i++) {
    const moof = boxes[i]!;
    const mdat = boxes[i + 1];
    if (moof.type !== 'moof' || mdat?.type !== 'mdat') {
      out.push(moof.data);
      continue;
    }
    i++;
    const children = [...childBoxes(payloadOf(moof))];
    const dropped = children.filter((c) => c.type === 'traf' && trackIdOf(c) === drop);
    if (dropped.length === 0) {
      out.push(moof.data, mdat.data);
      continue;
    }
    // The dropped track's sample bytes, as offsets into the mdat's payload.
    const mdatStart = moof.data.length + mdat.headerSize;
    const cut = dropped
      .flatMap((t) => trafRanges(t, 0))
      .map(([o, n]) => [o - mdatStart, n] as [number, number])
      .sort((a, b) => a[0] - b[0]);
    const removedHeader = dropped.reduce((n, t) => n + t.data.length, 0);
    const data = payloadOf(mdat);
    const kept: Buffer[] = [];
    let at = 0;
    for (const [o, n] of cut) {
      kept.push(data.subarray(at, o));
      at = o + n;
    }
    kept.push(data.subarray(at));
    // Each kept traf's data moves by the moof's shrinkage and by the dropped bytes that were before it.
    const newChildren = children
      .filter((c) => !dropped.includes(c))
      .map((c) => {
        if (c.type !== 'traf') return c.data;
        const [first] = trafRanges(c, 0);
        const before = first ? cut.filter(([o]) => o < first[0] - mdatStart).reduce((n, [, len]) => n + len, 0) : 0;
        // The new mdat has an 8-byte header (the old one may have had a 16-byte one).
        return shiftTraf(c, -removedHeader - before + (8 - mdat.headerSize));
      });
    out.push(box('moof', Buffer.concat(newChildren)), box('mdat', Buffer.concat(kept)));
  }
  return Buffer.concat(out);
}
