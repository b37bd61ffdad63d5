import { ClusterError, PeerLiveness, type RegionClaim } from '@matchmesh/cluster';
import {
  PipeAck,
  PipeCloseRequest,
  PipeCommentaryRequest,
  PipeOpenRequest,
  PipeOpenResponse,
  type PipeSummary,
} from '@matchmesh/protocol';
import {
  type PipeAnswer,
  PipeIn,
  type PipeListen,
  PipeOut,
  type SourceRole,
  type StreamRouter,
  type SwitchRecord,
} from '@matchmesh/sfu';
import type { Logger } from 'pino';
import type { ClusterLink } from '../cluster/ClusterLink.ts';
import type { Config } from '../config.ts';
import type { MediaService } from '../media/MediaService.ts';

export interface MeshOptions {
  media: MediaService;
  cluster: ClusterLink;
  config: Config;
  logger: Logger;
  /** Viewers of `stream` on this node right now (decides when a region copy lingers out). */
  localViewers(stream: string): number;
}

interface Inbound {
  pipe: PipeIn;
  upstream: string;
  claim: RegionClaim | null;
  timer: NodeJS.Timeout;
  idleSince: number | null;
}

/** A primary copy silent this long is re-pulled from whatever node now holds the primary ingest. */
const REPULL_SILENT_MS = 3000;

/**
 * The media mesh seen from one node: which streams it pulls from upstream
 * (one PipeIn per stream), which it sends downstream (PipeOuts), and the
 * rule that keeps inter-region traffic to one copy per region:
 *
 * - the first relay of a region to need a stream wins the region's claim in
 *   Redis (atomic) and pulls from the ingest;
 * - every other relay of the region pulls from the claim's winner.
 *
 * Redis is consulted only to set a pipe up; once media flows, nothing on
 * its path waits on Redis.
 */
export class MeshService {
  readonly #o: MeshOptions;
  readonly #log: Logger;
  readonly #out = new Map<string, PipeOut>();
  readonly #in = new Map<string, Inbound>();
  /** Redundant ingest: the backup's copy, pulled next to the primary's by a region's holder. */
  readonly #backup = new Map<string, PipeIn>();
  readonly #checking = new Set<string>();
  readonly #watched = new WeakSet<StreamRouter>();
  readonly #pulling = new Map<string, Promise<StreamRouter>>();
  readonly #listen: PipeListen;
  readonly #liveness: PeerLiveness;
  #sweep: NodeJS.Timeout | undefined;

