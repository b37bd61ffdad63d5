import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { iceServersLinkHeader, mintIceServers } from '../src/ice-servers.ts';

describe('ICE servers with TURN REST-API credentials', () => {
  const urls = ['stun:turn.example.com:3478', 'turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:443'];
  const now = Date.UTC(2026, 10, 26, 12, 0, 0);

  it('mints coturn use-auth-secret credentials for TURN URLs only', () => {
    const servers = mintIceServers({ urls, turnSecret: 'a-long-shared-secret', ttlSeconds: 3600 }, 'viewer-u:1', now);
    expect(servers[0]).toEqual({ urls: ['stun:turn.example.com:3478'] });
    const turn = servers[1]!;
    expect(turn.urls).toEqual(urls.slice(1));
    // Expiry = now + ttl; the user part cannot contain coturn's ':' separator.
    expect(turn.username).toBe(`${now / 1000 + 3600}:viewer-u_1`);
    const expected = createHmac('sha1', 'a-long-shared-secret').update(turn.username!).digest('base64');
    expect(turn.credential).toBe(expected);
  });

  it('sends TURN URLs without credentials when no secret is configured, and nothing when none are', () => {
    expect(mintIceServers({ urls, ttlSeconds: 3600 }, 'x', now)[1]).toEqual({ urls: urls.slice(1) });
    expect(mintIceServers({ urls: [], ttlSeconds: 3600 }, 'x', now)).toEqual([]);
  });

  it('writes RFC 9725 Link headers with the credentials', () => {
    const link = iceServersLinkHeader([
      { urls: ['stun:s:3478'] },
      { urls: 'turn:t:3478', username: '1:u', credential: 'c+/=' },
    ]);
    expect(link).toBe(
      '<stun:s:3478>; rel="ice-server", <turn:t:3478>; rel="ice-server"; username="1:u"; credential="c+/="; credential-type="password"',
    );
    expect(iceServersLinkHeader([])).toBeUndefined();
  });
});
