import type { RegionClaim } from '@matchmesh/cluster';
import type { MeshConfig } from './config.ts';
import type { InboundPipe, Logger, MeshDirectory } from './ports.ts';

export interface RegionCopyDeps {
  config: Pick<MeshConfig, 'nodeId' | 'claimTtlMs' | 'lingerMs'>;
  directory: MeshDirectory;
  log: Logger;
  /** Viewers here, or a downstream pipe, use the stream: the copy must stay. */
  inUse(stream: string): boolean;
  /** Close our end of `pipe` and tell its upstream (PipeBroker.release). */
  release(stream: string, pipe: InboundPipe, reason: string): void;
  /** Close the stream's router here (its viewers are told it ended). */
  closeStream(stream: string): void;
  /** Drop the stream's backup copy and the dual path's second copy, if any (FeedGuard, DualPath). */
  dropBackup(stream: string, reason: string): void;
  /** The holder's periodic check of both ingest copies (FeedGuard). */
  checkFeeds(copy: RegionCopy): Promise<void>;
  /** Pull the stream again (Mesh.resolveStream); `failure` is logged if that fails. */
  repull(stream: string, failure: string): void;
  /** The copy's pipe closed: forget it if it is still the stream's current one. */
  forget(copy: RegionCopy): void;
  /** UDP from `upstream` is blocked: pipes from it go over the TCP tunnel (MeshMedia.pathBlocked); absent: no tunnel. */
  pathBlocked?(upstream: string): void;
}

/** A UDP pipe that has carried no media this long after it connected has a blocked path. */
export const UDP_SILENT_MS = 3000;

/**
 * One primary inbound pipe of a stream and, when this node is its region's
 * holder, the region lease that goes with it: renewed while the copy is used
 * (fenced by its token), let go after the linger time, released when the pipe
 * closes, taken again when it lapsed, handed over to a fresh pipe, and given
 * up (step down) when another relay holds it now. Media never waits on any of
 * this: a Redis error leaves everything as it is.
 */
export class RegionCopy {
  readonly stream: string;
  readonly pipe: InboundPipe;
  readonly upstream: string;
  /** Our region lease (null: we pull from the region's holder, or gave the lease away). */
  claim: RegionClaim | null = null;
  readonly #d: RegionCopyDeps;
  readonly #timer: NodeJS.Timeout;
  #idleSince: number | null = null;
  /** Media seen on the pipe (or it is not a UDP pipe that could be blocked): no more path checks. */
  #pathKnown: boolean;

