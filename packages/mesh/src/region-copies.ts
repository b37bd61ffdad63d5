import { ClusterError } from '@matchmesh/cluster';
import type { MeshConfig } from './config.ts';
import type { InboundPipe, MeshLiveness, MeshMedia, MeshStream, PipeEntry } from './ports.ts';
import { RegionCopy, type RegionCopyDeps } from './region-copy.ts';

/** How long a drain move waits for a new upstream to exist (an ingest's publisher moving to another ingest). */
export const MOVE_WAIT_MS = 10_000;
/** How long the fresh pipe may take to deliver media before the old one goes anyway. */
export const MOVE_MEDIA_WAIT_MS = 3_000;
const MOVE_POLL_MS = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RegionCopiesDeps<S extends MeshStream = MeshStream> extends Omit<RegionCopyDeps, 'forget' | 'config'> {
  config: Pick<MeshConfig, 'nodeId' | 'region' | 'claimTtlMs' | 'lingerMs'>;
  media: Pick<MeshMedia<S>, 'stream' | 'getOrCreateStream'>;
  liveness: Pick<MeshLiveness, 'isDead'>;
  /** This node drains: it takes no region lease (it must stop being a holder). */
  draining(): boolean;
  /** Source `pipe` of `stream` delivered media within `ms` (its producers are spliced into the program). */
  delivering(stream: MeshStream, pipe: InboundPipe, ms: number): boolean;
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
      if (claimed.won && this.#d.draining()) {
        // A draining node pulls what it still needs without holding the region: let the lease go.
        await directory.release(claimed.claim).catch(() => false);
        claimed = { ...claimed, won: false };
      }
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
   * Our upstream for `streamId` (node `from`) drains: pull the stream from
   * another holder — the region's new lease holder, or the ingest when we win
   * the lease it let go (or the ingest the publisher moved to) — into the same
   * router, wait until the fresh pipe delivers, then let the old one go
   * (make-before-break: viewers here see at most a splice). Waits up to
   * MOVE_WAIT_MS for an upstream other than `from` to exist.
   */
  async move(streamId: string, from: string): Promise<void> {
    const { directory, media, config, log } = this.#d;
    const old = this.#copies.get(streamId);
    const stream = media.stream(streamId);
    if (!old || old.upstream !== from || !stream) return;
    const startedAt = Date.now();
    for (;;) {
      if (this.#copies.get(streamId) !== old || old.pipe.closed) return; // moved or gone meanwhile
      const copies = await directory.getIngestCopies(streamId).catch(() => null);
      const active = await directory.getIngest(streamId).catch(() => null);
      const ingest = copies?.primary ?? active?.nodeId;
      let upstream: string | undefined;
      let claim: Awaited<ReturnType<typeof directory.claimRegionCopy>> | undefined;
      if (ingest && ingest !== from && ingest !== config.nodeId) {
        if (this.#d.draining()) upstream = ingest;
        else {
          claim = await directory
            .claimRegionCopy(streamId, config.region, config.nodeId, config.claimTtlMs)
            .catch(() => undefined);
          upstream = claim ? (claim.won ? ingest : claim.winner) : undefined;
        }
      }
      if (upstream && upstream !== from) {
        try {
          const keep = claim?.won ? claim.claim : old.claim;
          // The region's holder of a critical region merges the fresh pipe with its second path, as before.
          const merged = !!keep && this.#d.ensureDual !== undefined;
          const fresh = this.track(streamId, await this.#d.open(upstream, streamId, stream, merged));
          // Make before break: the old pipe feeds the program until the fresh one does.
          const due = Date.now() + MOVE_MEDIA_WAIT_MS;
          while (Date.now() < due && !fresh.pipe.closed && !this.#d.delivering(stream, fresh.pipe, 200)) {
            await sleep(MOVE_POLL_MS / 2);
          }
          old.handOver(fresh, keep);
          this.#d.watch(streamId, stream);
          log.info(
            { stream: streamId, from, to: upstream, regionCopy: !!keep, tookMs: Date.now() - startedAt },
            'upstream drains: pulling from another holder',
          );
          if (claim?.won && copies?.backup) void this.#d.ensureBackup(streamId, stream, copies.backup, upstream);
          return;
        } catch (err) {
          log.warn({ stream: streamId, upstream, err: String(err) }, 'drain move: pull failed; trying again');
        }
      }
      if (Date.now() - startedAt > MOVE_WAIT_MS) {
        log.warn({ stream: streamId, from }, 'upstream drains but no other holder appeared: staying on it');
        return;
      }
      await sleep(MOVE_POLL_MS);
    }
  }

  /** This node drains: give up every region lease (the region's other relays take it when they need it). */
  async releaseLeases(): Promise<void> {
    for (const copy of this.#copies.values()) {
      const claim = copy.claim;
      if (!claim) continue;
      copy.claim = null;
      await this.#d.directory.release(claim).catch((err) =>
        // It lapses by its TTL; the next puller of the region takes it then.
        this.#d.log.debug({ stream: copy.stream, err: String(err) }, 'region lease not released at drain'),
      );
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
