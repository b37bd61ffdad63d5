import { ClusterError } from '@matchmesh/cluster';
import type { PipeSummary } from '@matchmesh/protocol';
import type { MeshConfig } from './config.ts';
import { DUAL_PATH_GROUP, DualPath } from './dual-path.ts';
import { FeedGuard, sourceIdOf } from './feed-guard.ts';
import { PipeBroker } from './pipe-broker.ts';
import type {
  InboundPipe,
  Logger,
  MeshBus,
  MeshDirectory,
  MeshLiveness,
  MeshMedia,
  MeshPeers,
  MeshStream,
  PipeEntry,
} from './ports.ts';
import { RegionCopies } from './region-copies.ts';
import { Sweeper } from './sweeper.ts';

export interface MeshOptions<S extends MeshStream = MeshStream> {
  config: MeshConfig;
  bus: MeshBus;
  directory: MeshDirectory;
  liveness: MeshLiveness;
  media: MeshMedia<S>;
  logger: Logger;
  /** Viewers of `stream` on this node right now (decides when a region copy lingers out). */
  localViewers(stream: string): number;
  /** The cluster's nodes and region holders: where a critical region's second path comes from (config.dualPath). */
  peers?: MeshPeers;
}

/**
 * The media mesh seen from one node: which streams it pulls from upstream
 * (RegionCopies, with FeedGuard keeping both ingest copies coming), which it
 * sends downstream (PipeBroker), and the Sweeper that replaces pipes to dead
 * peers. Redis is consulted only to set a pipe up; once media flows, nothing
 * on its path waits on Redis.
 */
export class Mesh<S extends MeshStream = MeshStream> {
  readonly #o: MeshOptions<S>;
  readonly #broker: PipeBroker;
  readonly #copies: RegionCopies<S>;
  readonly #guard: FeedGuard;
  readonly #sweeper: Sweeper;
  /** A critical region's second copies (config.dualPath with peers); undefined elsewhere. */
  readonly #dual: DualPath | undefined;
  /** Pulls under way, one per stream: concurrent joins share it. */
  readonly #pulling = new Map<string, Promise<S>>();
  /** This node drains: no region lease, downstreams told to move (see drain()). */
  #draining = false;

