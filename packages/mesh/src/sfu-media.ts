import type { PipeLinkStats, PipeMergeShare, PipeOpenResponse } from '@matchmesh/protocol';
import { PipeIn, type PipeListen, PipeOut, type SourceRole, type StreamRouter } from '@matchmesh/sfu';
import type { MeshConfig } from './config.ts';
import { openPipeTunnel, type PipeTunnel } from './pipe-tunnel.ts';
import type { CommentaryChange, InboundPipe, MeshMedia, MeshStream, OutboundPipe } from './ports.ts';

/** The streams of this node (the node's MediaService). */
export interface StreamSource {
  stream(id: string): StreamRouter | undefined;
  getOrCreateStream(id: string): Promise<StreamRouter>;
}

/** A MeshStream is always one of ours: the mesh only passes back what this adapter gave it. */
function router(stream: MeshStream): StreamRouter {
  return stream as StreamRouter;
}

class SfuInbound implements InboundPipe {
  readonly openedAt = Date.now();
  constructor(
    readonly pipe: PipeIn,
    readonly path: 'udp' | 'tcp',
  ) {}
  get pipeId(): string | undefined {
    return this.pipe.pipeId;
  }
  get upstream(): string {
    return this.pipe.upstream;
  }
  get role(): SourceRole {
    return this.pipe.role;
  }
  get closed(): boolean {
    return this.pipe.closed;
  }
  applyCommentary(change: CommentaryChange): Promise<void> {
    return this.pipe.applyCommentary(change);
  }
  linkStats(): Promise<PipeLinkStats> {
    return this.pipe.linkStats();
  }
  mergeShare(): PipeMergeShare | undefined {
    const { mergeGroup, pathId } = this.pipe;
    if (!mergeGroup || !pathId) return undefined;
    const report = this.pipe.stream.program.mergeReport(mergeGroup);
    const mine = report?.paths.get(pathId);
    if (!report || !mine) return undefined;
    let sent = 0;
    for (const p of report.paths.values()) sent += p.won;
    return {
      won: mine.won,
      duplicates: mine.duplicates,
      unmatched: mine.unmatched,
      share: sent > 0 ? mine.won / sent : 0,
      residual: report.missing,
    };
  }
  async bytesReceived(): Promise<number> {
    const [stats] = await this.pipe.transport.getStats();
    return stats?.bytesReceived ?? 0;
  }
  close(reason: string): void {
    this.pipe.close(reason);
  }
  once(event: 'close', listener: (reason: string) => void): this {
    this.pipe.once(event, listener);
    return this;
  }
}

class SfuOutbound implements OutboundPipe {
  readonly answer: PipeOpenResponse;
  constructor(readonly pipe: PipeOut) {
    this.answer = pipe.answer;
  }
  get pipeId(): string {
    return this.pipe.answer.pipeId;
  }
  get stream(): string {
    return this.pipe.stream.stream;
  }
  get peer(): { nodeId: string; region: string } {
    return this.pipe.peer;
  }
  get closed(): boolean {
    return this.pipe.closed;
  }
  linkStats(): Promise<PipeLinkStats> {
    return this.pipe.linkStats();
  }
  close(reason: string): void {
    this.pipe.close(reason);
  }
  once(event: 'close', listener: (reason: string) => void): this {
    this.pipe.once(event, listener);
    return this;
  }
  on(event: 'commentary', listener: (change: CommentaryChange) => void): this {
    this.pipe.on(event, (change) => listener(change));
    return this;
  }
}

/** How this node reaches an upstream's pipe tunnel (its HTTP URL, and a node-role token). */
export interface TunnelAccess {
  urlOf(nodeId: string): Promise<string | undefined>;
  token(): Promise<string>;
}

/** After a UDP pipe from an upstream delivered nothing, its pipes go over TCP this long, then UDP is tried again. */
export const TCP_PATH_MS = 10 * 60_000;

/** MeshMedia over the node's streams and @matchmesh/sfu's pipes (with the TCP tunnel when `tunnel` is given). */
export function sfuMedia(streams: StreamSource, config: MeshConfig, tunnel?: TunnelAccess): MeshMedia<StreamRouter> {
  const listen: PipeListen = {
    ip: config.listenIp,
    announcedAddress: config.announcedAddress,
    portRange: config.portRange,
    socketBufferBytes: config.socketBufferBytes,
  };
  /** Upstreams whose pipes go over TCP, until when. */
  const tcpUntil = new Map<string, number>();
  return {
    stream: (id) => streams.stream(id),
    getOrCreateStream: (id) => streams.getOrCreateStream(id),
    async openInbound(stream, role, upstream, ask, options) {
      const merge = options?.merge ? { group: options.merge, secondary: options.secondary === true } : undefined;
      const pipe = await PipeIn.prepare(router(stream), listen, role, upstream, merge);
      let tcp: PipeTunnel | undefined;
      try {
        if (tunnel && (tcpUntil.get(upstream) ?? 0) > Date.now()) {
          const url = await tunnel.urlOf(upstream);
          if (!url) throw new Error(`no URL known for upstream ${upstream}: cannot tunnel its pipe`);
          // The pipe's listen address, not the announced one: the tunnel socket is on this host.
          tcp = await openPipeTunnel(url, await tunnel.token(), {
            ip: listen.ip,
            port: pipe.transport.tuple.localPort,
          });
        }
        // Through the tunnel: the upstream sends to its tunnel socket, we connect to ours.
        const answer = await ask(tcp ? { ...pipe.offer, ...tcp.offer } : pipe.offer);
        await pipe.connect(tcp ? { ...answer, ...tcp.local } : answer);
        if (tcp) {
          const t = tcp;
          pipe.once('close', () => t.close());
        }
        return new SfuInbound(pipe, tcp ? 'tcp' : 'udp');
      } catch (err) {
        tcp?.close();
        pipe.close('setup failed');
        throw err;
      }
    },
    async openOutbound(stream, offer, peer) {
      return new SfuOutbound(await PipeOut.open(router(stream), listen, offer, peer));
    },
    ...(tunnel ? { pathBlocked: (upstream: string) => void tcpUntil.set(upstream, Date.now() + TCP_PATH_MS) } : {}),
  };
}
