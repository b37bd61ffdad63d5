import path from 'node:path';
import type { Logger, StreamRouter } from '@matchmesh/sfu';
import { HlsStream, type HlsStreamOptions } from './HlsStream.ts';

/** The node configuration's `hls` section. */
export interface HlsConfig extends Omit<HlsStreamOptions, 'dir'> {
  /** Parent folder; each stream packages into `<rootDir>/<stream>/`. */
  rootDir: string;
  lingerMs: number;
  /** Streams packaged from the moment they are live here, with no linger ('*' = all). */
  always: string[];
}

export interface HlsServiceOptions extends HlsConfig {
  /** The stream's router on this node, bringing the region's copy first on a relay; undefined when not live. */
  resolveStream(stream: string): Promise<StreamRouter | undefined>;
  log: Logger;
}

/**
 * The node's HLS packagers: one HlsStream per stream, started by the first
 * request (or at once for "always" streams) and stopped after the linger
 * with no request.
 */
export class HlsService {
  readonly #o: HlsServiceOptions;
  readonly #streams = new Map<string, HlsStream>();
  readonly #starting = new Map<string, Promise<HlsStream | undefined>>();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(o: HlsServiceOptions) {
    this.#o = o;
    this.#sweep = setInterval(() => this.#closeIdle(), Math.max(250, Math.min(5000, o.lingerMs / 4)));
    this.#sweep.unref();
  }

  isAlways(stream: string): boolean {
    return this.#o.always.includes('*') || this.#o.always.includes(stream);
  }

  /** Whether this node is packaging `stream` (it keeps the region's copy alive). */
  active(stream: string): boolean {
    return this.#streams.has(stream);
  }

  get streams(): ReadonlyMap<string, HlsStream> {
    return this.#streams;
  }

  /** The packager for a stream, started if needed; undefined when the stream is not live here. */
  async get(stream: string): Promise<HlsStream | undefined> {
    const existing = this.#streams.get(stream);
    if (existing && !existing.closed) {
      existing.lastRequestAt = Date.now();
      return existing;
    }
    let pending = this.#starting.get(stream);
    if (!pending) {
      pending = this.#start(stream);
      this.#starting.set(stream, pending);
      // The caller awaits `pending` and sees its rejection; this branch only tidies the map.
      pending.finally(() => this.#starting.delete(stream)).catch(() => {});
    }
    return pending;
  }

  /** A stream went live on this node: package it now if it is an "always" stream. */
  published(stream: string): void {
    // Safe to drop: #start logs a packager that fails to start; the next request tries again.
    if (this.isAlways(stream)) void this.get(stream).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    await Promise.all([...this.#streams.values()].map((s) => s.close()));
    this.#streams.clear();
  }

  async #start(streamId: string): Promise<HlsStream | undefined> {
    if (this.#closed) return undefined;
    const router = await this.#o.resolveStream(streamId);
    if (!router?.live || router.closed) return undefined;
    const hls = new HlsStream(
      router,
      { ...this.#o, dir: path.join(this.#o.rootDir, streamId) },
      this.#o.log.child?.({ stream: streamId, area: 'hls' }) ?? this.#o.log,
    );
    this.#streams.set(streamId, hls);
    hls.once('close', () => {
      if (this.#streams.get(streamId) === hls) this.#streams.delete(streamId);
    });
    try {
      await hls.start();
    } catch (err) {
      this.#o.log.warn({ err, stream: streamId }, 'HLS packaging failed to start');
      await hls.close();
      throw err;
    }
    this.#o.log.info({ stream: streamId }, 'HLS packaging started');
    return hls;
  }

  #closeIdle(): void {
    const now = Date.now();
    for (const [id, hls] of this.#streams) {
      if (this.isAlways(id)) continue;
      if (now - hls.lastRequestAt > this.#o.lingerMs) {
        this.#o.log.info({ stream: id }, 'HLS packaging stopped (no request within the linger)');
        void hls.close();
      }
    }
  }
}
