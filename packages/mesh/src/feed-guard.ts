import type { SourceRole, SwitchRecord } from '@matchmesh/sfu';
import type { MeshConfig } from './config.ts';
import type { InboundPipe, Logger, MeshDirectory, MeshMedia, MeshStream, PipeEntry } from './ports.ts';
import { inboundEntry } from './ports.ts';
import type { RegionCopy } from './region-copy.ts';

/** A primary copy silent this long is re-pulled from whatever node now holds the primary ingest. */
export const REPULL_SILENT_MS = 3000;

export interface FeedGuardDeps {
  config: Pick<MeshConfig, 'nodeId'>;
  directory: Pick<MeshDirectory, 'getIngestCopies' | 'setIngest'>;
  media: Pick<MeshMedia, 'stream'>;
  log: Logger;
  /** Ask `upstream` for a pipe of the stream as its `role` copy (PipeBroker.open). */
  open(upstream: string, streamId: string, stream: MeshStream, role: SourceRole): Promise<InboundPipe>;
  /** Close our end of `pipe` and tell its upstream (PipeBroker.release). */
  release(stream: string, pipe: InboundPipe, reason: string): void;
  /** The stream's current primary copy, and making a fresh pipe the current one (RegionCopies). */
  copies: { get(stream: string): RegionCopy | undefined; track(stream: string, pipe: InboundPipe): RegionCopy };
  /** A pull of the stream is under way (Mesh.resolveStream). */
  pulling(stream: string): boolean;
  /** Whether the upstream still has its end of `pipe` (PipeBroker.upstreamHas; undefined: no answer). */
  upstreamHas(stream: string, pipe: InboundPipe): Promise<boolean | undefined>;
  /** The upstream ended `pipe`: what a `pipe.upstream-ended` notice does (Mesh). */
  upstreamEnded(stream: string, pipeId: string): void;
}

/** The program source id a pipe's producers are attached under (see PipeIn.connect). */
export const sourceIdOf = (pipe: InboundPipe): string => `pipe-${pipe.pipeId}`;

/**
 * The region's holder keeps both ingest copies coming: the backup's next to
 * the primary's, and a fresh pipe from the primary ingest when its copy has
 * been silent for a while (its node died and came back, or moved). Which copy
 * viewers get is decided by media liveness in the stream's program, never
 * here; this only needs Redis to find the nodes, and records in it which
 * ingest feeds the region now.
 */
export class FeedGuard {
  readonly #d: FeedGuardDeps;
  /** Redundant ingest: the backup's copy, pulled next to the primary's by a region's holder. */
  readonly #backup = new Map<string, InboundPipe>();
  readonly #checking = new Set<string>();
  readonly #watched = new WeakSet<MeshStream>();

  constructor(deps: FeedGuardDeps) {
    this.#d = deps;
  }

  backup(stream: string): InboundPipe | undefined {
    return this.#backup.get(stream);
  }

  backups(): IterableIterator<InboundPipe> {
    return this.#backup.values();
  }

