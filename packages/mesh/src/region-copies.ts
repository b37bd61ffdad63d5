import { ClusterError } from '@matchmesh/cluster';
import type { MeshConfig } from './config.ts';
import type { InboundPipe, MeshLiveness, MeshMedia, MeshStream, PipeEntry } from './ports.ts';
import { RegionCopy, type RegionCopyDeps } from './region-copy.ts';

export interface RegionCopiesDeps<S extends MeshStream = MeshStream> extends Omit<RegionCopyDeps, 'forget' | 'config'> {
  config: Pick<MeshConfig, 'nodeId' | 'region' | 'claimTtlMs' | 'lingerMs'>;
  media: Pick<MeshMedia<S>, 'stream' | 'getOrCreateStream'>;
  liveness: Pick<MeshLiveness, 'isDead'>;
  /**
   * Ask `upstream` for a pipe of the stream (PipeBroker.open); `merged`: as the first path of a dual-path
   * copy (this node holds a critical region's copy).
   */
  open(upstream: string, streamId: string, stream: MeshStream, merged: boolean): Promise<InboundPipe>;
  /** Keep the second path of a dual-path copy coming (DualPath.ensure); absent: the region is not critical. */
  ensureDual?(copy: RegionCopy, stream: MeshStream): Promise<void>;
  /** Start recording which ingest copy feeds the stream (FeedGuard.watch). */
  watch(streamId: string, stream: MeshStream): void;
  /** Pull the backup ingest's copy next to the primary's (FeedGuard.ensureBackup). */
  ensureBackup(streamId: string, stream: MeshStream, node: string, primaryUpstream: string): Promise<void>;
}

/**
 * This node's region copies, one per stream it pulls, and the rule that keeps
 * inter-region traffic to one copy per region: the first relay of a region to
 * need a stream wins the region's lease in Redis (atomic) and pulls from the
 * ingest; every other relay of the region pulls from the lease's holder.
 */
export class RegionCopies<S extends MeshStream = MeshStream> {
  readonly #d: RegionCopiesDeps<S>;
  readonly #copyDeps: RegionCopyDeps;
  readonly #copies = new Map<string, RegionCopy>();

  constructor(deps: RegionCopiesDeps<S>) {
    this.#d = deps;
    this.#copyDeps = {
      ...deps,
      forget: (copy) => {
        if (this.#copies.get(copy.stream) === copy) this.#copies.delete(copy.stream);
      },
    };
  }

  get(stream: string): RegionCopy | undefined {
    return this.#copies.get(stream);
  }

  /** Live view: the sweeper closes and re-pulls while it walks it. */
  entries(): IterableIterator<[string, RegionCopy]> {
    return this.#copies.entries();
  }

  get size(): number {
    return this.#copies.size;
  }

  /** `pipe` is now the stream's primary copy (it replaces the current one as the one looked up). */
  track(stream: string, pipe: InboundPipe): RegionCopy {
    const copy = new RegionCopy(this.#copyDeps, stream, pipe);
    this.#copies.set(stream, copy);
    return copy;
  }

  /**
   * Bring `streamId` to this node: from the ingest if we win the region's
   * lease, else from its holder. A holder that does not answer and is dead
   * (PeerLiveness) is forgotten and the lease taken; one that is alive but
   * slow is not (a second copy from the ingest would break "one copy per
   * region"): the viewer's join fails and is retried.
   */
  async take(streamId: string): Promise<S> {
    const { directory, media, config, log } = this.#d;
    const self = config.nodeId;
    const startedAt = Date.now();
    const [active, ingestCopies] = await Promise.all([
      directory.getIngest(streamId),
      directory.getIngestCopies(streamId),
    ]);
    // Regions take the primary's media (the backup's is pulled next to it).
    const ingest = ingestCopies.primary ?? active?.nodeId;
    if (!ingest) throw new ClusterError('not_found', `stream "${streamId}" is not published anywhere`);
    if (ingest === self) {
      const local = media.stream(streamId);
      if (local?.live) return local;
      throw new ClusterError('not_found', `stream "${streamId}" is not live here`);
    }
    const ttl = config.claimTtlMs;
    let claimed = await directory.claimRegionCopy(streamId, config.region, self, ttl);
    const claimedAt = Date.now();
    let upstream = claimed.won ? ingest : claimed.winner;
    const stream = await media.getOrCreateStream(streamId);
    try {
      // A critical region's holder merges this copy with a second one over another path.
      const dual = (won: boolean) => won && this.#d.ensureDual !== undefined;
      try {
        this.track(streamId, await this.#d.open(upstream, streamId, stream, dual(claimed.won)));
      } catch (err) {
        if (claimed.won || !(err instanceof ClusterError)) throw err;
        const dead = await this.#d.liveness.isDead(upstream).catch((e) => {
          // Redis unreachable: not known dead, so not taken over.
          log.debug({ stream: streamId, upstream, err: String(e) }, 'liveness of the region holder unknown');
          return false;
        });
        if (!dead) {
          log.warn(
            { stream: streamId, upstream, err: err.message },
            'region holder did not answer but is alive; not taking over',
          );
          throw err;
        }
        log.warn({ stream: streamId, upstream, err: err.message }, 'region holder gone; taking over');
        await directory.forgetNode(upstream);
        const retry = await directory.claimRegionCopy(streamId, config.region, self, ttl);
        upstream = retry.won ? ingest : retry.winner;
        this.track(streamId, await this.#d.open(upstream, streamId, stream, dual(retry.won)));
        claimed = retry;
      }
      // Where a join's time goes when it has to bring the stream: Redis, then the pipe set-up.
      const now = Date.now();
      log.info(
        {
          stream: streamId,
          upstream,
          regionCopy: claimed.won,
          tookMs: now - startedAt,
          directoryMs: claimedAt - startedAt,
          pipeMs: now - claimedAt,
        },
        'pulling stream',
      );
      this.#d.watch(streamId, stream);
      const copy = this.#copies.get(streamId);
      if (claimed.won && copy && this.#d.ensureDual) void this.#d.ensureDual(copy, stream);
      if (claimed.won && ingestCopies.backup) {
        void this.#d.ensureBackup(streamId, stream, ingestCopies.backup, upstream);
      }
      return stream;
    } catch (err) {
      if (claimed.won) {
        await directory.release(claimed.claim).catch((e) => {
          // It lapses by its TTL; the region's next puller takes it then.
          log.debug({ stream: streamId, err: String(e) }, 'region lease not released after a failed pull');
          return false;
        });
      }
      if (!stream.live) stream.close();
      throw err;
    } finally {
      const copy = this.#copies.get(streamId);
      if (copy && claimed.won) copy.claim = claimed.claim;
    }
  }

  /**
   * Renew every lease we hold now (after Redis lost them, or after our record
   * lapsed while we were stalled); media never stopped meanwhile. A lease
   * somebody else took in between makes that copy step down.
   */
  async reclaim(): Promise<void> {
    for (const copy of this.#copies.values()) {
      if (copy.claim) await copy.renew();
    }
  }

  /** This part's pipes, each with its summary (for ops). */
  pipeEntries(): PipeEntry[] {
    return [...this.#copies.entries()].map(([stream, copy]) => ({
      summary: {
        id: copy.pipe.pipeId ?? '',
        stream,
        direction: 'in',
        peerNodeId: copy.upstream,
        peerRegion: '',
        path: copy.pipe.path,
      },
      pipe: copy.pipe,
    }));
  }

  close(reason: string): void {
    for (const copy of this.#copies.values()) copy.pipe.close(reason);
  }
}
