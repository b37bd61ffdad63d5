import type { MeshConfig } from './config.ts';
import type { InboundPipe, Logger, MeshPeer, MeshPeers, MeshStream, PipeEntry } from './ports.ts';
import { inboundEntry } from './ports.ts';
import type { RegionCopy } from './region-copy.ts';

/** The merged program source both paths of a dual-path copy feed (PipeIn mergeGroup). */
export const DUAL_PATH_GROUP = 'dual-path';

/** A second path silent this long (while its stream is fed) is pulled again, from another relay if there is one. */
export const DUAL_REPULL_SILENT_MS = 3000;

export interface DualPathDeps {
  config: Pick<MeshConfig, 'nodeId' | 'region'>;
  peers: MeshPeers;
  log: Logger;
  /** Ask `upstream` for a pipe of the stream as a path of the merged primary source (PipeBroker.open). */
  open(upstream: string, streamId: string, stream: MeshStream): Promise<InboundPipe>;
  /** Close our end of `pipe` and tell its upstream (PipeBroker.release). */
  release(stream: string, pipe: InboundPipe, reason: string): void;
  /** The stream's router here. */
  stream(id: string): MeshStream | undefined;
}

/**
 * Pick the second path's upstream: a relay of another region than ours, not
 * the first path's node, not draining. Preferred, in order: a relay of the
 * first upstream's region (`nearRegion`: one short hop from the ingest, so the
 * second copy's only long haul is its own, not a far region's already-damaged
 * copy), the holder of its region's copy (that copy exists anyway: no extra
 * copy on the ingest's links), then the lowest id (stable: every check picks
 * the same one while it lives).
 */
export function pickSecondUpstream(
  peers: MeshPeer[],
  o: {
    self: string;
    region: string;
    exclude: readonly string[];
    holders: ReadonlySet<string>;
    nearRegion?: string | undefined;
  },
): string | undefined {
  const near = (p: MeshPeer) => Number(p.region === o.nearRegion);
  const held = (p: MeshPeer) => Number(o.holders.has(p.id));
  const candidates = peers
    .filter((p) => p.roles.includes('relay') && !p.draining && p.id !== o.self && p.region !== o.region)
    .filter((p) => !o.exclude.includes(p.id))
    .sort((a, b) => near(b) - near(a) || held(b) - held(a) || a.id.localeCompare(b.id));
  return candidates[0]?.id;
}

/**
 * The dual path of a critical region (issue 15): its holder receives each
 * stream twice — the region copy from the ingest, and a second copy from a
 * relay of another region (direct, and through that region's relay) — and the
 * two are merged packet by packet in the stream's program (the first copy of
 * each packet wins). This object keeps the second copy coming: pulled when the
 * holder takes the copy, pulled again (from another relay if one exists) when
 * it closed or fell silent, dropped when the holder lets the copy go. A path
 * coming or going never touches viewers: both feed one program source.
 */
export class DualPath {
  readonly #d: DualPathDeps;
  readonly #second = new Map<string, InboundPipe>();
  readonly #checking = new Set<string>();

  constructor(deps: DualPathDeps) {
    this.#d = deps;
  }

  second(stream: string): InboundPipe | undefined {
    return this.#second.get(stream);
  }

  seconds(): IterableIterator<InboundPipe> {
    return this.#second.values();
  }

  /**
   * The holder's periodic check (and its first pull): a second path present,
   * open and delivering; otherwise pull one.
   */
  async ensure(copy: RegionCopy, stream: MeshStream): Promise<void> {
    const streamId = copy.stream;
    if (this.#checking.has(streamId) || copy.pipe.closed) return;
    this.#checking.add(streamId);
    try {
      const current = this.#second.get(streamId);
      let avoid: string | undefined;
      if (current && !current.closed) {
        const silent = !stream.program.sourceAlive(pathIdOf(current), DUAL_REPULL_SILENT_MS);
        // A silent second path while the program is fed (the first path delivers): its path is gone.
        if (!silent || !stream.program.fed) return;
        this.#d.log.warn(
          { stream: streamId, upstream: current.upstream },
          'dual path: the second copy is silent, pulling it again',
        );
        avoid = current.upstream;
        this.#d.release(streamId, current, 'dual path silent');
      }
      const upstream = await this.#pick(streamId, [copy.upstream], avoid);
      if (!upstream) {
        this.#d.log.warn({ stream: streamId }, 'dual path: no relay of another region to take the second copy from');
        return;
      }
      const pipe = await this.#d.open(upstream, streamId, stream);
      if (copy.pipe.closed || this.#d.stream(streamId) !== stream) {
        this.#d.release(streamId, pipe, 'region copy gone meanwhile');
        return;
      }
      this.#track(streamId, pipe);
      this.#d.log.info({ stream: streamId, upstream, first: copy.upstream }, 'dual path: second copy pulled');
    } catch (err) {
      this.#d.log.warn({ stream: streamId, err: (err as Error).message }, 'dual path: second copy unavailable');
    } finally {
      this.#checking.delete(streamId);
    }
  }

  /** Let the second copy go (the holder released or gave up the region copy), telling its upstream. */
  drop(stream: string, reason: string): void {
    const pipe = this.#second.get(stream);
    if (pipe) this.#d.release(stream, pipe, reason);
  }

  /** The upstream ended pipe `pipeId`: if it is a second path, it closes (the next check pulls another). */
  upstreamEnded(stream: string, pipeId: string): boolean {
    const pipe = this.#second.get(stream);
    if (!pipe || pipe.pipeId !== pipeId) return false;
    pipe.close('upstream closed');
    return true;
  }

  pipeEntries(): PipeEntry[] {
    return [...this.#second.entries()].map(([stream, pipe]) => inboundEntry(stream, pipe));
  }

  close(reason: string): void {
    for (const pipe of this.#second.values()) pipe.close(reason);
  }

  async #pick(stream: string, exclude: string[], avoid: string | undefined): Promise<string | undefined> {
    const { peers, config } = this.#d;
    const nodes = await peers.list();
    const regions = [...new Set(nodes.map((n) => n.region).filter((r) => r !== config.region))];
    const holders = new Set<string>();
    await Promise.all(
      regions.map(async (r) => {
        const h = await peers.regionHolder(stream, r).catch(() => null);
        if (h) holders.add(h);
      }),
    );
    const nearRegion = nodes.find((n) => n.id === exclude[0])?.region;
    const o = { self: config.nodeId, region: config.region, holders, nearRegion };
    // The first path's node is never the second's; the silent one only when nothing else is left.
    const withoutSilent = avoid ? pickSecondUpstream(nodes, { ...o, exclude: [...exclude, avoid] }) : undefined;
    return withoutSilent ?? pickSecondUpstream(nodes, { ...o, exclude });
  }

  #track(stream: string, pipe: InboundPipe): void {
    this.#second.set(stream, pipe);
    pipe.once('close', () => {
      if (this.#second.get(stream) === pipe) this.#second.delete(stream);
    });
  }
}

/** The id a pipe's producers feed the merged source under (PipeIn.pathId). */
export const pathIdOf = (pipe: InboundPipe): string => `pipe-${pipe.pipeId}`;
