import * as sdpTransform from 'sdp-transform';
import type { MediaDescription, SessionDescription } from 'sdp-transform';
import { MediaError } from '../errors.ts';

/** Hard limits: an SDP bigger than this is an attack, not an offer. */
export const MAX_SDP_BYTES = 64 * 1024;
const MAX_MEDIA_SECTIONS = 8;

export interface DtlsFingerprint {
  algorithm: string;
  value: string;
}

export interface OfferMedia {
  /** The parsed m= section, as sdp-transform gives it. */
  section: MediaDescription;
  kind: 'audio' | 'video' | 'application';
  mid: string;
}

export interface ParsedOffer {
  session: SessionDescription;
  iceUfrag: string;
  icePwd: string;
  fingerprint: DtlsFingerprint;
  /** The offerer's DTLS setup role (WHIP/WHEP clients send actpass). */
  setup: 'actpass' | 'active' | 'passive';
  media: OfferMedia[];
}

/**
 * A section the offerer turned off (port 0). Not one sent `bundle-only`
 * (RFC 8843 §6: port 0 + a=bundle-only is how a max-bundle offerer such as a
 * browser offers every section after the first — active, on the bundle's
 * transport): that one is answered as part of the bundle.
 */
export function isDisabled(section: OfferMedia['section']): boolean {
  return section.port === 0 && (section as { bundleOnly?: string }).bundleOnly === undefined;
}

function bad(reason: string): never {
  throw new MediaError('bad_sdp', reason);
}

/**
 * Parse and sanity-check a WHIP/WHEP offer. Everything the answer builder
 * relies on is checked here once, so the rest of the bridge can trust the
 * shape (it still validates *contents*, such as codecs, against the router).
 */
export function parseOffer(sdp: string): ParsedOffer {
  if (typeof sdp !== 'string' || sdp.length === 0) bad('empty SDP');
  if (Buffer.byteLength(sdp) > MAX_SDP_BYTES) bad(`SDP larger than ${MAX_SDP_BYTES} bytes`);
  if (!sdp.startsWith('v=0')) bad('SDP must start with "v=0"');

  let session: SessionDescription;
  try {
    session = sdpTransform.parse(sdp);
  } catch (err) {
    bad(`unparsable SDP: ${(err as Error).message}`);
  }
  const sections = session.media ?? [];
  if (sections.length === 0) bad('SDP has no m= section');
  if (sections.length > MAX_MEDIA_SECTIONS) bad(`SDP has more than ${MAX_MEDIA_SECTIONS} m= sections`);

  const media: OfferMedia[] = [];
  const mids = new Set<string>();
  let iceUfrag: string | undefined;
  let icePwd: string | undefined;
  let fingerprint: DtlsFingerprint | undefined;
  let setup: ParsedOffer['setup'] | undefined;

  for (const [index, section] of sections.entries()) {
    const kind = section.type;
    if (kind !== 'audio' && kind !== 'video' && kind !== 'application') {
      bad(`m= section ${index} has unsupported media type "${String(kind)}"`);
    }
    const mid = section.mid === undefined ? undefined : String(section.mid);
    if (!mid) bad(`m= section ${index} has no a=mid (BUNDLE requires one)`);
    if (mid.length > 32) bad(`m= section ${index} has an a=mid longer than 32 characters`);
    if (mids.has(mid)) bad(`duplicate a=mid "${mid}"`);
    mids.add(mid);

    // ICE and DTLS parameters may sit at session or media level; BUNDLE means
    // the first m= section's values are the ones that count.
    iceUfrag ??= section.iceUfrag ?? session.iceUfrag;
    icePwd ??= section.icePwd ?? session.icePwd;
    const fp = section.fingerprint ?? session.fingerprint;
    if (fp && !fingerprint) fingerprint = { algorithm: String(fp.type).toLowerCase(), value: String(fp.hash) };
    const s = section.setup ?? session.setup;
    if (s && !setup) {
      if (s !== 'actpass' && s !== 'active' && s !== 'passive') bad(`invalid a=setup "${String(s)}"`);
      setup = s;
    }
    media.push({ section, kind, mid });
  }

  // An SSRC belongs to one m= section; a repeated one is a malformed offer
  // (mediasoup would refuse it deep inside the worker).
  const ssrcs = new Map<number, string>();
  for (const m of media) {
    for (const line of m.section.ssrcs ?? []) {
      const owner = ssrcs.get(Number(line.id));
      if (owner !== undefined && owner !== m.mid) bad(`SSRC ${line.id} appears in more than one m= section`);
      ssrcs.set(Number(line.id), m.mid);
    }
  }

  if (!iceUfrag || !icePwd) bad('SDP has no a=ice-ufrag / a=ice-pwd');
  if (String(iceUfrag).length > 256 || String(icePwd).length > 256) bad('ICE credentials too long');
  if (!fingerprint) bad('SDP has no a=fingerprint (DTLS is mandatory)');
  if (!/^sha-(1|224|256|384|512)$/.test(fingerprint.algorithm)) {
    bad(`unsupported fingerprint algorithm "${fingerprint.algorithm}"`);
  }
  if (!/^([0-9A-Fa-f]{2}:)+[0-9A-Fa-f]{2}$/.test(fingerprint.value)) bad('malformed a=fingerprint value');

  return {
    session,
    iceUfrag: String(iceUfrag),
    icePwd: String(icePwd),
    fingerprint,
    setup: setup ?? 'actpass',
    media,
  };
}

/** The DTLS role mediasoup must be told the *remote* has, given our answer is passive. */
export function remoteDtlsRole(offer: ParsedOffer): 'client' | 'server' {
  // We always answer a=setup:passive (mediasoup is the DTLS server) unless the
  // offerer insists on being passive itself.
  return offer.setup === 'passive' ? 'server' : 'client';
}
