import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { WebSocket } from 'ws';

/**
 * A pipe over TCP, for two regions between which UDP is blocked. mediasoup's
 * PipeTransport speaks UDP only, so each end of the pipe talks to a local UDP
 * socket, and the two sockets are joined by a WebSocket (binary message =
 * one datagram: RTP, RTCP or SCTP) over the upstream node's HTTP port, which
 * is reachable wherever signaling and WHIP are. Nothing of the pipe changes:
 * the downstream offers the upstream's tunnel socket as its endpoint, and
 * connects its own PipeTransport to its local tunnel socket.
 *
 *   downstream PipeIn ⇄ UDP ⇄ tunnel socket ⇄ WebSocket (TCP) ⇄ tunnel socket ⇄ UDP ⇄ upstream PipeOut
 *
 * Head-of-line blocking is the price: a lost TCP segment holds every
 * datagram behind it for a retransmission. It is the path of last resort.
 */

/** The upstream's HTTP path of the tunnel (apps/node wires it; node-role token). */
export const PIPE_TUNNEL_PATH = '/mesh/pipe-tunnel';

/** A datagram larger than this is not a pipe's (MTU-sized RTP, SCTP chunks). */
const MAX_DATAGRAM = 65_507;

/** What the upstream's end says first: where its tunnel socket listens (the pipe's offer points there). */
interface TunnelHello {
  ip: string;
  port: number;
}

/** A wildcard listen address is not one to send to: the same host's loopback is. */
const reachable = (ip: string): string => (ip === '0.0.0.0' ? '127.0.0.1' : ip);

/**
 * One tunnel socket: datagrams from the local transport go out on the
 * WebSocket; messages from the WebSocket go to `target` (set, or learned from
 * the first datagram the local transport sends).
 */
class TunnelEnd {
  readonly udp: Socket;
  #target: { address: string; port: number } | undefined;
  #closed = false;
  /** Datagrams carried each way, for ops. */
  readonly counts = { toPeer: 0, fromPeer: 0 };

  constructor(
    readonly ws: WebSocket,
    udp: Socket,
    target?: { address: string; port: number },
  ) {
    this.udp = udp;
    this.#target = target;
    udp.on('message', (msg: Buffer, from: RemoteInfo) => {
      this.#target ??= { address: from.address, port: from.port };
      if (ws.readyState !== WebSocket.OPEN) return;
      this.counts.toPeer++;
      ws.send(msg, { binary: true });
    });
    ws.on('message', (data, isBinary) => {
      if (!isBinary || !this.#target) return;
      const msg = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      if (msg.length > MAX_DATAGRAM) return;
      this.counts.fromPeer++;
      udp.send(msg, this.#target.port, this.#target.address);
    });
    ws.on('close', () => this.close());
    ws.on('error', () => this.close());
    udp.on('error', () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.ws.close();
    this.udp.close();
  }
}

async function bindUdp(ip: string): Promise<Socket> {
  const udp = createSocket('udp4');
  udp.bind(0, reachable(ip));
  await once(udp, 'listening');
  return udp;
}

/**
 * The upstream's end of a tunnel, for an accepted WebSocket: binds a UDP
 * socket on the pipe listen address, tells the downstream its port, and relays.
 * The upstream's PipeOut is connected there by the pipe's offer; the tunnel
 * learns the PipeOut's own address from its first datagram.
 */
export async function acceptPipeTunnel(ws: WebSocket, listenIp: string): Promise<TunnelEnd> {
  const udp = await bindUdp(listenIp);
  const end = new TunnelEnd(ws, udp);
  const hello: TunnelHello = { ip: reachable(listenIp), port: udp.address().port };
  ws.send(JSON.stringify(hello));
  return end;
}

/** The downstream's end: where to offer (the upstream's tunnel socket) and where to connect the PipeIn. */
export interface PipeTunnel {
  /** The pipe's offer: the upstream's tunnel socket, on the upstream's host. */
  offer: { ip: string; port: number };
  /** Where the downstream PipeIn connects: this node's tunnel socket. */
  local: { ip: string; port: number };
  counts: { toPeer: number; fromPeer: number };
  close(): void;
}

/**
 * Open a tunnel to `upstreamUrl` (its HTTP base) for a PipeIn listening at
 * `pipe` (its local address and port): the WebSocket, then the upstream's hello.
 */
export async function openPipeTunnel(
  upstreamUrl: string,
  token: string,
  pipe: { ip: string; port: number },
  timeoutMs = 5000,
): Promise<PipeTunnel> {
  const url = new URL(PIPE_TUNNEL_PATH, upstreamUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: timeoutMs });
  const hello = await new Promise<TunnelHello>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`pipe tunnel to ${url.host}: no hello within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const fail = (err: Error): void => {
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    ws.once('message', (data, isBinary) => {
      clearTimeout(timer);
      try {
        if (isBinary) throw new Error('binary hello');
        const h = JSON.parse(String(data)) as TunnelHello;
        if (!Number.isInteger(h.port) || h.port < 1 || h.port > 65535) throw new Error('bad port');
        if (typeof h.ip !== 'string' || h.ip.length === 0 || h.ip.length > 64) throw new Error('bad address');
        resolve(h);
      } catch (err) {
        fail(new Error(`pipe tunnel to ${url.host}: bad hello (${(err as Error).message})`));
      }
    });
    ws.once('error', (err) => fail(new Error(`pipe tunnel to ${url.host}: ${err.message}`)));
    ws.once('unexpected-response', (_req, res) =>
      fail(new Error(`pipe tunnel to ${url.host}: HTTP ${res.statusCode}`)),
    );
  });
  const udp = await bindUdp(pipe.ip);
  const end = new TunnelEnd(ws, udp, { address: reachable(pipe.ip), port: pipe.port });
  return {
    offer: { ip: hello.ip, port: hello.port },
    local: { ip: reachable(pipe.ip), port: udp.address().port },
    counts: end.counts,
    close: () => end.close(),
  };
}
