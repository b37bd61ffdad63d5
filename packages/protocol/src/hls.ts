import { z } from 'zod';
import { StreamId } from './ids.ts';
import { ScoreUpdate } from './scores.ts';

/**
 * The HTTP contract of a node's HLS output (issue 7; renditions: issue 14).
 * Every region's relay packages the stream it holds as low-latency HLS (CMAF
 * / fragmented MP4, video copied, audio AAC) and serves it beneath
 * `/hls/:stream/`.
 *
 * URL shapes (all GET, all CORS `*`):
 *
 *   /hls/:stream/index.m3u8?token=T         multivariant playlist (entry point)
 *   /hls/:stream/t/:token/index.m3u8        the same, token in the path
 *   /hls/:stream/t/:token/media.m3u8        media playlist of the top rendition (LL-HLS; _HLS_msn, _HLS_part, _HLS_skip)
 *   /hls/:stream/t/:token/init-<p>.mp4      its init segment of period p (EXT-X-MAP)
 *   /hls/:stream/t/:token/seg-<msn>.m4s     its full segment, immutable, kept for the rewind window
 *   /hls/:stream/t/:token/part-<msn>.<i>.m4s its partial segment i of segment msn (recent segments only)
 *   /hls/:stream/t/:token/r<L>/media.m3u8   (and init-, seg-, part- beneath r<L>/) rendition of simulcast layer L
 *   /hls/:stream/t/:token/v<L>/media.m3u8   rendition L without its muxed audio (while commentary is on air)
 *   /hls/:stream/t/:token/audio/media.m3u8        audio rendition: the venue sound only (while commentary is on air)
 *   /hls/:stream/t/:token/audio-<lang>/media.m3u8 audio rendition: venue + the commentary in <lang> (BCP 47)
 *   /hls/:stream/t/:token/scores.json?since=<seq>  score log + timeline anchors (HlsScores), one for all renditions
 *
 * Renditions (issue 14): each simulcast layer of the program video (L = 0 is
 * the lowest; mediasoup orders encodings lowest first) is its own rendition,
 * never transcoded, each with its own AAC audio muxed in (no EXT-X-MEDIA
 * group). The multivariant playlist lists them highest first, each
 * EXT-X-STREAM-INF with BANDWIDTH (peak segment bit rate, +10 %),
 * AVERAGE-BANDWIDTH (measured over the last 30 segments), CODECS
 * (avc1.PPCCLL from the SPS in the init segment, mp4a.40.2), RESOLUTION and
 * FRAME-RATE (measured). A program without simulcast has one rendition: the
 * multivariant playlist points at `media.m3u8` as before. Every rendition
 * shares segment numbers (msn n starts at the same media time in each),
 * decode times (one timeline) and the discontinuity sequence, so one
 * `scores.json` timeline serves all of them. A rendition whose layer stops
 * arriving is left out of the multivariant playlist and its media playlist
 * answers 404 (players switch to another); when the layer returns, its
 * playlist restarts at the current msn. `media.m3u8` at the root is always
 * the top rendition (the highest layer the program has).
 *
 * Commentary (issue 16): while a commentary language is on air, the
 * multivariant playlist has one audio group (`EXT-X-MEDIA:TYPE=AUDIO,
 * GROUP-ID="audio"`) that every EXT-X-STREAM-INF names (`AUDIO="audio"`):
 * the venue sound only (NAME "Venue sound only", DEFAULT=YES, no LANGUAGE)
 * and one rendition per language (LANGUAGE = its BCP 47 tag, NAME = the
 * language's name in itself, DEFAULT=NO), all AUTOSELECT=YES, audio-only
 * fMP4 (AAC) on the same timeline, segment numbers and LL-HLS parts as the
 * video, kept for the rewind window while the language is on air. The
 * variants then point at `v<L>/media.m3u8`: the same rendition with its muxed
 * audio track taken out (hls.js plays alternate audio only beside video-only
 * fMP4), so the player plays the chosen audio rendition. A
 * language that leaves the air is removed (its playlist answers 404).
 *
 * Token carrying: players cannot set headers, so the viewer token (the same
 * JWT as for WebRTC, role viewer or commentator for that stream) is given
 * once as `?token=` on the multivariant playlist; the node then writes it into
 * the path (`t/<token>/`) of the media playlist URI, and every URI inside the
 * media playlist is relative (`seg-12.m4s`), so it inherits the token with no
 * per-line cost and any player (hls.js, Safari, VLC, ffmpeg) carries it.
 *
 * Scores on HLS: every segment carries EXT-X-PROGRAM-DATE-TIME (PDT, ms
 * precision). `scores.json` gives `timeline` anchors that map PDT and fMP4
 * decode time to the stream's mediaTime (the `mediaTime` of ScoreUpdate,
 * frame n = n * 1000 / 30):
 *
 *   anchor = last anchor with anchor.pdt <= pdt
 *   mediaTime = anchor.mediaTime + (pdt - anchor.pdt)
 *   score on screen = last update (highest seq) with mediaTime <= that mediaTime
 *     (compare frame numbers: round(mediaTime * 30 / 1000), to absorb the
 *     sub-millisecond rounding of PDT)
 *
 * Exact frame mapping with hls.js (what the e2e test checks on every
 * presented frame): hls.js places fMP4 decode time D (seconds, tfdt/timescale)
 * at media-element time D - initPTS, where initPTS (= data.initPTS /
 * data.timescale) comes with Hls.Events.INIT_PTS_FOUND for the fragment's
 * discontinuity (frag.cc). So for a presented frame
 * (requestVideoFrameCallback metadata.mediaTime):
 *   decodeTime = metadata.mediaTime + initPTS[cc]
 *   mediaTime  = anchor.mediaTime + (decodeTime - anchor.decodeTime) * 1000
 * with the anchor of that period (the last anchor whose msn <= the segment's).
 * PDT is also given per segment and dates the segment's first video frame;
 * `frag.programDateTime + (t - frag.start) * 1000` is right to about one
 * frame only: hls.js takes frag.start from the audio when the first fragment
 * it loaded began with audio (AAC frames do not line up with video frames).
 * A new anchor appears when the media timeline restarts (the packager
 * restarted after the publisher changed), at a segment that follows
 * EXT-X-DISCONTINUITY.
 *
 * Errors are application/problem+json: 401/403 token, 404 unknown stream or a
 * segment outside the window, 400 bad path / traversal / _HLS_msn too far
 * ahead, 503 + Retry-After while the packager is starting (no init yet).
 */

