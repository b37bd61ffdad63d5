import type { Logger, StreamRouter } from '@matchmesh/sfu';

/** Streams this node holds (MediaService). */
export interface LocalStreams {
  stream(id: string): StreamRouter | undefined;
}

/** The mesh: brings the region's copy of a stream to this node (undefined when nobody publishes it). */
export interface RegionCopies {
  resolveStream(id: string): Promise<StreamRouter | undefined>;
}

/**
 * Where every consumer on this node (signaling viewers, WHEP, HLS) gets a
 * stream's router from: the local one, or the region's copy pulled through
 * the mesh first.
 */
export class StreamResolver {
  readonly #local: LocalStreams;
  readonly #mesh: RegionCopies;
  readonly #relay: boolean;
  readonly #log: Logger;
  readonly #held: (stream: string) => void;

  /** `held(stream)`: the stream is live here now (a region copy arrived or was there): e.g. start recording it. */
  constructor(
    local: LocalStreams,
    mesh: RegionCopies,
    o: { relay: boolean; log: Logger; held?: (stream: string) => void },
  ) {
    this.#local = local;
    this.#mesh = mesh;
    this.#relay = o.relay;
    this.#log = o.log;
    this.#held = o.held ?? (() => undefined);
  }

  /**
   * For a signaling join: through the mesh; a failure to pull rejects (the
   * peer is told to retry). `log` (the session's) records the cluster work
   * the join caused: a region copy claimed and piped here for it.
   */
  async resolve(stream: string, log?: Logger): Promise<StreamRouter | undefined> {
    const wasLive = this.#local.stream(stream)?.live === true;
    const started = Date.now();
    const router = this.#tell(await this.#mesh.resolveStream(stream));
    if (!wasLive && router?.live && log) {
      log.info({ stream, tookMs: Date.now() - started }, 'region copy brought through the mesh for this session');
    }
    return router;
  }

  #tell(router: StreamRouter | undefined): StreamRouter | undefined {
    if (router?.live) this.#held(router.stream);
    return router;
  }

  /**
   * For WHEP and HLS: a relay brings the region's copy first and, if that
   * fails, serves what it has; an ingest serves only its own streams.
   */
  async bestEffort(stream: string): Promise<StreamRouter | undefined> {
    if (!this.#relay) return this.#local.stream(stream);
    try {
      return this.#tell(await this.#mesh.resolveStream(stream));
    } catch (err) {
      this.#log.warn({ err, stream }, 'could not bring the region copy; serving what this node holds');
      return this.#local.stream(stream);
    }
  }
}
