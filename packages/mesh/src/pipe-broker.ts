import { ClusterError } from '@matchmesh/cluster';
import {
  PipeAck,
  PipeCloseRequest,
  PipeCommentaryRequest,
  PipeOpenRequest,
  PipeOpenResponse,
  PipeStatusResponse,
} from '@matchmesh/protocol';
import type { SourceRole } from '@matchmesh/sfu';
import type { MeshConfig } from './config.ts';
import type { InboundPipe, Logger, MeshBus, MeshMedia, MeshStream, OutboundPipe, PipeEntry } from './ports.ts';

/**
 * The pipe protocol between nodes, both ends of it (sender and handler of each
 * bus method live here):
 *
 * - `pipe.open` (downstream → upstream): "send me stream X to this endpoint";
 *   the upstream opens a PipeOut and answers with its end (PipeOpenResponse).
 * - `pipe.release-by-downstream` (downstream → upstream): the downstream let
 *   its end go (linger expired, stepped down, replaced); the upstream closes its end.
 * - `pipe.upstream-ended` (upstream → downstream): the upstream's end closed
 *   for its own reasons (its publisher left); the downstream drops its copy.
 * - `pipe.commentary` (upstream → downstream): commentators started or stopped.
 * - `pipe.upstream-draining` (upstream → downstream): the upstream drains; the
 *   downstream pulls from another holder, then releases this pipe.
 */
export const PIPE_METHODS = {
  open: 'pipe.open',
  releaseByDownstream: 'pipe.release-by-downstream',
  upstreamEnded: 'pipe.upstream-ended',
  commentary: 'pipe.commentary',
  upstreamDraining: 'pipe.upstream-draining',
  status: 'pipe.status',
} as const;

/** The reason an outbound pipe closes with when its downstream released it (it must not be told back). */
const RELEASED = 'closed by downstream';
const NOTIFY_TIMEOUT_MS = 2000;
const OPEN_TIMEOUT_MS = 5000;

export interface PipeBrokerDeps {
  config: Pick<MeshConfig, 'nodeId' | 'region'>;
  bus: MeshBus;
  media: MeshMedia;
  log: Logger;
  /** The stream's router here, pulling it first if this node does not have it (Mesh.resolveStream). */
  resolveStream(stream: string): Promise<MeshStream | undefined>;
  /** Our current primary inbound pipe of `stream`, if any (commentary goes to it). */
  inbound(stream: string): InboundPipe | undefined;
  /** An upstream ended pipe `pipeId` of `stream` (the region copies and feed guard decide what goes). */
  upstreamEnded(stream: string, pipeId: string): void;
  /** Upstream `from` of pipe `pipeId` drains: move to another holder (answered before the move completes). */
  upstreamDraining(stream: string, pipeId: string, from: string): void;
}

export class PipeBroker {
  readonly #d: PipeBrokerDeps;
  /** Pipes to downstream nodes, by pipe id. */
  readonly #out = new Map<string, OutboundPipe>();

  constructor(deps: PipeBrokerDeps) {
    this.#d = deps;
  }

