import type { PipeLinkStats, PipeOpenResponse } from '@matchmesh/protocol';
import { PipeIn, type PipeListen, PipeOut, type SourceRole, type StreamRouter } from '@matchmesh/sfu';
import type { MeshConfig } from './config.ts';
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
  constructor(readonly pipe: PipeIn) {}
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

/** MeshMedia over the node's streams and @matchmesh/sfu's pipes. */
export function sfuMedia(streams: StreamSource, config: MeshConfig): MeshMedia<StreamRouter> {
  const listen: PipeListen = {
    ip: config.listenIp,
    announcedAddress: config.announcedAddress,
    portRange: config.portRange,
    socketBufferBytes: config.socketBufferBytes,
  };
  return {
    stream: (id) => streams.stream(id),
    getOrCreateStream: (id) => streams.getOrCreateStream(id),
    async openInbound(stream, role, upstream, ask) {
      const pipe = await PipeIn.prepare(router(stream), listen, role, upstream);
      try {
        const answer = await ask(pipe.offer);
        await pipe.connect(answer);
        return new SfuInbound(pipe);
      } catch (err) {
        pipe.close('setup failed');
        throw err;
      }
    },
    async openOutbound(stream, offer, peer) {
      return new SfuOutbound(await PipeOut.open(router(stream), listen, offer, peer));
    },
  };
}
