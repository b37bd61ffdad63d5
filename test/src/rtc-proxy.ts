import dgram from 'node:dgram';
import net from 'node:net';
import { type PathShape, PathShaper, type PathStats, parsePathShape } from './path-shaper.ts';

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
  /**
   * Shape each viewer's UDP path (see PathShaper): 'down' is node → viewer
   * (where a constrained link hurts a viewer), 'up' viewer → node. Applies to
   * every viewer, present and future; `{}` lifts it.
   */
  shape(direction: 'down' | 'up', shape: PathShape): void;
  /** What the shapers did so far, summed over viewers. */
  shapeStats(direction: 'down' | 'up'): PathStats;
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

  // UDP: one upstream socket per viewer address, so the node sees one peer per viewer,
  // and one shaper per direction per viewer (each viewer has a link of its own).
  const front = dgram.createSocket('udp4');
  const upstreams = new Map<string, dgram.Socket>();
  const shapes: Record<'down' | 'up', PathShape> = { down: {}, up: {} };
  const shapers: Record<'down' | 'up', PathShaper[]> = { down: [], up: [] };
  const upShapers = new Map<string, PathShaper>();
  const shaperFor = (direction: 'down' | 'up', deliver: (packet: Buffer) => void) => {
    const shaper = new PathShaper(deliver);
    shaper.setShape(shapes[direction]);
    shapers[direction].push(shaper);
    return shaper;
  };
  front.on('message', (msg, from) => {
    if (mode !== 'open') {
      counts.udpDropped++;
      return;
    }
    const key = `${from.address}:${from.port}`;
    let upstream = upstreams.get(key);
    if (!upstream) {
      const socket = dgram.createSocket('udp4');
      const down = shaperFor('down', (reply) => front.send(reply, from.port, from.address));
      const up = shaperFor('up', (packet) => socket.send(packet, port, targetIp));
      socket.on('message', (reply) => {
        if (mode !== 'open') {
          counts.udpDropped++;
          return;
        }
        counts.udpForwarded++;
        down.push(reply);
      });
      socket.on('error', () => socket.close());
      socket.bind(0, targetIp);
      upstreams.set(key, socket);
      upstream = socket;
      upShapers.set(key, up);
    }
    counts.udpForwarded++;
    upShapers.get(key)!.push(msg);
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
    shape(direction, input) {
      const shape = parsePathShape(input, `rtc proxy shape ${direction}`);
      shapes[direction] = shape;
      for (const shaper of shapers[direction]) shaper.setShape(shape);
    },
    shapeStats(direction) {
      const sum: PathStats = { passed: 0, lost: 0, overflow: 0, bytesPassed: 0, bytesLost: 0 };
      for (const { stats } of shapers[direction]) {
        sum.passed += stats.passed;
        sum.lost += stats.lost;
        sum.overflow += stats.overflow;
        sum.bytesPassed += stats.bytesPassed;
        sum.bytesLost += stats.bytesLost;
      }
      return sum;
    },
    close: async () => {
      for (const shaper of [...shapers.down, ...shapers.up]) shaper.close();
      for (const socket of connections) socket.destroy();
      for (const socket of upstreams.values()) socket.close();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
