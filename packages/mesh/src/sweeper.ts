import type { InboundPipe, Logger, MeshDirectory, MeshLiveness, OutboundPipe } from './ports.ts';
import type { RegionCopy } from './region-copy.ts';

export interface SweeperDeps {
  liveness: Pick<MeshLiveness, 'dead'>;
  directory: Pick<MeshDirectory, 'forgetNode'>;
  log: Logger;
  /** Pipes to downstream nodes (PipeBroker), the primary copies (RegionCopies), the backup copies (FeedGuard). */
  outbound(): Iterable<OutboundPipe>;
  copies(): Iterable<[string, RegionCopy]>;
  backup(stream: string): InboundPipe | undefined;
  backups(): Iterable<InboundPipe>;
  /** Viewers here, or a downstream pipe, use the stream. */
  inUse(stream: string): boolean;
  /** Pull the stream again (Mesh.resolveStream); `failure` is logged if that fails. */
  repull(stream: string, failure: string): void;
}

/**
 * Every heartbeat: close pipes to peers that died and forget their claims. A
 * dead upstream (the region's holder, or the ingest) is replaced at once: the
 * stream's router stays, so viewers keep their sessions and only see the
 * program producers change (consumerClosed, then newProducers). "Dead" is
 * PeerLiveness's verdict, not "missing from the registry": a late heartbeat
 * only makes a peer suspect.
 */
export class Sweeper {
  readonly #d: SweeperDeps;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: SweeperDeps) {
    this.#d = deps;
  }

  start(everyMs: number): void {
    this.#timer = setInterval(() => void this.sweep(), everyMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async sweep(): Promise<void> {
    const { liveness, directory, log } = this.#d;
    const peers = new Set<string>();
    for (const p of this.#d.outbound()) peers.add(p.peer.nodeId);
    for (const [, copy] of this.#d.copies()) peers.add(copy.upstream);
    // Nothing piped in or out: nothing to sweep (a backup copy alone goes with its stream).
    if (peers.size === 0) return;
    for (const b of this.#d.backups()) peers.add(b.upstream);
    let dead: Set<string>;
    try {
      dead = await liveness.dead(peers);
    } catch (err) {
      // Redis down: keep everything as it is (media does not need it).
      log.debug({ err: String(err) }, 'peer liveness unknown; sweep skipped');
      return;
    }
    const forget = (nodeId: string) =>
      directory.forgetNode(nodeId).catch((err) =>
        // Its claims lapse by their TTL; the next sweep forgets it again.
        log.debug({ nodeId, err: String(err) }, 'dead node not forgotten'),
      );
    for (const pipe of this.#d.outbound()) {
      if (dead.has(pipe.peer.nodeId)) {
        pipe.close('peer node gone');
        await forget(pipe.peer.nodeId);
      }
    }
    for (const [stream, copy] of this.#d.copies()) {
      if (!dead.has(copy.upstream)) continue;
      // The primary ingest died but its backup's copy feeds the program: keep
      // the copy (its region lease, its feed checks, which pull the primary
      // again when it is back) and let media liveness carry on.
      const backup = this.#d.backup(stream);
      if (backup && !backup.closed && !dead.has(backup.upstream)) continue;
      log.warn({ stream, upstream: copy.upstream }, 'upstream node gone: pulling the stream again');
      copy.pipe.close('upstream node gone');
      await forget(copy.upstream);
      if (this.#d.inUse(stream)) this.#d.repull(stream, 'could not pull the stream again; viewers will rejoin');
    }
  }
}