  constructor(deps: RegionCopyDeps, stream: string, pipe: InboundPipe) {
    this.#d = deps;
    this.stream = stream;
    this.pipe = pipe;
    this.upstream = pipe.upstream;
    this.#pathKnown = pipe.path !== 'udp' || !deps.pathBlocked;
    // Renewed every ttl/3, at most 1 s apart: a stall of up to ~ttl - 1 s keeps the lease.
    this.#timer = setInterval(() => void this.tick(), Math.min(1000, deps.config.claimTtlMs / 3));
    this.#timer.unref();
    pipe.once('close', () => {
      clearInterval(this.#timer);
      deps.forget(this);
      const claim = this.claim;
      if (claim) {
        void deps.directory.release(claim).catch((err) =>
          // The lease lapses by its TTL anyway; the region's next puller takes it then.
          deps.log.debug({ stream, err: String(err) }, 'region lease not released'),
        );
      }
    });
  }

  /** Keep the region lease alive while the copy is used; let it go after the linger time. */
  async tick(): Promise<void> {
    const now = Date.now();
    if (!this.#pathKnown && !(await this.#checkPath(now))) return;
    if (this.#d.inUse(this.stream)) {
      this.#idleSince = null;
    } else {
      this.#idleSince ??= now;
      if (now - this.#idleSince >= this.#d.config.lingerMs) {
        this.#d.log.info({ stream: this.stream }, 'no viewers for the linger time: releasing the region copy');
        this.drop('linger expired');
        // The backup's and the dual path's second copy go too, their upstreams told (closing the router
        // alone would leave their ends open there, keeping those copies "in use").
        this.#d.dropBackup(this.stream, 'linger expired');
        this.#d.closeStream(this.stream);
        return;
      }
    }
    if (this.claim) {
      if (!(await this.renew())) return;
      await this.#d.checkFeeds(this);
    }
  }

  /**
   * Renew the lease (fenced by its token). One that lapsed with nobody
   * taking it is taken again. One that another relay holds now (we were
   * stalled past the TTL, or declared dead) means that relay pulls the
   * region's copy from the ingest: we step down. False when we stepped down.
   */
  async renew(): Promise<boolean> {
    const { directory, config, log } = this.#d;
    const claim = this.claim;
    if (!claim) return true;
    const result = await directory.renew(claim).catch((err) => {
      // Redis errors are fine: media keeps flowing, and the next tick renews.
      log.debug({ stream: this.stream, err: String(err) }, 'region lease not renewed');
      return null;
    });
    if (this.claim !== claim) return true; // replaced meanwhile (feed check, step-down)
    if (!result) return true;
    if (result.held) {
      this.claim = result.claim;
      return true;
    }
    if (result.winner === config.nodeId) {
      // A newer lease of our own (taken by a concurrent pull): adopt its token.
      const mine = await directory
        .claimRegionCopy(this.stream, claim.region, config.nodeId, claim.ttlMs)
        .catch((err) => {
          // Still ours in Redis; the next tick tries again.
          log.debug({ stream: this.stream, err: String(err) }, 'own newer lease not adopted');
          return null;
        });
      if (mine?.won) this.claim = mine.claim;
      return true;
    }
    this.stepDown(result.winner);
    return false;
  }

  /**
   * Another relay holds the region's lease: stop pulling from the ingest (and
   * the backup ingest) and pull the stream from that relay instead. The
   * stream's router stays, so viewers here keep their sessions.
   */
  stepDown(holder: string): void {
    const reason = 'stepped down: another relay holds the region';
    this.#d.log.warn(
      { stream: this.stream, holder, upstream: this.upstream },
      'region lease held by another relay: stepping down, pulling from it',
    );
    this.claim = null; // not ours: the close handler must not release it
    this.drop(reason);
    this.#d.dropBackup(this.stream, reason);
    if (this.#d.inUse(this.stream)) {
      this.#d.repull(this.stream, 'could not pull from the region holder; viewers will rejoin');
    }
  }

  /** A fresh pipe replaces this one: the lease moves to it, and this pipe goes without releasing it. */
  handOver(fresh: RegionCopy, claim: RegionClaim | null): void {
    fresh.claim = claim;
    this.claim = null;
    this.drop('replaced by a fresh primary pipe');
  }

  /**
   * A UDP pipe that received nothing at all for UDP_SILENT_MS — no media, no
   * RTCP, not even its SCTP association's handshake (a firewall between the
   * regions drops UDP; the pipe's setup went over Redis, which works) — is
   * replaced by one through the TCP tunnel. False when it was. (A stream with
   * no media for a while still answers SCTP: not taken for a blocked path.)
   */
  async #checkPath(now: number): Promise<boolean> {
    const received = await this.pipe.bytesReceived().catch(() => 0);
    if (received > 0) {
      this.#pathKnown = true;
      return true;
    }
    if (now - this.pipe.openedAt < UDP_SILENT_MS || this.pipe.closed) return true;
    this.#pathKnown = true;
    this.#d.log.warn(
      { stream: this.stream, upstream: this.upstream },
      `no media over the UDP pipe in ${UDP_SILENT_MS} ms: UDP is blocked, pulling again over TCP`,
    );
    this.#d.pathBlocked?.(this.upstream);
    this.drop('no media over UDP');
    if (this.#d.inUse(this.stream)) this.#d.repull(this.stream, 'could not pull the stream over TCP either');
    return false;
  }

  /** Close the pipe and tell its upstream to let its end go. */
  drop(reason: string): void {
    this.#d.release(this.stream, this.pipe, reason);
  }
}
