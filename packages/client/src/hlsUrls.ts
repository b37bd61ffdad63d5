/*
 * The URLs an HLS session asks for. Players cannot set headers, so the
 * session credential travels in the URL; hls.js resolves every segment and
 * playlist against the playlists it fetched, so a renewed token has to be
 * written into each URL it builds (withHlsToken, used by HlsSession's xhrSetup).
 */
import { hlsMultivariantPath } from '@matchmesh/protocol';

/** GET {node}/hls/{stream}/index.m3u8?token=… (packages/protocol/src/hls.ts): players cannot set headers. */
export function hlsUrl(nodeUrl: string, stream: string, token: string): string {
  return `${nodeUrl.replace(/\/+$/, '')}${hlsMultivariantPath(stream, token)}`;
}

/** The token of an HLS URL: the `/t/<token>/` folder or the multivariant's `?token=`. */
const TOKEN_FOLDER = /\/t\/[^/?#]+\//;
const TOKEN_QUERY = /([?&]token=)[^&#]*/;

/** `url` with its token replaced by `token` (the URLs hls.js resolved from playlists fetched with an older one). */
export function withHlsToken(url: string, token: string): string {
  return url
    .replace(TOKEN_FOLDER, `/t/${encodeURIComponent(token)}/`)
    .replace(TOKEN_QUERY, `$1${encodeURIComponent(token)}`);
}