  constructor(o: MeshOptions<S>) {
    this.#o = o;
    const { config, bus, directory, liveness, media, logger: log } = o;
    const inUse = (stream: string) => o.localViewers(stream) > 0 || this.#broker.hasDownstream(stream);
    const repull = (stream: string, failure: string) => {
      this.resolveStream(stream).catch((err) => log.warn({ stream, err: String(err) }, failure));
    };
    const release = (stream: string, pipe: InboundPipe, reason: string) => this.#broker.release(stream, pipe, reason);
    this.#dual =
      config.dualPath && o.peers
        ? new DualPath({
            config,
            peers: o.peers,
            log,
            release,
            stream: (id) => media.stream(id),
            open: (upstream, streamId, stream) =>
              this.#broker.open(upstream, streamId, stream, 'primary', { group: DUAL_PATH_GROUP, secondary: true }),
          })
        : undefined;
    const merge = (role: string) => (role === 'primary' && this.#dual ? { group: DUAL_PATH_GROUP } : undefined);
    this.#broker = new PipeBroker({
      config,
      bus,
      media,
      log,
      resolveStream: (stream) => this.resolveStream(stream),
      inbound: (stream) => this.#copies.get(stream)?.pipe,
      upstreamEnded: (stream, pipeId) => this.#upstreamEnded(stream, pipeId),
      upstreamDraining: (stream, pipeId, from) => {
        // A draining backup ingest: its copy goes (the program carries on from the primary's).
        if (this.#guard.backup(stream)?.pipeId === pipeId)
          return this.#guard.dropBackup(stream, 'backup ingest drains');
        if (this.#copies.get(stream)?.pipe.pipeId !== pipeId) return;
        this.#copies
          .move(stream, from)
          .catch((err) => log.warn({ stream, from, err: String(err) }, 'drain move failed'));
      },
    });
    this.#copies = new RegionCopies({
      config,
      directory,
      liveness,
      media,
      log,
      inUse,
      release,
      repull,
      draining: () => this.#draining,
      delivering: (stream, pipe, ms) => stream.program.sourceAlive(sourceIdOf(pipe), ms),
      closeStream: (stream) => media.stream(stream)?.close(),
      ...(media.pathBlocked ? { pathBlocked: (upstream: string) => media.pathBlocked?.(upstream) } : {}),
      open: (upstream, streamId, stream, merged) =>
        this.#broker.open(upstream, streamId, stream, 'primary', merged ? { group: DUAL_PATH_GROUP } : undefined),
      ...(this.#dual ? { ensureDual: (copy, stream) => this.#dual!.ensure(copy, stream) } : {}),
      dropBackup: (stream, reason) => {
        this.#guard.dropBackup(stream, reason);
        this.#dual?.drop(stream, reason);
      },
      checkFeeds: async (copy) => {
        await this.#guard.check(copy);
        const stream = media.stream(copy.stream);
        if (this.#dual && stream && this.#copies.get(copy.stream) === copy) await this.#dual.ensure(copy, stream);
      },
      watch: (streamId, stream) => this.#guard.watch(streamId, stream),
      ensureBackup: (...args) => this.#guard.ensureBackup(...args),
    });
    this.#guard = new FeedGuard({
      config,
      directory,
      media,
      log,
      release,
      // The holder's fresh primary pipe joins the dual path's merge like the one it replaces.
      open: (upstream, streamId, stream, role) => this.#broker.open(upstream, streamId, stream, role, merge(role)),
      copies: this.#copies,
      pulling: (stream) => this.#pulling.has(stream),
      upstreamHas: (stream, pipe) => this.#broker.upstreamHas(stream, pipe),
      upstreamEnded: (stream, pipeId) => this.#upstreamEnded(stream, pipeId),
    });
    this.#sweeper = new Sweeper({
      liveness,
      directory,
      log,
      inUse,
      repull,
      outbound: () => this.#broker.outbound(),
      copies: () => this.#copies.entries(),
      backup: (stream) => this.#guard.backup(stream),
      backups: () => this.#guard.backups(),
    });
  }

  start(): void {
    this.#broker.start();
    this.#sweeper.start(this.#o.config.heartbeatMs);
  }

  /**
   * The stream's router on this node, pulling the region's copy if this
   * relay does not have it yet. Undefined when nobody publishes the stream.
   */
  async resolveStream(stream: string): Promise<S | undefined> {
    const local = this.#o.media.stream(stream);
    // Live *and fed*: a stream whose upstream went away keeps its stable
    // producers for a grace time, and that is exactly when it must be pulled again.
    // (A dual path's second copy alone is not the region's copy: the first path is pulled again.)
    const secondOnly = this.#dual?.second(stream) !== undefined && !this.#copies.get(stream);
    if (local?.live && local.program.fed && !secondOnly) return local;
    let pending = this.#pulling.get(stream);
    if (!pending) {
      pending = this.#copies.take(stream);
      this.#pulling.set(stream, pending);
      // The callers below see the rejection; this chain only clears the entry.
      pending.finally(() => this.#pulling.delete(stream)).catch(() => {});
    }
    try {
      return await pending;
    } catch (err) {
      if (err instanceof ClusterError && err.code === 'not_found') return undefined;
      throw err;
    }
  }

  /**
   * This node drains (or no longer does). Draining: it lets its region leases
   * go — the region's other relays take them when they next need a copy — and
   * tells every downstream node to pull from another holder (each releases its
   * pipe from here once the new one delivers). Undrained: it may hold leases
   * again; what moved away stays where it is.
   */
  async drain(draining: boolean): Promise<void> {
    this.#draining = draining;
    if (!draining) return;
    await this.#copies.releaseLeases();
    await this.#broker.notifyDraining();
  }

  /** Other nodes pulling a stream from this one (a draining node is not empty while any does). */
  downstreamNodes(): number {
    return this.#broker.downstreamNodes();
  }

  /**
   * Renew our region leases now (after Redis lost them, or after our record
   * lapsed while we were stalled); media never stopped meanwhile. A lease
   * somebody else took in between makes us step down.
   */
  reclaim(): Promise<void> {
    return this.#copies.reclaim();
  }

  summaries(): PipeSummary[] {
    return this.#entries().map((e) => e.summary);
  }

  /** The pipes with what each one's path did so far (RTT, NACKs, retransmissions, loss): for ops. */
  async linkReport(): Promise<PipeSummary[]> {
    return Promise.all(
      this.#entries().map(async ({ summary, pipe }) => {
        const dualPath = pipe.mergeShare?.();
        return { ...summary, link: await pipe.linkStats().catch(() => undefined), ...(dualPath ? { dualPath } : {}) };
      }),
    );
  }

  /**
   * The largest round trip (ms) measured on the pipes bringing this node `stream` (its region copy, the
   * backup's copy); undefined when none has one yet (a new pipe reports after its first RTCP exchange).
   */
  async upstreamRttMs(stream: string): Promise<number | undefined> {
    const inbound = this.#entries().filter((e) => e.summary.direction === 'in' && e.summary.stream === stream);
    const rtts = await Promise.all(
      inbound.map((e) =>
        e.pipe
          .linkStats()
          .then((l) => l.rttMs)
          .catch(() => undefined),
      ),
    );
    const known = rtts.filter((r): r is number => r !== undefined);
    return known.length > 0 ? Math.max(...known) : undefined;
  }

  #entries(): PipeEntry[] {
    return [
      ...this.#broker.pipeEntries(),
      ...this.#copies.pipeEntries(),
      ...this.#guard.pipeEntries(),
      ...(this.#dual?.pipeEntries() ?? []),
    ];
  }

  close(): void {
    this.#sweeper.stop();
    void this.#o.liveness.close();
    this.#broker.close('node closing');
    this.#copies.close('node closing');
    this.#guard.close('node closing');
    this.#dual?.close('node closing');
  }

  /** Upstream tore its end down (its publisher left): drop our copy; viewers are told the stream ended. */
  #upstreamEnded(streamId: string, pipeId: string): void {
    // A dual path's second copy: the first goes on; the holder's next check pulls another.
    if (this.#dual?.upstreamEnded(streamId, pipeId)) return;
    const backup = this.#guard.backup(streamId);
    if (backup && backup.pipeId === pipeId) {
      // Only the backup copy went: the program goes on from the primary's.
      backup.close('upstream closed');
      return;
    }
    const copy = this.#copies.get(streamId);
    if (copy && copy.pipe.pipeId === pipeId) {
      copy.pipe.close('upstream closed');
      // With a backup copy still coming, the stream lives on from it.
      if (!this.#guard.backup(streamId)) this.#o.media.stream(streamId)?.close();
    }
  }
}
