import type { OfferedCodec } from './rtp.ts';

/**
 * H.264 profiles by name, for refusals a person can act on. The router takes
 * Constrained Baseline and Main (codecs.ts): the HLS fallback copies video
 * without transcoding and every browser's hardware decodes them. High (the
 * default of many encoders, OBS's x264 "high" preset among them) is refused
 * with the profiles to publish instead, rather than served to viewers who
 * might not decode it.
 */
export const ACCEPTED_H264_PROFILES = 'Constrained Baseline 42e01f or Main 4d001f (packetization-mode=1)';

/** profile_idc (first byte of profile-level-id, in hex) → name, per H.264 Annex A. */
const PROFILE_NAMES: Record<string, string> = {
  '42': 'Baseline',
  '4d': 'Main',
  '58': 'Extended',
  '64': 'High',
  '6e': 'High 10',
  '7a': 'High 4:2:2',
  f4: 'High 4:4:4 Predictive',
};

/** The profile a profile-level-id names ("42e01f" → "Constrained Baseline"); undefined when malformed. */
export function h264ProfileName(profileLevelId: string): string | undefined {
  if (!/^[0-9a-fA-F]{6}$/.test(profileLevelId)) return undefined;
  const idc = profileLevelId.slice(0, 2).toLowerCase();
  const constraints = Number.parseInt(profileLevelId.slice(2, 4), 16);
  const name = PROFILE_NAMES[idc];
  if (name === undefined) return `profile_idc 0x${idc}`;
  // constraint_set1_flag on Baseline: the subset every decoder handles (RFC 6184 §8.1).
  if (idc === '42' && (constraints & 0x40) !== 0) return 'Constrained Baseline';
  return name;
}

/**
 * Why no offered H.264 codec could be taken, naming what to publish instead;
 * undefined when the section offers no H.264 (the generic refusal applies).
 */
export function h264Refusal(offered: OfferedCodec[]): string | undefined {
  const h264 = offered.filter((c) => c.mimeType.toLowerCase() === 'video/h264');
  if (h264.length === 0) return undefined;
  const described = h264.map((c) => {
    const pli = String(c.parameters['profile-level-id'] ?? '42001f');
    const mode = Number(c.parameters['packetization-mode'] ?? 0);
    const profile = h264ProfileName(pli) ?? 'unknown profile';
    return mode === 1 ? `${profile} (${pli})` : `${profile} (${pli}) with packetization-mode=${mode}`;
  });
  return `H.264 ${[...new Set(described)].join(', ')} is not supported: publish ${ACCEPTED_H264_PROFILES}`;
}