  /** The holder's periodic check (after its lease renewed): backup present, primary not silent. */
  async check(copy: RegionCopy): Promise<void> {
    const { stream: streamId } = copy;
    const { directory, media, config, log } = this.#d;
    // One check at a time, never beside a pull, and only for the current copy.
    if (this.#checking.has(streamId) || this.#d.pulling(streamId)) return;
    if (this.#d.copies.get(streamId) !== copy || copy.pipe.closed) return;
    const stream = media.stream(streamId);
    if (!stream) return;
    this.#checking.add(streamId);
    try {
      const ingest = await directory.getIngestCopies(streamId).catch((err) => {
        // Redis unreachable: nothing to learn; the next tick checks again.
        log.debug({ stream: streamId, err: String(err) }, 'ingest copies unknown');
        return null;
      });
      if (!ingest) return;
      if (ingest.backup) await this.ensureBackup(streamId, stream, ingest.backup, copy.upstream);
      // Without a backup copy a dead upstream is the sweeper's business (it pulls again).
      const redundant = this.#backup.has(streamId);
      if (!redundant && !stream.program.sourceAlive(sourceIdOf(copy.pipe), REPULL_SILENT_MS)) {
        // Silent: the publisher may be gone for a moment (the upstream still has our pipe, nothing to do),
        // or the upstream closed our pipe and its notice was lost (the bus keeps nothing for a node that
        // is reconnecting to Redis): then do what the notice would have done.
        const pipeId = copy.pipe.pipeId;
        if (pipeId && (await this.#d.upstreamHas(streamId, copy.pipe)) === false && !copy.pipe.closed) {
          log.warn({ stream: streamId, upstream: copy.upstream, pipeId }, 'upstream no longer has our silent pipe');
          this.#d.upstreamEnded(streamId, pipeId);
        }
        return;
      }
      if (
        redundant &&
        ingest.primary &&
        ingest.primary !== config.nodeId &&
        !stream.program.sourceAlive(sourceIdOf(copy.pipe), REPULL_SILENT_MS)
      ) {
        log.warn({ stream: streamId, from: ingest.primary }, 'primary copy silent: pulling it again');
        const claim = copy.claim;
        this.#d.copies.track(streamId, await this.#d.open(ingest.primary, streamId, stream, 'primary'));
        const fresh = this.#d.copies.get(streamId);
        if (fresh && fresh !== copy) copy.handOver(fresh, claim);
      }
    } catch (err) {
      log.debug({ stream: streamId, err: (err as Error).message }, 'feed check failed');
    } finally {
      this.#checking.delete(streamId);
    }
  }

  /** Pull the backup ingest's copy (from `node`) unless we have a live one from it already. */
  async ensureBackup(streamId: string, stream: MeshStream, node: string, primaryUpstream: string): Promise<void> {
    if (node === this.#d.config.nodeId || node === primaryUpstream) return;
    const existing = this.#backup.get(streamId);
    if (existing && !existing.closed) {
      if (existing.upstream === node && stream.program.sourceAlive(sourceIdOf(existing), REPULL_SILENT_MS)) return;
      this.#d.release(streamId, existing, 'backup copy replaced');
    }
    try {
      this.#track(streamId, await this.#d.open(node, streamId, stream, 'backup'));
      this.#d.log.info({ stream: streamId, upstream: node }, 'pulling the backup copy');
    } catch (err) {
      this.#d.log.warn({ stream: streamId, upstream: node, err: (err as Error).message }, 'backup copy unavailable');
    }
  }

  /** Let the backup copy go (the holder stepped down), telling its upstream. */
  dropBackup(stream: string, reason: string): void {
    const backup = this.#backup.get(stream);
    if (backup) this.#d.release(stream, backup, reason);
  }

  /** Record in the directory which ingest feeds the region now (Redis only records; media decided). */
  watch(streamId: string, stream: MeshStream): void {
    if (this.#watched.has(stream)) return;
    this.#watched.add(stream);
    stream.program.on('switched', (record: SwitchRecord) => {
      const pipes = [this.#d.copies.get(streamId)?.pipe, this.#backup.get(streamId)].filter((p) => p !== undefined);
      const pipe = pipes.find((p) => sourceIdOf(p) === record.to);
      this.#d.log.warn({ stream: streamId, ...record, upstream: pipe?.upstream }, 'ingest copy switched');
      if (pipe) {
        this.#d.directory.setIngest(streamId, pipe.upstream, { role: pipe.role }).catch((err) =>
          // Only a record for ops and new pulls; the next switch (or announce) writes it again.
          this.#d.log.debug({ stream: streamId, err: String(err) }, 'active ingest not recorded'),
        );
      }
    });
  }

  /** This part's pipes, each with its summary (for ops). */
  pipeEntries(): PipeEntry[] {
    return [...this.#backup.entries()].map(([stream, pipe]) => inboundEntry(stream, pipe));
  }

  close(reason: string): void {
    for (const pipe of this.#backup.values()) pipe.close(reason);
  }

  #track(streamId: string, pipe: InboundPipe): void {
    this.#backup.set(streamId, pipe);
    pipe.once('close', () => {
      if (this.#backup.get(streamId) === pipe) this.#backup.delete(streamId);
    });
  }
}
