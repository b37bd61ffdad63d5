import type { Player } from '@matchmesh/client';

/**
 * Tells the node when this player falls back from WebRTC to HLS, and why, so
 * ops see it in the events feed (`POST /beacon/fallback`, the viewer's own
 * token). Once per fall: the next one is sent only after WebRTC played again.
 * Best effort — the node rate-limits it, and a lost beacon costs nothing.
 */
export function watchFallbacks(player: Player, nodeUrl: string, stream: string, token: () => string): () => void {
  let lastNodeId: string | null = null;
  let onHls = false;
  return player.on('state', () => {
    if (player.path === 'webrtc') {
      lastNodeId = player.session?.nodeId ?? lastNodeId;
      onHls = false;
      return;
    }
    if (player.path !== 'hls' || onHls || !player.reason.startsWith('fallback')) return;
    onHls = true;
    const body = {
      stream,
      reason: player.reason.slice(0, 300),
      from: 'webrtc',
      ...(lastNodeId ? { node: lastNodeId } : {}),
    };
    void fetch(new URL('/beacon/fallback', nodeUrl || window.location.origin), {
      method: 'POST',
      headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      keepalive: true,
    }).catch(() => undefined);
  });
}