  constructor(o: MeshOptions) {
    this.#o = o;
    this.#log = o.logger.child({ room: 'mesh' });
    this.#listen = {
      ip: o.config.MM_LISTEN_IP,
      announcedAddress: o.config.MM_MESH_ADDRESS ?? o.config.MM_ANNOUNCED_ADDRESS,
      portRange: { min: o.config.MM_RTC_MIN_PORT, max: o.config.MM_RTC_MAX_PORT },
      socketBufferBytes: o.config.MM_UDP_BUFFER_BYTES,
    };
    // A peer silent (no heartbeat) but still connected for a whole claim TTL
    // is dead: by then its own claims would have lapsed anyway.
    this.#liveness = new PeerLiveness({
      redis: o.cluster.redis,
      cluster: o.config.MM_CLUSTER,
      graceMs: o.config.MM_CLAIM_TTL_MS,
      logger: this.#log,
    });
  }

  get #self(): string {
    return this.#o.config.MM_NODE_ID;
  }

  start(): void {
    const bus = this.#o.cluster.bus;
    bus.handle('pipe.open', (payload, ctx) => this.#openOut(payload, ctx.from), PipeOpenRequest);
    bus.handle('pipe.close', (payload) => this.#closeOut(payload.pipeId, 'closed by downstream'), PipeCloseRequest);
    bus.handle('pipe.closed', (payload) => this.#upstreamClosed(payload.stream, payload.pipeId), PipeCloseRequest);
    bus.handle('pipe.commentary', (payload) => this.#commentaryChanged(payload), PipeCommentaryRequest);
    this.#sweep = setInterval(() => void this.#sweepDeadPeers(), this.#o.config.MM_HEARTBEAT_MS).unref();
  }

  /**
   * The stream's router on this node, pulling the region's copy if this
   * relay does not have it yet. Undefined when nobody publishes the stream.
   */
  async resolveStream(stream: string): Promise<StreamRouter | undefined> {
    const local = this.#o.media.stream(stream);
    // Live *and fed*: a stream whose upstream went away keeps its stable
    // producers for a grace time, and that is exactly when it must be pulled again.
    if (local?.live && local.program.fed) return local;
    let pending = this.#pulling.get(stream);
    if (!pending) {
      pending = this.#pull(stream);
      this.#pulling.set(stream, pending);
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
   * Renew our region leases now (after Redis lost them, or after our record
   * lapsed while we were stalled); media never stopped meanwhile. A lease
   * somebody else took in between makes us step down.
   */
  async reclaim(): Promise<void> {
    for (const [stream, inbound] of this.#in) {
      if (inbound.claim) await this.#renew(stream, inbound);
    }
  }

  summaries(): PipeSummary[] {
    const out: PipeSummary[] = [...this.#out.values()].map((p) => ({
      id: p.answer.pipeId,
      stream: p.stream.stream,
      direction: 'out',
      peerNodeId: p.peer.nodeId,
      peerRegion: p.peer.region,
    }));
    for (const [stream, inbound] of this.#in) {
      out.push({
        id: inbound.pipe.pipeId ?? '',
        stream,
        direction: 'in',
        peerNodeId: inbound.upstream,
        peerRegion: '',
      });
    }
    for (const [stream, pipe] of this.#backup) {
      out.push({ id: pipe.pipeId ?? '', stream, direction: 'in', peerNodeId: pipe.upstream, peerRegion: '' });
    }
    return out;
  }

  close(): void {
    clearInterval(this.#sweep);
    void this.#liveness.close();
    for (const p of this.#out.values()) p.close('node closing');
    for (const i of this.#in.values()) i.pipe.close('node closing');
    for (const p of this.#backup.values()) p.close('node closing');
  }

  async #pull(streamId: string): Promise<StreamRouter> {
    const { cluster, config, media } = this.#o;
    const startedAt = Date.now();
    const [active, copies] = await Promise.all([
      cluster.directory.getIngest(streamId),
      cluster.directory.getIngestCopies(streamId),
    ]);
    // Regions take the primary's media (the backup's is pulled next to it).
    const primaryNode = copies.primary ?? active?.nodeId;
    const ingest = primaryNode ? { nodeId: primaryNode } : null;
    if (!ingest) throw new ClusterError('not_found', `stream "${streamId}" is not published anywhere`);
    if (ingest.nodeId === this.#self) {
      const local = media.stream(streamId);
      if (local?.live) return local;
      throw new ClusterError('not_found', `stream "${streamId}" is not live here`);
    }
    const ttl = config.MM_CLAIM_TTL_MS;
    const claimed = await cluster.directory.claimRegionCopy(streamId, config.MM_REGION, this.#self, ttl);
    const claimedAt = Date.now();
    let upstream = claimed.won ? ingest.nodeId : claimed.winner;
    const stream = await media.getOrCreateStream(streamId);
    try {
      try {
        await this.#requestPipe(upstream, streamId, stream);
      } catch (err) {
        // The region's holder may have died with its claim still in Redis:
        // forget it, take the claim ourselves and go to the ingest. But only
        // if it is really gone: a busy holder that answered late still has
        // the region's copy, and pulling a second one from the ingest would
        // break "one copy per region". The viewer's join fails and is retried.
        if (claimed.won || !(err instanceof ClusterError)) throw err;
        const dead = await this.#liveness.isDead(upstream).catch(() => false);
        if (!dead) {
          this.#log.warn(
            { stream: streamId, upstream, err: err.message },
            'region holder did not answer but is alive; not taking over',
          );
          throw err;
        }
        this.#log.warn({ stream: streamId, upstream, err: err.message }, 'region holder gone; taking over');
        await cluster.directory.forgetNode(upstream);
        const retry = await cluster.directory.claimRegionCopy(streamId, config.MM_REGION, this.#self, ttl);
        upstream = retry.won ? ingest.nodeId : retry.winner;
        await this.#requestPipe(upstream, streamId, stream);
        claimed.won = retry.won;
        claimed.claim = retry.claim;
      }
      // Where a join's time goes when it has to bring the stream: Redis, then the pipe set-up.
      const now = Date.now();
      this.#log.info(
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
      this.#watchSwitches(streamId, stream);
      if (claimed.won && copies.backup) void this.#ensureBackup(streamId, stream, copies.backup, upstream);
      return stream;
    } catch (err) {
      if (claimed.won) await cluster.directory.release(claimed.claim).catch(() => false);
      if (!stream.live) stream.close();
      throw err;
    } finally {
      const inbound = this.#in.get(streamId);
      if (inbound && claimed.won) inbound.claim = claimed.claim;
    }
  }

  async #requestPipe(
    upstream: string,
    streamId: string,
    stream: StreamRouter,
    role: SourceRole = 'primary',
  ): Promise<PipeAnswer> {
    const pipe = await PipeIn.prepare(stream, this.#listen, role, upstream);
    try {
      const request: PipeOpenRequest = {
        stream: streamId,
        region: this.#o.config.MM_REGION,
        offer: pipe.offer as PipeOpenRequest['offer'],
      };
      const answer = (await this.#o.cluster.bus.request(upstream, 'pipe.open', request, PipeOpenResponse, {
        timeoutMs: 5000,
      })) as unknown as PipeAnswer;
      await pipe.connect(answer);
      if (role === 'primary') this.#track(streamId, pipe, upstream);
      else this.#trackBackup(streamId, pipe);
      return answer;
    } catch (err) {
      pipe.close('setup failed');
      throw err;
    }
  }

  #track(streamId: string, pipe: PipeIn, upstream: string): void {
    const inbound: Inbound = {
      pipe,
      upstream,
      claim: null,
      idleSince: null,
      timer: setInterval(() => void this.#tick(streamId, inbound), Math.min(1000, this.#o.config.MM_CLAIM_TTL_MS / 3)),
    };
    inbound.timer.unref();
    this.#in.set(streamId, inbound);
    pipe.once('close', () => {
      clearInterval(inbound.timer);
      if (this.#in.get(streamId) === inbound) this.#in.delete(streamId);
      if (inbound.claim) void this.#o.cluster.directory.release(inbound.claim).catch(() => false);
    });
  }

  /** Keep the region claim alive while the copy is used; let it go after the linger time. */
  async #tick(streamId: string, inbound: Inbound): Promise<void> {
    const now = Date.now();
    if (this.#o.localViewers(streamId) > 0 || this.#hasDownstream(streamId)) {
      inbound.idleSince = null;
    } else {
      inbound.idleSince ??= now;
      if (now - inbound.idleSince >= this.#o.config.MM_PIPE_LINGER_MS) {
        this.#log.info({ stream: streamId }, 'no viewers for the linger time: releasing the region copy');
        this.#dropInbound(streamId, inbound.pipe, 'linger expired');
        this.#o.media.stream(streamId)?.close();
        return;
      }
    }
    if (inbound.claim) {
      if (!(await this.#renew(streamId, inbound))) return;
      await this.#checkFeeds(streamId, inbound);
    }
  }

  /**
   * Renew the inbound's region lease (fenced by its token). Renewed every
   * ttl/3 at most 1 s apart, so a stall of up to ~ttl - 1 s keeps it; one
   * that lapsed with nobody taking it is taken again. One that another relay
   * holds now (we were stalled past the TTL, or declared dead) means that
   * relay pulls the region's copy from the ingest: we step down. False when
   * we stepped down. Redis errors are fine: media keeps flowing.
   */
  async #renew(streamId: string, inbound: Inbound): Promise<boolean> {
    const claim = inbound.claim;
    if (!claim) return true;
    const result = await this.#o.cluster.directory.renew(claim).catch(() => null);
    if (inbound.claim !== claim) return true; // replaced meanwhile (feed check, step-down)
    if (!result) return true;
    if (result.held) {
      inbound.claim = result.claim;
      return true;
    }
    if (result.winner === this.#self) {
      // A newer lease of our own (taken by a concurrent pull): adopt its token.
      const mine = await this.#o.cluster.directory
        .claimRegionCopy(streamId, claim.region, this.#self, claim.ttlMs)
        .catch(() => null);
      if (mine?.won) inbound.claim = mine.claim;
      return true;
    }
    this.#stepDown(streamId, inbound, result.winner);
    return false;
  }

  /**
   * Another relay holds the region's lease: stop pulling from the ingest (and
   * the backup ingest) and pull the stream from that relay instead. The
   * stream's router stays, so viewers here keep their sessions.
   */
  #stepDown(streamId: string, inbound: Inbound, holder: string): void {
    this.#log.warn(
      { stream: streamId, holder, upstream: inbound.upstream },
      'region lease held by another relay: stepping down, pulling from it',
    );
    inbound.claim = null; // not ours: the close handler must not release it
    this.#dropInbound(streamId, inbound.pipe, 'stepped down: another relay holds the region');
    const backup = this.#backup.get(streamId);
    if (backup) this.#dropInbound(streamId, backup, 'stepped down: another relay holds the region');
    if (this.#o.localViewers(streamId) > 0 || this.#hasDownstream(streamId)) {
      this.resolveStream(streamId).catch((err) =>
        this.#log.warn(
          { stream: streamId, err: String(err) },
          'could not pull from the region holder; viewers will rejoin',
        ),
      );
    }
  }

  /**
   * The region's holder keeps both ingest copies coming: the backup's next to
   * the primary's, and a fresh pipe from the primary ingest when its copy has
   * been silent for a while (its node died and came back, or moved). Which
   * copy viewers get is decided by media liveness in the stream's program,
   * never here; this only needs Redis to find the nodes.
   */
  async #checkFeeds(streamId: string, inbound: Inbound): Promise<void> {
    // One check at a time, never beside a pull, and only for the current inbound.
    if (this.#checking.has(streamId) || this.#pulling.has(streamId)) return;
    if (this.#in.get(streamId) !== inbound || inbound.pipe.closed) return;
    const stream = this.#o.media.stream(streamId);
    if (!stream) return;
    this.#checking.add(streamId);
    try {
      const copies = await this.#o.cluster.directory.getIngestCopies(streamId).catch(() => null);
      if (!copies) return;
      if (copies.backup) await this.#ensureBackup(streamId, stream, copies.backup, inbound.upstream);
      const sourceId = `pipe-${inbound.pipe.pipeId}`;
      // Without a backup copy a dead upstream is the registry sweep's business (it pulls again).
      const redundant = this.#backup.has(streamId);
      if (
        redundant &&
        copies.primary &&
        copies.primary !== this.#self &&
        !stream.program.sourceAlive(sourceId, REPULL_SILENT_MS)
      ) {
        this.#log.warn({ stream: streamId, from: copies.primary }, 'primary copy silent: pulling it again');
        const claim = inbound.claim;
        await this.#requestPipe(copies.primary, streamId, stream, 'primary');
        const fresh = this.#in.get(streamId);
        if (fresh && fresh !== inbound) {
          // The claim moves to the new pipe; the old one goes without releasing it.
          fresh.claim = claim;
          inbound.claim = null;
          this.#dropInbound(streamId, inbound.pipe, 'replaced by a fresh primary pipe');
        }
      }
    } catch (err) {
      this.#log.debug({ stream: streamId, err: (err as Error).message }, 'feed check failed');
    } finally {
      this.#checking.delete(streamId);
    }
  }

  /** Close one of our inbound pipes and tell its upstream (if it is still there) to let its end go too. */
  #dropInbound(streamId: string, pipe: PipeIn, reason: string): void {
    void this.#o.cluster.bus
      .request(pipe.upstream, 'pipe.close', { stream: streamId, pipeId: pipe.pipeId ?? '' }, PipeAck, {
        timeoutMs: 2000,
      })
      .catch(() => undefined);
    pipe.close(reason);
  }

  async #ensureBackup(streamId: string, stream: StreamRouter, node: string, primaryUpstream: string): Promise<void> {
    if (node === this.#self || node === primaryUpstream) return;
    const existing = this.#backup.get(streamId);
    if (existing && !existing.closed) {
      if (existing.upstream === node && stream.program.sourceAlive(`pipe-${existing.pipeId}`, REPULL_SILENT_MS)) return;
      this.#dropInbound(streamId, existing, 'backup copy replaced');
    }
    try {
      await this.#requestPipe(node, streamId, stream, 'backup');
      this.#log.info({ stream: streamId, upstream: node }, 'pulling the backup copy');
    } catch (err) {
      this.#log.warn({ stream: streamId, upstream: node, err: (err as Error).message }, 'backup copy unavailable');
    }
  }

  #trackBackup(streamId: string, pipe: PipeIn): void {
    this.#backup.set(streamId, pipe);
    pipe.once('close', () => {
      if (this.#backup.get(streamId) === pipe) this.#backup.delete(streamId);
    });
  }

  /** Record in the directory which ingest feeds the region now (Redis only records; media decided). */
  #watchSwitches(streamId: string, stream: StreamRouter): void {
    if (this.#watched.has(stream)) return;
    this.#watched.add(stream);
    stream.program.on('switched', (record: SwitchRecord) => {
      const pipes = [this.#in.get(streamId)?.pipe, this.#backup.get(streamId)].filter((p) => p !== undefined);
      const pipe = pipes.find((p) => `pipe-${p.pipeId}` === record.to);
      this.#log.warn({ stream: streamId, ...record, upstream: pipe?.upstream }, 'ingest copy switched');
      if (pipe) {
        void this.#o.cluster.directory.setIngest(streamId, pipe.upstream, { role: pipe.role }).catch(() => undefined);
      }
    });
  }

  #hasDownstream(streamId: string): boolean {
    for (const p of this.#out.values()) if (p.stream.stream === streamId) return true;
    return false;
  }

  async #openOut(req: PipeOpenRequest, from: string): Promise<PipeOpenResponse> {
    const stream = this.#o.media.stream(req.stream)?.live
      ? this.#o.media.stream(req.stream)
      : await this.resolveStream(req.stream);
    if (!stream?.live) throw new ClusterError('not_found', `stream "${req.stream}" is not live on ${this.#self}`);
    const pipe = await PipeOut.open(stream, this.#listen, req.offer as PipeAnswer, {
      nodeId: from,
      region: req.region,
    });
    const id = pipe.answer.pipeId;
    this.#out.set(id, pipe);
    pipe.once('close', (reason) => {
      this.#out.delete(id);
      this.#log.info({ stream: req.stream, to: from, reason }, 'pipe out closed');
      if (reason !== 'closed by downstream') {
        void this.#o.cluster.bus
          .request(from, 'pipe.closed', { stream: req.stream, pipeId: id }, PipeAck, { timeoutMs: 2000 })
          .catch(() => undefined);
      }
    });
    // Commentators who start or stop while the pipe is open: the downstream produces or closes them.
    pipe.on('commentary', (change) => {
      void this.#o.cluster.bus
        .request(from, 'pipe.commentary', { stream: req.stream, pipeId: id, ...change }, PipeAck, {
          timeoutMs: 2000,
        })
        .catch((err) =>
          this.#log.warn({ stream: req.stream, to: from, err: String(err) }, 'commentary change not delivered'),
        );
    });
    this.#log.info({ stream: req.stream, to: from, region: req.region }, 'pipe out opened');
    return pipe.answer as unknown as PipeOpenResponse;
  }

  #closeOut(pipeId: string, reason: string): Record<string, never> {
    this.#out.get(pipeId)?.close(reason);
    return {};
  }

  async #commentaryChanged(req: PipeCommentaryRequest): Promise<Record<string, never>> {
    const inbound = this.#in.get(req.stream);
    if (inbound && inbound.pipe.pipeId === req.pipeId) {
      await inbound.pipe.applyCommentary({
        added: req.added as unknown as PipeAnswer['producers'],
        removed: req.removed,
      });
    }
    return {};
  }

  /** Upstream tore its end down (its publisher left): drop our copy; viewers are told the stream ended. */
  #upstreamClosed(streamId: string, pipeId: string): Record<string, never> {
    const backup = this.#backup.get(streamId);
    if (backup && backup.pipeId === pipeId) {
      // Only the backup copy went: the program goes on from the primary's.
      backup.close('upstream closed');
      return {};
    }
    const inbound = this.#in.get(streamId);
    if (inbound && inbound.pipe.pipeId === pipeId) {
      inbound.pipe.close('upstream closed');
      // With a backup copy still coming, the stream lives on from it.
      if (!this.#backup.has(streamId)) this.#o.media.stream(streamId)?.close();
    }
    return {};
  }

  /**
   * Close pipes to nodes that left the registry and forget their claims. A
   * dead upstream (the region's holder, or the ingest) is replaced at once:
   * the stream's router stays, so viewers keep their sessions and only see
   * the program producers change (consumerClosed, then newProducers).
   */
  async #sweepDeadPeers(): Promise<void> {
    if (this.#out.size === 0 && this.#in.size === 0) return;
    const peers = new Set<string>();
    for (const p of this.#out.values()) peers.add(p.peer.nodeId);
    for (const i of this.#in.values()) peers.add(i.upstream);
    for (const b of this.#backup.values()) peers.add(b.upstream);
    let dead: Set<string>;
    try {
      // Not "missing from the registry": a late heartbeat is not a death (see PeerLiveness).
      dead = await this.#liveness.dead(peers);
    } catch {
      return; // Redis down: keep everything as it is.
    }
    const alive = { has: (id: string) => !dead.has(id) };
    for (const pipe of this.#out.values()) {
      if (!alive.has(pipe.peer.nodeId)) {
        pipe.close('peer node gone');
        await this.#o.cluster.directory.forgetNode(pipe.peer.nodeId).catch(() => undefined);
      }
    }
    for (const [stream, inbound] of this.#in) {
      if (alive.has(inbound.upstream)) continue;
      // The primary ingest died but its backup's copy feeds the program: keep
      // the inbound (its region claim, its feed checks, which pull the primary
      // again when it is back) and let media liveness carry on.
      const backup = this.#backup.get(stream);
      if (backup && !backup.closed && alive.has(backup.upstream)) continue;
      this.#log.warn({ stream, upstream: inbound.upstream }, 'upstream node gone: pulling the stream again');
      inbound.pipe.close('upstream node gone');
      await this.#o.cluster.directory.forgetNode(inbound.upstream).catch(() => undefined);
      if (this.#o.localViewers(stream) > 0 || this.#hasDownstream(stream)) {
        this.resolveStream(stream).catch((err) =>
          this.#log.warn({ stream, err: String(err) }, 'could not pull the stream again; viewers will rejoin'),
        );
      }
    }
  }
}
