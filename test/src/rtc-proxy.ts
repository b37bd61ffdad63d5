import dgram from 'node:dgram';
import net from 'node:net';

/**
 * What the "network" between viewers and a node's WebRtcServer lets through:
 * - 'open': everything;
 * - 'udp-blocked': UDP dropped silently, TCP passes (a network that only
 *   allows TCP out — WebRTC must use ICE-TCP);
 * - 'blocked': UDP dropped and TCP connections reset (a firewall that lets
 *   only HTTP(S) to known hosts out — WebRTC cannot get through at all).
 */
export type RtcProxyMode = 'open' | 'udp-blocked' | 'blocked';

export interface RtcProxy {
  readonly mode: RtcProxyMode;
  setMode(mode: RtcProxyMode): void;
  /** Datagrams and TCP connections forwarded / dropped so far. */
  readonly counts: { udpForwarded: number; udpDropped: number; tcpAccepted: number; tcpRefused: number };
  close(): Promise<void>;
}

/**
 * A user-space firewall in front of a node's WebRtcServer, for tests that
 * cut WebRTC media mid-match without root or iptables: the node listens on
 * 127.0.0.1:port and announces `listenIp` (e.g. 127.0.0.2, still loopback)
 * in its ICE candidates (MM_ANNOUNCED_ADDRESS); this proxy listens on
 * listenIp:port for UDP and TCP and forwards to the node, dropping what the
 * mode forbids. Signaling and HLS (HTTP) do not pass through it.
 */
export async function startRtcProxy(listenIp: string, port: number, targetIp = '127.0.0.1'): Promise<RtcProxy> {
  let mode: RtcProxyMode = 'open';
  const counts = { udpForwarded: 0, udpDropped: 0, tcpAccepted: 0, tcpRefused: 0 };

  // UDP: one upstream socket per viewer address, so the node sees one peer per viewer.
  const front = dgram.createSocket('udp4');
  const upstreams = new Map<string, dgram.Socket>();
  front.on('message', (msg, from) => {
    if (mode !== 'open') {
      counts.udpDropped++;
      return;
    }
    const key = `${from.address}:${from.port}`;
    let upstream = upstreams.get(key);
    if (!upstream) {
      const socket = dgram.createSocket('udp4');
      socket.on('message', (reply) => {
        if (mode !== 'open') {
          counts.udpDropped++;
          return;
        }
        counts.udpForwarded++;
        front.send(reply, from.port, from.address);
      });
      socket.on('error', () => socket.close());
      socket.bind(0, targetIp);
      upstreams.set(key, socket);
      upstream = socket;
    }
    counts.udpForwarded++;
    upstream.send(msg, port, targetIp);
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.bind(port, listenIp, () => resolve());
  });

  // TCP (ICE-TCP): a plain byte pipe while allowed; reset when blocked.
  const connections = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (mode === 'blocked') {
      counts.tcpRefused++;
      client.resetAndDestroy();
      return;
    }
    counts.tcpAccepted++;
    const upstream = net.connect(port, targetIp);
    for (const socket of [client, upstream]) {
      connections.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => connections.delete(socket));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listenIp, () => resolve());
  });

  return {
    get mode() {
      return mode;
    },
    setMode(next: RtcProxyMode) {
      mode = next;
      if (mode === 'blocked') for (const socket of connections) socket.resetAndDestroy();
    },
    counts,
    close: async () => {
      for (const socket of connections) socket.destroy();
      for (const socket of upstreams.values()) socket.close();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