/** Path prefix of everything HLS. */
export const HLS_PREFIX = '/hls';

/**
 * Header of every HLS answer of a draining relay (exposed cross-origin): the
 * base URL of another relay of its region. A new player's multivariant
 * request is 307'd there; a playing player reads it and moves (the client's
 * HlsSession 'draining' event).
 */
export const HLS_DRAINING_HEADER = 'Matchmesh-Relay-Draining';

/** Names of the files beneath `/hls/:stream/t/:token/`. Anything else is 404 (or 400 if it tries to escape). */
export const HLS_FILE_PATTERNS = {
  multivariant: /^index\.m3u8$/,
  media: /^media\.m3u8$/,
  init: /^init-(\d{1,6})\.mp4$/,
  segment: /^seg-(\d{1,12})\.m4s$/,
  part: /^part-(\d{1,12})\.(\d{1,4})\.m4s$/,
  scores: /^scores\.json$/,
  /** Folder of one rendition beneath the token folder: r<layer>. */
  rendition: /^r(\d{1,2})$/,
  /** Folder of a video rendition without its muxed audio (layer L), named by the multivariant playlist beside an audio group. */
  videoOnly: /^v(\d{1,2})$/,
  /** Folder of an audio rendition: `audio` (venue sound only) or `audio-<BCP 47 language>`. */
  audio: /^audio(?:-([A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8}){0,7}))?$/,
} as const;

