/**
 * The hls.js settings of the HLS rung (HlsSession), kept apart so tests can
 * give a bare hls.js page the product's player.
 *
 * The bandwidth estimate is the smaller of a fast and a slow moving average
 * of download samples. hls.js's live defaults (3 s and 9 s half-lives) are
 * sized for 6 s segments; LL-HLS parts give several samples a second, and
 * with the 9 s average a viewer whose link recovered stayed on the lowest
 * rendition for 8–15 s (e2e hls-ladder, under load). 2 s and 4 s keep the
 * estimate smoothed over a few segments and climb back in a few seconds.
 */
export const HLS_JS_CONFIG = {
  lowLatencyMode: true,
  backBufferLength: 30,
  abrEwmaFastLive: 2,
  abrEwmaSlowLive: 4,
} as const;
