// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_OFFER } from '../src/fuzz/sdp.ts';
import { startNode, type TestNode, token } from '../src/node.ts';

/*
 * WHIP (RFC 9725) to the letter, on a real node over real HTTP: one test per
 * requirement, named by its section. The offer is a well-formed one nobody
 * completes ICE for (the HTTP contract does not need media).
 */
describe('WHIP and WHEP conformance (RFC 9725)', () => {
  let redis: RedisServer;
  let ingest: TestNode;
  let relay: TestNode;
  const OFFER = `${BASE_OFFER.join('\r\n')}\r\n`;
  let n = 0;

  beforeAll(async () => {
    redis = await startRedisServer();
    ingest = await startNode(redis.url, {
      MM_NODE_ID: 'whip-ingest',
      MM_ROLES: 'ingest,relay',
      MM_ICE_SERVERS: 'stun:stun.example.org:3478',
    });
    relay = await startNode(redis.url, { MM_NODE_ID: 'whip-relay', MM_ROLES: 'relay' });
  }, 60_000);

  afterAll(async () => {
    for (const node of [relay, ingest]) await node?.stop();
    await redis?.stop();
  });

  /** A fresh stream (sessions of one stream replace each other) and its publisher token. */
  const fresh = async () => {
    const stream = `conf-${++n}`;
    return { stream, auth: `Bearer ${await token('publisher', stream)}` };
  };
  const post = (base: string, stream: string, auth: string, body = OFFER, type = 'application/sdp') =>
    fetch(`${base}/whip/${stream}`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': type },
      body,
      redirect: 'manual',
    });
  /** A session: POST, then its URL (absolute) and ETag. */
  const session = async () => {
    const { stream, auth } = await fresh();
    const res = await post(ingest.url, stream, auth);
    expect(res.status).toBe(201);
    return {
      stream,
      auth,
      url: new URL(res.headers.get('location')!, ingest.url).href,
      etag: res.headers.get('etag')!,
    };
  };
  const patch = (url: string, auth: string, headers: Record<string, string>, body: string) =>
    fetch(url, {
      method: 'PATCH',
      headers: { Authorization: auth, 'Content-Type': 'application/trickle-ice-sdpfrag', ...headers },
      body,
    });

  it('§4.2: POST of an SDP offer is 201 with the answer, the session URL (Location) and its ETag', async () => {
    const { stream, auth } = await fresh();
    const res = await post(ingest.url, stream, auth);
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toContain('application/sdp');
    expect(res.headers.get('location')).toMatch(new RegExp(`^/whip/${stream}/sessions/[\\w-]+$`));
    expect(res.headers.get('etag')).toMatch(/^"[^"]+"$/);
    const answer = await res.text();
    expect(answer).toMatch(/^v=0\r\n/);
    expect(answer).toContain('a=ice-ufrag:');
  });

  it('§4.2: an offer in another content type is 415', async () => {
    const { stream, auth } = await fresh();
    const res = await post(ingest.url, stream, auth, OFFER, 'text/plain');
    expect(res.status).toBe(415);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('§4: a method the endpoint does not support is 405 with Allow', async () => {
    const { stream, auth } = await fresh();
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
      const res = await fetch(`${ingest.url}/whip/${stream}`, { method, headers: { Authorization: auth } });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow'), method).toBe('POST, OPTIONS');
    }
  });

  it('§4 (WHEP, the same HTTP contract): 405 with Allow on the endpoint, OPTIONS with Accept-Post', async () => {
    const viewer = `Bearer ${await token('viewer', 'conf-whep')}`;
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
      const res = await fetch(`${ingest.url}/whep/conf-whep`, { method, headers: { Authorization: viewer } });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow'), method).toBe('POST, OPTIONS');
    }
    const options = await fetch(`${ingest.url}/whep/conf-whep`, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('accept-post')).toBe('application/sdp');
    // Not live: 409 with a Retry-After (the player tries again), as a problem.
    const res = await fetch(`${ingest.url}/whep/conf-whep`, {
      method: 'POST',
      headers: { Authorization: viewer, 'Content-Type': 'application/sdp' },
      body: OFFER.replaceAll('a=sendonly', 'a=recvonly'),
    });
    expect(res.status).toBe(409);
    expect(res.headers.get('retry-after')).toBe('5');
  });

  it('§4: a method a session URL does not support is 405 with Allow', async () => {
    const s = await session();
    for (const method of ['GET', 'PUT', 'POST']) {
      const res = await fetch(s.url, { method, headers: { Authorization: s.auth } });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow'), method).toBe('PATCH, DELETE, OPTIONS');
    }
  });

  it('§4.3.1: a trickled candidate with the session ETag is 204', async () => {
    const s = await session();
    const res = await patch(
      s.url,
      s.auth,
      { 'If-Match': s.etag },
      'a=mid:0\r\na=candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host\r\n',
    );
    expect(res.status).toBe(204);
  });

  it('§4.3.1: PATCH without If-Match is 428, with a stale ETag 412', async () => {
    const s = await session();
    const frag = 'a=mid:0\r\na=candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host\r\n';
    expect((await patch(s.url, s.auth, {}, frag)).status).toBe(428);
    expect((await patch(s.url, s.auth, { 'If-Match': '"stale"' }, frag)).status).toBe(412);
  });

  it('§4.3.2: an ICE restart (If-Match: *, new credentials) is 200 with the new ETag and our new credentials', async () => {
    const s = await session();
    const res = await patch(
      s.url,
      s.auth,
      { 'If-Match': '*' },
      'a=ice-ufrag:newU\r\na=ice-pwd:newpasswordnewpasswordnew\r\n',
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/trickle-ice-sdpfrag');
    expect(res.headers.get('etag')).toMatch(/^"[^"]+"$/);
    const frag = await res.text();
    expect(frag).toMatch(/a=ice-ufrag:\S+/);
    expect(frag).toMatch(/a=ice-pwd:\S+/);
  });

  it('§4.2: DELETE ends the session (200); its URL is 404 after', async () => {
    const s = await session();
    expect((await fetch(s.url, { method: 'DELETE', headers: { Authorization: s.auth } })).status).toBe(200);
    expect((await fetch(s.url, { method: 'DELETE', headers: { Authorization: s.auth } })).status).toBe(404);
  });

  it('§4.2: a session URL only works under its own stream', async () => {
    const s = await session();
    const id = s.url.split('/').at(-1)!;
    const other = await fresh();
    const res = await fetch(`${ingest.url}/whip/${other.stream}/sessions/${id}`, {
      method: 'DELETE',
      headers: { Authorization: other.auth },
    });
    expect(res.status).toBe(404);
    // The session itself is untouched.
    expect((await patch(s.url, s.auth, { 'If-Match': s.etag }, 'a=mid:0\r\n')).status).toBe(204);
  });

  it('§4.4: OPTIONS says Accept-Post, and gives ICE servers (Link) only to an authorized caller', async () => {
    const { stream, auth } = await fresh();
    const anonymous = await fetch(`${ingest.url}/whip/${stream}`, { method: 'OPTIONS' });
    expect(anonymous.status).toBe(204);
    expect(anonymous.headers.get('accept-post')).toBe('application/sdp');
    expect(anonymous.headers.get('link')).toBeNull();
    const authorized = await fetch(`${ingest.url}/whip/${stream}`, {
      method: 'OPTIONS',
      headers: { Authorization: auth },
    });
    expect(authorized.headers.get('link')).toContain('<stun:stun.example.org:3478>; rel="ice-server"');
  });

  it('RFC 8843 §6 (max-bundle offers): a bundle-only section (port 0 + a=bundle-only) is answered in the bundle', async () => {
    const { stream, auth } = await fresh();
    // As a max-bundle offerer writes it: every section after the first on port 0, bundle-only.
    const offer = OFFER.replace('m=video 9 ', 'm=video 0 ').replace('a=mid:1\r\n', 'a=mid:1\r\na=bundle-only\r\n');
    expect(offer).toContain('m=video 0 ');
    const res = await post(ingest.url, stream, auth, offer);
    expect(res.status).toBe(201);
    const video = (await res.text()).split('m=').find((m) => m.startsWith('video'))!;
    expect(video).not.toMatch(/^video 0 /);
    expect(video).toContain('a=mid:1');
    expect(video).toContain('a=rtpmap:102 H264/90000');
    expect(video).toContain('a=recvonly');
  });

  it('§4.5: a node that takes no publishers redirects the POST to an ingest of the cluster (307)', async () => {
    const { stream, auth } = await fresh();
    const res = await post(relay.url, stream, auth);
    expect(res.status).toBe(307);
    expect(res.headers.get('location')).toBe(`${ingest.url}/whip/${stream}`);
    // Following it (same method, same body) publishes there.
    const there = await post(res.headers.get('location')!.replace(`/whip/${stream}`, ''), stream, auth);
    expect(there.status).toBe(201);
  });

  it('§4.6: a draining ingest with no other ingest up answers a new publisher 503 with Retry-After', async () => {
    const admin = `Bearer ${await token('admin', '*')}`;
    const drain = (draining: boolean) =>
      fetch(`${ingest.url}/api/v1/nodes/whip-ingest/drain`, {
        method: 'POST',
        headers: { Authorization: admin, 'Content-Type': 'application/json' },
        body: JSON.stringify({ draining }),
      });
    expect((await drain(true)).status).toBe(200);
    try {
      const { stream, auth } = await fresh();
      const res = await post(ingest.url, stream, auth);
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/no node of the cluster/);
    } finally {
      expect((await drain(false)).status).toBe(200);
    }
  });
});