export const HLS_MIME = {
  playlist: 'application/vnd.apple.mpegurl',
  init: 'video/mp4',
  segment: 'video/iso.segment',
  json: 'application/json',
} as const;

/** Cache-Control per kind: playlists and the score log change, media never does. */
export const HLS_CACHE_CONTROL = {
  playlist: 'no-cache',
  media: 'public, max-age=31536000, immutable',
  json: 'no-cache',
} as const;

export function hlsMultivariantPath(stream: string, token: string): string {
  return `${HLS_PREFIX}/${stream}/index.m3u8?token=${encodeURIComponent(token)}`;
}

/** Base of the token-carrying folder, with a trailing slash. */
export function hlsTokenBase(stream: string, token: string): string {
  return `${HLS_PREFIX}/${stream}/t/${token}/`;
}

export function hlsScoresPath(stream: string, token: string, since?: number, waitMs?: number): string {
  const query = [since !== undefined ? `since=${since}` : '', waitMs ? `wait=${waitMs}` : ''].filter(Boolean);
  return `${hlsTokenBase(stream, token)}scores.json${query.length ? `?${query.join('&')}` : ''}`;
}

/** Query of a media playlist request (LL-HLS delivery directives). */
export const HlsMediaQuery = z.object({
  _HLS_msn: z.coerce.number().int().min(0).optional(),
  _HLS_part: z.coerce.number().int().min(0).optional(),
  /** YES: skip old segments (delta update); v2 also skips date ranges (we have none). */
  _HLS_skip: z.enum(['YES', 'v2']).optional(),
});
export type HlsMediaQuery = z.infer<typeof HlsMediaQuery>;

export const HlsScoresQuery = z.object({
  /** Only updates with a higher seq (the update in effect at the window start is always included). */
  since: z.coerce.number().int().min(0).optional(),
  /**
   * Blocking request (as LL-HLS blocking playlist reload): with `since`, hold
   * the answer up to this many ms until an update newer than `since` exists,
   * so a player learns of a score as soon as the node does, not a poll later.
   */
  wait: z.coerce.number().int().min(0).max(10_000).optional(),
});

/** Maps program date time (ms since epoch, from EXT-X-PROGRAM-DATE-TIME) to the stream's mediaTime. */
export const HlsTimelineAnchor = z.object({
  pdt: z.number(),
  /** fMP4 decode time (seconds: tfdt / timescale) of the frame whose stream time is `mediaTime`. */
  decodeTime: z.number(),
  mediaTime: z.number().min(0),
  /** Media sequence number of the first segment this anchor applies to. */
  msn: z.number().int().min(0),
});
export type HlsTimelineAnchor = z.infer<typeof HlsTimelineAnchor>;

/** Body of `scores.json`. */
export const HlsScores = z.object({
  stream: StreamId,
  /** Anchors, oldest first; the first covers the oldest segment still in the window. */
  timeline: z.array(HlsTimelineAnchor),
  /** Updates in the rewind window, oldest first, by seq; includes the one in effect at the window start. */
  updates: z.array(ScoreUpdate),
  /** Highest seq known to the node (poll again with since=latestSeq). */
  latestSeq: z.number().int().min(0),
});
export type HlsScores = z.infer<typeof HlsScores>;

/** Media-time in ms of a frame at fMP4 decode time `decodeTime` (s) in the period of `anchor`. */
export function hlsMediaTimeForDecodeTime(anchor: HlsTimelineAnchor, decodeTime: number): number {
  return anchor.mediaTime + (decodeTime - anchor.decodeTime) * 1000;
}

/** Media-time in ms for a program date time, or undefined before the first anchor. */
export function hlsMediaTimeForPdt(timeline: readonly HlsTimelineAnchor[], pdtMs: number): number | undefined {
  let anchor: HlsTimelineAnchor | undefined;
  for (const a of timeline) {
    if (a.pdt <= pdtMs) anchor = a;
    else break;
  }
  return anchor ? anchor.mediaTime + (pdtMs - anchor.pdt) : undefined;
}
