import { FIRST_MSN, type Segment } from './SegmentStore.ts';

/**
 * LL-HLS playlists (RFC 8216bis) as plain text, from the store's state. Pure
 * functions: the route decides when (blocking reload), these decide what.
 */

export interface MediaPlaylistInput {
  segments: readonly Segment[];
  discontinuitySequence: number;
  targetDuration: number;
  partTarget: number;
  /** Next part's (msn, index) for EXT-X-PRELOAD-HINT. */
  hint?: { msn: number; part: number };
  /** Delta update requested (_HLS_skip=YES|v2). */
  skip: boolean;
}

const fixed = (n: number): string => n.toFixed(5);

/** CAN-SKIP-UNTIL: the minimum the spec allows (six target durations). */
export function canSkipUntil(targetDuration: number): number {
  return 6 * targetDuration;
}

export function renderMediaPlaylist(p: MediaPlaylistInput): string {
  const out: string[] = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    `#EXT-X-TARGETDURATION:${p.targetDuration}`,
    `#EXT-X-MEDIA-SEQUENCE:${p.segments[0]?.msn ?? FIRST_MSN}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${p.discontinuitySequence}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${fixed(3 * p.partTarget)},CAN-SKIP-UNTIL=${fixed(canSkipUntil(p.targetDuration))}`,
    `#EXT-X-PART-INF:PART-TARGET=${fixed(p.partTarget)}`,
  ];
  if (p.segments.every((s) => s.independent)) out.splice(2, 0, '#EXT-X-INDEPENDENT-SEGMENTS');

  // Delta update: complete segments that start more than CAN-SKIP-UNTIL
  // before the end of the playlist are replaced by EXT-X-SKIP.
  let skipped = 0;
  if (p.skip) {
    const total = p.segments.reduce((sum, s) => sum + s.duration, 0);
    let start = 0;
    for (const s of p.segments) {
      if (!s.complete || total - start <= canSkipUntil(p.targetDuration)) break;
      start += s.duration;
      skipped++;
    }
    if (skipped > 0) out.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);
  }

  let period = -1;
  for (let i = skipped; i < p.segments.length; i++) {
    const s = p.segments[i]!;
    if (s.discontinuity) out.push('#EXT-X-DISCONTINUITY');
    if (s.period !== period) {
      out.push(`#EXT-X-MAP:URI="init-${s.period}.mp4"`);
      period = s.period;
    }
    out.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.pdtMs).toISOString()}`);
    for (const part of s.parts) {
      out.push(
        `#EXT-X-PART:DURATION=${fixed(part.duration)},URI="part-${s.msn}.${part.index}.m4s"${part.independent ? ',INDEPENDENT=YES' : ''}`,
      );
    }
    if (s.complete) {
      out.push(`#EXTINF:${fixed(s.duration)},`);
      out.push(`seg-${s.msn}.m4s`);
    }
  }
  if (p.hint) out.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-${p.hint.msn}.${p.hint.part}.m4s"`);
  return `${out.join('\n')}\n`;
}

export interface VariantInfo {
  /** Peak segment bit rate (bits/s) — BANDWIDTH. */
  bandwidth: number;
  /** Average segment bit rate (bits/s) — AVERAGE-BANDWIDTH, when measured. */
  averageBandwidth?: number;
  codecs: string[];
  width?: number;
  height?: number;
  frameRate?: number;
  /** URI of the media playlist, relative to the multivariant playlist. */
  uri: string;
}

/** One audio rendition of the multivariant playlist's audio group (EXT-X-MEDIA TYPE=AUDIO). */
export interface AudioRenditionInfo {
  /** NAME: what a player's menu shows. */
  name: string;
  /** LANGUAGE (BCP 47); none for the venue sound only. */
  language?: string;
  /** DEFAULT=YES: what a player plays without a choice (the venue sound only). */
  default: boolean;
  /** URI of its media playlist, relative to the multivariant playlist. */
  uri: string;
}

/** GROUP-ID of the audio renditions (one group, referenced by every video rendition). */
export const AUDIO_GROUP_ID = 'audio';

/** A quoted-string attribute value: RFC 8216 forbids `"`, CR and LF inside it. */
const quoted = (s: string): string => `"${s.replace(/["\r\n]/g, '')}"`;

/**
 * The multivariant playlist: one EXT-X-STREAM-INF per video rendition, in the
 * order given (a player starts with the first). Every video rendition carries
 * its own AAC audio (muxed: the venue sound). With `audio` (commentary on
 * air), an EXT-X-MEDIA TYPE=AUDIO group lists the audio-only renditions —
 * venue sound only (DEFAULT) and venue + each language's commentary — and
 * every EXT-X-STREAM-INF names it (AUDIO=), so a player plays the chosen
 * audio rendition instead of the muxed audio.
 */
export function renderMultivariant(
  variants: VariantInfo | readonly VariantInfo[],
  audio: readonly AudioRenditionInfo[] = [],
): string {
  const list = Array.isArray(variants) ? variants : [variants as VariantInfo];
  const out = ['#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const a of audio) {
    const attrs = [`TYPE=AUDIO`, `GROUP-ID="${AUDIO_GROUP_ID}"`];
    if (a.language) attrs.push(`LANGUAGE=${quoted(a.language)}`);
    // DEFAULT=YES requires AUTOSELECT=YES (RFC 8216 4.3.4.1); every rendition may be auto-selected by language.
    attrs.push(`NAME=${quoted(a.name)}`, `DEFAULT=${a.default ? 'YES' : 'NO'}`, 'AUTOSELECT=YES', 'CHANNELS="2"');
    attrs.push(`URI=${quoted(a.uri)}`);
    out.push(`#EXT-X-MEDIA:${attrs.join(',')}`);
  }
  for (const v of list) {
    const attrs = [`BANDWIDTH=${Math.round(v.bandwidth)}`];
    if (v.averageBandwidth) attrs.push(`AVERAGE-BANDWIDTH=${Math.round(v.averageBandwidth)}`);
    attrs.push(`CODECS="${v.codecs.join(',')}"`);
    if (v.width && v.height) attrs.push(`RESOLUTION=${v.width}x${v.height}`);
    if (v.frameRate) attrs.push(`FRAME-RATE=${v.frameRate.toFixed(3)}`);
    if (audio.length > 0) attrs.push(`AUDIO="${AUDIO_GROUP_ID}"`);
    out.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri);
  }
  return `${out.join('\n')}\n`;
}
