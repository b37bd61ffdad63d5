import type { MediaDescription } from 'sdp-transform';
import { MediaError } from '../errors.ts';

/**
 * Simulcast in a WHIP offer: RFC 8853 `a=simulcast:send`, RFC 8851
 * `a=rid:<id> send [restrictions]`, and the RFC 8852 RtpStreamId header
 * extension that tells the layers apart on the wire (the offerer announces
 * no SSRCs for them, as Chromium does).
 *
 * The contract with the origin agent: one video m-section whose
 * `a=simulcast:send` lists the rids lowest quality first, each with
 * `a=rid:<rid> send max-width=W;max-height=H;max-fps=F`. Layers are ordered
 * by max-height when every layer has one, else in the listed order
 * (Chromium's `sendEncodings` order); mediasoup wants the lowest first.
 */

export const RID_URI = 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id';
export const REPAIRED_RID_URI = 'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id';

/** Default for `maxLayers` (node env MM_SIMULCAST_MAX_LAYERS). */
export const DEFAULT_SIMULCAST_MAX_LAYERS = 3;

/** RFC 8851 rid-id: alphanumeric, '-' and '_'; 16 bytes at most (the RtpStreamId header extension's limit). */
const RID_ID = /^[A-Za-z0-9_-]{1,16}$/;

/** The rid restrictions we read (RFC 8851 §5), all numeric. `pt` and `depend` are lists. */
const NUMERIC_RESTRICTIONS = ['max-width', 'max-height', 'max-fps', 'max-fs', 'max-br', 'max-pps', 'max-bpp'];

export interface SimulcastLayer {
  rid: string;
  /** Listed paused (`~rid`): accepted, it simply sends nothing until the sender resumes it. */
  paused: boolean;
  maxWidth?: number;
  maxHeight?: number;
  maxFps?: number;
  /** max-br, bits per second. */
  maxBitrate?: number;
}

export interface OfferedSimulcast {
  /** Lowest quality first (mediasoup's encoding order). */
  layers: SimulcastLayer[];
  /** The `a=simulcast:send` list as offered (echoed as `a=simulcast:recv`). */
  list: string;
}

function bad(reason: string): never {
  throw new MediaError('bad_simulcast', reason);
}

const ACCEPTED = (maxLayers: number): string =>
  `accepted: one video m-section with "a=simulcast:send <rid>;<rid>..." listing 1 to ${maxLayers} rids (lowest quality first), ` +
  `each declared by "a=rid:<rid> send [max-width=W;max-height=H;max-fps=F]" (rid: 1-16 characters of A-Z a-z 0-9 - _), ` +
  `and the ${RID_URI} header extension`;

/** Every `a=rid:` line of the section: sdp-transform's parsed ones and those its grammar left as invalid. */
function ridLines(section: MediaDescription): { id: string; direction: string; params: string }[] {
  const out: { id: string; direction: string; params: string }[] = [];
  for (const r of section.rids ?? []) {
    out.push({
      id: String(r.id),
      direction: String(r.direction),
      params: r.params === undefined ? '' : String(r.params),
    });
  }
  for (const inv of section.invalid ?? []) {
    const value = String(inv.value);
    if (!value.startsWith('rid:')) continue;
    const [id = '', direction = '', ...rest] = value.slice(4).split(' ');
    out.push({ id, direction, params: rest.join(' ') });
  }
  return out;
}

function restrictions(rid: string, params: string, maxLayers: number): Partial<SimulcastLayer> {
  const out: Partial<SimulcastLayer> = {};
  const text = params.trim();
  if (text === '') return out;
  for (const item of text.split(';')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : item.slice(eq + 1).trim();
    if (key === 'pt' || key === 'depend') continue;
    if (!NUMERIC_RESTRICTIONS.includes(key)) continue; // RFC 8851: unknown restrictions are ignored
    if (!/^\d{1,9}(\.\d{1,6})?$/.test(value) || Number(value) <= 0) {
      bad(
        `a=rid:${rid} restriction "${key}=${value}" is not a positive number; ${ACCEPTED(maxLayers)} (${NUMERIC_RESTRICTIONS.join(', ')} take numbers)`,
      );
    }
    const n = Number(value);
    if (key === 'max-width') out.maxWidth = n;
    else if (key === 'max-height') out.maxHeight = n;
    else if (key === 'max-fps') out.maxFps = n;
    else if (key === 'max-br') out.maxBitrate = n;
  }
  return out;
}

