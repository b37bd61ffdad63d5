import { createHmac } from 'node:crypto';
import type { IceServer } from '@matchmesh/protocol';

export interface IceServerConfig {
  /** STUN/TURN URLs (MM_ICE_SERVERS). */
  urls: string[];
  /** coturn `static-auth-secret` (MM_TURN_SECRET); without it TURN URLs go out without credentials. */
  turnSecret?: string;
  /** Lifetime of minted credentials in seconds (MM_TURN_TTL_S). */
  ttlSeconds: number;
}

const isTurn = (url: string): boolean => /^turns?:/i.test(url);

/**
 * ICE servers for one session: STUN URLs as they are, TURN URLs with
 * time-limited credentials of the TURN REST API that coturn checks with
 * `use-auth-secret` (infra/turn/turnserver.conf): username
 * `<unix expiry>:<user>`, credential base64(HMAC-SHA1(secret, username)).
 * Nothing secret leaves the node; a leaked credential expires on its own.
 */
export function mintIceServers(config: IceServerConfig, user: string, nowMs = Date.now()): IceServer[] {
  const stun = config.urls.filter((url) => !isTurn(url));
  const turn = config.urls.filter(isTurn);
  const servers: IceServer[] = stun.length > 0 ? [{ urls: stun }] : [];
  if (turn.length === 0) return servers;
  if (!config.turnSecret) return [...servers, { urls: turn }];
  const expiry = Math.floor(nowMs / 1000) + config.ttlSeconds;
  // coturn splits the username at the first ':'; keep the user part free of it.
  const username = `${expiry}:${user.replace(/:/g, '_')}`;
  const credential = createHmac('sha1', config.turnSecret).update(username).digest('base64');
  return [...servers, { urls: turn, username, credential }];
}

/** RFC 9725 §4.6 `Link` header value for WHIP/WHEP answers. */
export function iceServersLinkHeader(servers: IceServer[]): string | undefined {
  const links = servers.flatMap((server) =>
    (Array.isArray(server.urls) ? server.urls : [server.urls]).map((url) => {
      const auth =
        server.username !== undefined && server.credential !== undefined
          ? `; username="${server.username}"; credential="${server.credential}"; credential-type="password"`
          : '';
      return `<${url}>; rel="ice-server"${auth}`;
    }),
  );
  return links.length > 0 ? links.join(', ') : undefined;
}