  /** Answer the pipe methods on the bus. */
  start(): void {
    const { bus } = this.#d;
    bus.handle(PIPE_METHODS.open, (req, ctx) => this.#openOutbound(req, ctx.from), PipeOpenRequest);
    bus.handle(PIPE_METHODS.releaseByDownstream, (req) => this.#closeOutbound(req.pipeId, RELEASED), PipeCloseRequest);
    bus.handle(
      PIPE_METHODS.upstreamEnded,
      (req) => {
        this.#d.upstreamEnded(req.stream, req.pipeId);
        return {};
      },
      PipeCloseRequest,
    );
    bus.handle(PIPE_METHODS.commentary, (req) => this.#commentaryChanged(req), PipeCommentaryRequest);
    bus.handle(
      PIPE_METHODS.status,
      (req): PipeStatusResponse => {
        const pipe = this.#out.get(req.pipeId);
        return { open: pipe !== undefined && pipe.stream === req.stream && !pipe.closed };
      },
      PipeCloseRequest,
    );
    bus.handle(
      PIPE_METHODS.upstreamDraining,
      (req, ctx) => {
        this.#d.upstreamDraining(req.stream, req.pipeId, ctx.from);
        return {};
      },
      PipeCloseRequest,
    );
  }

  /**
   * This node drains: tell every downstream to pull its streams from another
   * holder. Its pipes stay open until each downstream releases them (make
   * before break). Resolves once every downstream was told (or did not answer).
   */
  async notifyDraining(): Promise<void> {
    await Promise.all(
      [...this.#out.values()].map((p) =>
        this.#d.bus
          .request(p.peer.nodeId, PIPE_METHODS.upstreamDraining, { stream: p.stream, pipeId: p.pipeId }, PipeAck, {
            timeoutMs: NOTIFY_TIMEOUT_MS,
          })
          .catch((err) =>
            this.#d.log.warn(
              { stream: p.stream, to: p.peer.nodeId, err: String(err) },
              'downstream not told of the drain',
            ),
          ),
      ),
    );
  }

  /** Distinct nodes pulling a stream from here. */
  downstreamNodes(): number {
    return new Set([...this.#out.values()].map((p) => p.peer.nodeId)).size;
  }

  /**
   * Ask `upstream` for a pipe of `stream` into our router, as its `role` copy (with `merge`: as a path of
   * that merged program source, the dual path; `secondary`: the program and scores only, the first path
   * brings the commentary). Connected when it resolves.
   */
  async open(
    upstream: string,
    streamId: string,
    stream: MeshStream,
    role: SourceRole,
    merge?: { group: string; secondary?: boolean },
  ): Promise<InboundPipe> {
    return this.#d.media.openInbound(
      stream,
      role,
      upstream,
      (offer) => {
        const request: PipeOpenRequest = { stream: streamId, region: this.#d.config.region, offer };
        return this.#d.bus.request(upstream, PIPE_METHODS.open, request, PipeOpenResponse, {
          timeoutMs: OPEN_TIMEOUT_MS,
        });
      },
      merge ? { merge: merge.group, secondary: merge.secondary === true } : undefined,
    );
  }

  /**
   * Whether `pipe`'s upstream still has its end: false when it answers no, undefined when it does not
   * answer (gone or unreachable: the sweeper's business, not this question's).
   */
  async upstreamHas(streamId: string, pipe: InboundPipe): Promise<boolean | undefined> {
    return this.#d.bus
      .request(
        pipe.upstream,
        PIPE_METHODS.status,
        { stream: streamId, pipeId: pipe.pipeId ?? '' },
        PipeStatusResponse,
        {
          timeoutMs: NOTIFY_TIMEOUT_MS,
        },
      )
      .then((r) => r.open)
      .catch(() => undefined);
  }

  /** Close one of our inbound pipes and tell its upstream (if it is still there) to let its end go too. */
  release(streamId: string, pipe: InboundPipe, reason: string): void {
    this.#d.bus
      .request(
        pipe.upstream,
        PIPE_METHODS.releaseByDownstream,
        { stream: streamId, pipeId: pipe.pipeId ?? '' },
        PipeAck,
        { timeoutMs: NOTIFY_TIMEOUT_MS },
      )
      // The upstream may be gone (that is often why we release): its end then goes with it.
      .catch((err) =>
        this.#d.log.debug(
          { stream: streamId, upstream: pipe.upstream, err: String(err) },
          'upstream not told of the release',
        ),
      );
    pipe.close(reason);
  }

  /** Some downstream pulls `stream` from us. */
  hasDownstream(stream: string): boolean {
    for (const p of this.#out.values()) if (p.stream === stream) return true;
    return false;
  }

  outbound(): Iterable<OutboundPipe> {
    return this.#out.values();
  }

  get outboundCount(): number {
    return this.#out.size;
  }

  /** This part's pipes, each with its summary (for ops). */
  pipeEntries(): PipeEntry[] {
    return [...this.#out.values()].map((p) => ({
      summary: {
        id: p.pipeId,
        stream: p.stream,
        direction: 'out',
        peerNodeId: p.peer.nodeId,
        peerRegion: p.peer.region,
      },
      pipe: p,
    }));
  }

  close(reason: string): void {
    for (const p of this.#out.values()) p.close(reason);
  }

  async #openOutbound(req: PipeOpenRequest, from: string): Promise<PipeOpenResponse> {
    const { media, log } = this.#d;
    const stream = media.stream(req.stream)?.live ? media.stream(req.stream) : await this.#d.resolveStream(req.stream);
    if (!stream?.live) {
      throw new ClusterError('not_found', `stream "${req.stream}" is not live on ${this.#d.config.nodeId}`);
    }
    const pipe = await media.openOutbound(stream, req.offer, { nodeId: from, region: req.region });
    const id = pipe.pipeId;
    this.#out.set(id, pipe);
    pipe.once('close', (reason) => {
      this.#out.delete(id);
      log.info({ stream: req.stream, to: from, reason }, 'pipe out closed');
      if (reason !== RELEASED) {
        this.#d.bus
          .request(from, PIPE_METHODS.upstreamEnded, { stream: req.stream, pipeId: id }, PipeAck, {
            timeoutMs: NOTIFY_TIMEOUT_MS,
          })
          // A downstream that is gone has nothing left to drop.
          .catch((err) =>
            log.debug({ stream: req.stream, to: from, err: String(err) }, 'downstream not told the pipe ended'),
          );
      }
    });
    // Commentators who start or stop while the pipe is open: the downstream produces or closes them.
    pipe.on('commentary', (change) => {
      this.#d.bus
        .request(from, PIPE_METHODS.commentary, { stream: req.stream, pipeId: id, ...change }, PipeAck, {
          timeoutMs: NOTIFY_TIMEOUT_MS,
        })
        .catch((err) =>
          log.warn({ stream: req.stream, to: from, err: String(err) }, 'commentary change not delivered'),
        );
    });
    log.info({ stream: req.stream, to: from, region: req.region }, 'pipe out opened');
    return pipe.answer;
  }

  #closeOutbound(pipeId: string, reason: string): PipeAck {
    this.#out.get(pipeId)?.close(reason);
    return {};
  }

  async #commentaryChanged(req: PipeCommentaryRequest): Promise<PipeAck> {
    const inbound = this.#d.inbound(req.stream);
    if (inbound && inbound.pipeId === req.pipeId) {
      await inbound.applyCommentary({
        added: req.added,
        removed: req.removed,
        ...(req.delays ? { delays: req.delays } : {}),
      });
    }
    return {};
  }
}
