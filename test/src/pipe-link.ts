import dgram from 'node:dgram';
import { type PathShape, PathShaper, type PathStats, parsePathShape } from './path-shaper.ts';

/** One node on the links: the address it announces for its pipes (MM_MESH_ADDRESS) and its pipe ports. */
export interface PipeLinkSide {
  /** A loopback alias this link listens on in the node's name (e.g. 127.0.0.3). */
  announced: string;
  /** The node's pipe port range (MM_RTC_MIN_PORT..MM_RTC_MAX_PORT). */
  ports: { min: number; max: number };
}

export interface PipeLink<Name extends string> {
  /**
   * Shape what flows towards a node (e.g. 'asia': the ingest's copy arriving
   * there; 'ingest': the NACKs, PLIs and reports going back). Applies to every
   * pipe towards it, present and future; `{}` lifts it. With `from`, only the
   * pipes from that node (one path of a dual path); without, every pipe
   * towards `to`, replacing any per-node shape.
   */
  shape(to: Name, shape: PathShape, from?: Name): void;
  /** What the shapers towards a node (from one node, with `from`) did so far, summed over its pipes. */
  stats(to: Name, from?: Name): PathStats;
  close(): Promise<void>;
}

/**
 * Long-haul paths between nodes' pipe transports, in user space: each node
 * listens for pipes on 127.0.0.1 and announces a loopback alias of its own
 * (MM_MESH_ADDRESS), where this link binds every port of the node's pipe
 * range. A datagram node Y's pipe (127.0.0.1:q) sends to X's announced
 * address, port p, goes through the shaper towards X and leaves from Y's
 * announced address, port q, to 127.0.0.1:p — so X sees it come from the
 * tuple it connected to (mediasoup's pipe transport drops anything else).
 * Every pipe between the nodes passes here, both ways; nothing else does
 * (viewers and HTTP go straight). The nodes' port ranges must not overlap.
 */
export async function startPipeLink<Name extends string>(
  nodes: Record<Name, PipeLinkSide>,
  target = '127.0.0.1',
  /** Sees every datagram as the shaper delivers it to `to` (e.g. RtxLateness). */
  onDeliver?: (to: Name, from: Name, packet: Buffer) => void,
): Promise<PipeLink<Name>> {
  const names = Object.keys(nodes) as Name[];
  const sockets = new Map<Name, Map<number, dgram.Socket>>(names.map((n) => [n, new Map()]));
  const shapes = new Map<Name, PathShape>(names.map((n) => [n, {}]));
  /** Shapes of one pair ("from>to"), over the node's. */
  const pairShapes = new Map<string, PathShape>();
  const shapeOf = (from: Name, to: Name): PathShape => pairShapes.get(`${from}>${to}`) ?? shapes.get(to)!;
  /** One shaper per pipe and direction ("to:p:q"): each pipe its own path, all with the node's shape. */
  const shapers = new Map<string, { to: Name; from: Name; shaper: PathShaper }>();
  const ownerOf = (port: number): Name | undefined =>
    names.find((n) => port >= nodes[n].ports.min && port <= nodes[n].ports.max);

  const bind = (to: Name): Promise<void>[] => {
    const { announced, ports } = nodes[to];
    const out: Promise<void>[] = [];
    for (let port = ports.min; port <= ports.max; port++) {
      const socket = dgram.createSocket('udp4');
      sockets.get(to)!.set(port, socket);
      // For `to`'s port p, from another node's pipe at 127.0.0.1:q: relay it from that node's announced q.
      socket.on('message', (packet, rinfo) => {
        const from = ownerOf(rinfo.port);
        const via = from && from !== to ? sockets.get(from)!.get(rinfo.port) : undefined;
        if (!from || !via || rinfo.address !== target) return;
        const key = `${to}:${rinfo.port}:${port}`;
        let entry = shapers.get(key);
        if (!entry) {
          const deliver = (p: Buffer) => {
            onDeliver?.(to, from, p);
            via.send(p, port, target);
          };
          entry = { to, from, shaper: new PathShaper(deliver) };
          entry.shaper.setShape(shapeOf(from, to));
          shapers.set(key, entry);
        }
        entry.shaper.push(packet);
      });
      socket.on('error', () => undefined);
      out.push(
        new Promise((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(port, announced, () => {
            socket.off('error', reject);
            resolve();
          });
        }),
      );
    }
    return out;
  };
  await Promise.all(names.flatMap(bind));

  return {
    shape(to, input, from) {
      // Checked before anything changes: a bad shape leaves every path as it was.
      const shape = parsePathShape(input, `pipe link shape towards ${to}${from ? ` from ${from}` : ''}`);
      if (from) pairShapes.set(`${from}>${to}`, { ...shape });
      else {
        shapes.set(to, { ...shape });
        for (const key of [...pairShapes.keys()]) if (key.endsWith(`>${to}`)) pairShapes.delete(key);
      }
      for (const e of shapers.values()) if (e.to === to && (!from || e.from === from)) e.shaper.setShape(shape);
    },
    stats(to, from) {
      const sum: PathStats = { passed: 0, lost: 0, overflow: 0, bytesPassed: 0, bytesLost: 0 };
      for (const e of shapers.values()) {
        if (e.to !== to || (from && e.from !== from)) continue;
        sum.passed += e.shaper.stats.passed;
        sum.lost += e.shaper.stats.lost;
        sum.overflow += e.shaper.stats.overflow;
        sum.bytesPassed += e.shaper.stats.bytesPassed;
        sum.bytesLost += e.shaper.stats.bytesLost;
      }
      return sum;
    },
    async close() {
      for (const e of shapers.values()) e.shaper.close();
      const all = [...sockets.values()].flatMap((m) => [...m.values()]);
      await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
