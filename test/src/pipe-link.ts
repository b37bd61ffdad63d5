import dgram from 'node:dgram';
import { type PathShape, PathShaper, type PathStats } from './path-shaper.ts';

/** One node's side of the link: the address it announces for its pipes (MM_MESH_ADDRESS) and its pipe ports. */
export interface PipeLinkSide {
  /** A loopback alias this link listens on in the node's name (e.g. 127.0.0.3). */
  announced: string;
  /** The node's pipe port range (MM_RTC_MIN_PORT..MM_RTC_MAX_PORT). */
  ports: { min: number; max: number };
}

export interface PipeLink {
  /**
   * Shape what flows towards a side: 'toA' (e.g. the ingest's copy arriving at
   * a far relay) or 'toB' (its NACKs, PLIs and receiver reports going back).
   * Applies to every pipe between the two nodes, present and future; `{}` lifts it.
   */
  shape(direction: 'toA' | 'toB', shape: PathShape): void;
  /** What the shapers did so far, summed over the pipes. */
  stats(direction: 'toA' | 'toB'): PathStats;
  close(): Promise<void>;
}

/**
 * The long haul between two nodes' pipe transports, in user space: each node
 * listens for pipes on 127.0.0.1 and announces a loopback alias of its own
 * (MM_MESH_ADDRESS), where this link binds every port of the node's pipe
 * range. A datagram node B's pipe (127.0.0.1:q) sends to A's announced
 * address, port p, goes through the shaper towards A and leaves from B's
 * announced address, port q, to 127.0.0.1:p — so A sees it come from the
 * tuple it connected to (mediasoup's pipe transport drops anything else) —
 * and the other way round. Both directions of every pipe between the two
 * nodes pass here; nothing else does (viewers and HTTP go straight).
 */
export async function startPipeLink(a: PipeLinkSide, b: PipeLinkSide, target = '127.0.0.1'): Promise<PipeLink> {
  const sockets = { a: new Map<number, dgram.Socket>(), b: new Map<number, dgram.Socket>() };
  const shapes: Record<'toA' | 'toB', PathShape> = { toA: {}, toB: {} };
  /** One shaper per pipe and direction ("toA:p:q"): each pipe its own path, all with the link's shape. */
  const shapers = new Map<string, PathShaper>();
  const shaperFor = (direction: 'toA' | 'toB', from: dgram.Socket, toPort: number, key: string): PathShaper => {
    let shaper = shapers.get(key);
    if (!shaper) {
      shaper = new PathShaper((packet) => from.send(packet, toPort, target));
      shaper.setShape(shapes[direction]);
      shapers.set(key, shaper);
    }
    return shaper;
  };

  const bind = (side: 'a' | 'b', cfg: PipeLinkSide): Promise<void>[] => {
    const other = side === 'a' ? 'b' : 'a';
    const direction = side === 'a' ? 'toA' : 'toB';
    const out: Promise<void>[] = [];
    for (let port = cfg.ports.min; port <= cfg.ports.max; port++) {
      const socket = dgram.createSocket('udp4');
      sockets[side].set(port, socket);
      // A datagram for `side`'s port p, sent by the other node's pipe at 127.0.0.1:q: relay it from the
      // other node's announced q, so `side` sees the tuple it connected to.
      socket.on('message', (packet, rinfo) => {
        const via = sockets[other].get(rinfo.port);
        if (!via || rinfo.address !== target) return;
        shaperFor(direction, via, port, `${direction}:${rinfo.port}:${port}`).push(packet);
      });
      socket.on('error', () => undefined);
      out.push(
        new Promise((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(port, cfg.announced, () => {
            socket.off('error', reject);
            resolve();
          });
        }),
      );
    }
    return out;
  };
  await Promise.all([...bind('a', a), ...bind('b', b)]);

  return {
    shape(direction, shape) {
      shapes[direction] = { ...shape };
      for (const [key, shaper] of shapers) if (key.startsWith(`${direction}:`)) shaper.setShape(shape);
    },
    stats(direction) {
      const sum: PathStats = { passed: 0, lost: 0, overflow: 0, bytesPassed: 0 };
      for (const [key, s] of shapers) {
        if (!key.startsWith(`${direction}:`)) continue;
        sum.passed += s.stats.passed;
        sum.lost += s.stats.lost;
        sum.overflow += s.stats.overflow;
        sum.bytesPassed += s.stats.bytesPassed;
      }
      return sum;
    },
    async close() {
      for (const s of shapers.values()) s.close();
      await Promise.all(
        [...sockets.a.values(), ...sockets.b.values()].map((s) => new Promise<void>((r) => s.close(() => r()))),
      );
    },
  };
}