/**
 * The simulcast layers a WHIP m-section offers, or undefined for a plain
 * single-layer offer (OBS, a publisher without simulcast). Throws
 * MediaError `bad_simulcast` (422) for what the mesh cannot take, naming what
 * it accepts.
 */
export function offeredSimulcast(section: MediaDescription, maxLayers: number): OfferedSimulcast | undefined {
  const rids = ridLines(section);
  const sim = section.simulcast;
  const old = (section as { simulcast_03?: unknown }).simulcast_03;
  if (!sim && !old && rids.length === 0) return undefined;
  const kind = section.type;
  if (kind !== 'video') bad(`simulcast on m=${kind} is not supported (only video has layers); ${ACCEPTED(maxLayers)}`);
  if (old && !sim) bad(`the draft-03 form of a=simulcast is not supported; ${ACCEPTED(maxLayers)}`);
  if (!sim) bad(`a=rid without a=simulcast; ${ACCEPTED(maxLayers)}`);
  if (sim.dir2 !== undefined || sim.dir1 !== 'send') {
    bad(`a WHIP offer must only send simulcast ("a=simulcast:send ..."); ${ACCEPTED(maxLayers)}`);
  }
  const list = String(sim.list1);
  const streams = list.split(';');
  if (streams.length > maxLayers) {
    bad(
      `the offer has ${streams.length} simulcast layers; this node takes at most ${maxLayers}; ${ACCEPTED(maxLayers)}`,
    );
  }
  const declared = new Map<string, { direction: string; params: string }>();
  for (const r of rids) {
    if (!RID_ID.test(r.id)) bad(`malformed rid "${r.id}" in a=rid; ${ACCEPTED(maxLayers)}`);
    if (declared.has(r.id)) bad(`rid "${r.id}" is declared twice; ${ACCEPTED(maxLayers)}`);
    declared.set(r.id, { direction: r.direction, params: r.params });
  }

  const layers: SimulcastLayer[] = [];
  for (const stream of streams) {
    if (stream.includes(',')) {
      bad(`alternative rids in one simulcast stream ("${stream}") are not supported; ${ACCEPTED(maxLayers)}`);
    }
    const paused = stream.startsWith('~');
    const rid = paused ? stream.slice(1) : stream;
    if (!RID_ID.test(rid)) bad(`malformed rid "${rid}" in a=simulcast; ${ACCEPTED(maxLayers)}`);
    const decl = declared.get(rid);
    if (!decl) bad(`unknown rid "${rid}" in a=simulcast (no "a=rid:${rid} send" line); ${ACCEPTED(maxLayers)}`);
    if (decl.direction !== 'send') bad(`a=rid:${rid} must be "send" (is "${decl.direction}"); ${ACCEPTED(maxLayers)}`);
    if (layers.some((l) => l.rid === rid)) bad(`rid "${rid}" is listed twice in a=simulcast; ${ACCEPTED(maxLayers)}`);
    layers.push({ rid, paused, ...restrictions(rid, decl.params, maxLayers) });
  }
  if (!(section.ext ?? []).some((e) => e.uri === RID_URI)) {
    bad(`simulcast needs the ${RID_URI} header extension (a=extmap) to tell the layers apart; ${ACCEPTED(maxLayers)}`);
  }
  // Lowest first: by max-height when every layer states one, else as listed.
  if (layers.every((l) => l.maxHeight !== undefined)) {
    layers.sort((a, b) => a.maxHeight! - b.maxHeight!);
  }
  return { layers, list };
}
