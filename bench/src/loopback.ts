// The bench sends thousands of RTP streams and signaling joins: it must never
// be pointed at anything but this machine. Only loopback literals and
// "localhost" are accepted; no DNS lookup is done (a name could resolve
// anywhere), so anything else is refused outright.
import net from 'node:net';

export function assertLoopback(host: string): string {
  if (host === 'localhost') return '127.0.0.1';
  const kind = net.isIP(host);
  if (kind === 4 && host.split('.')[0] === '127') return host;
  if (kind === 6 && (host === '::1' || host === '0:0:0:0:0:0:0:1')) return host;
  throw new Error(`refusing to send load to "${host}": the bench only targets loopback (127.0.0.0/8, ::1, localhost)`);
}

/** Accepts http(s)/ws(s) URLs whose host is loopback; used for any URL a scenario is given. */
export function assertLoopbackUrl(url: string): URL {
  const u = new URL(url);
  assertLoopback(u.hostname.replace(/^\[|\]$/g, ''));
  return u;
}
