import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { trackWebRtcTransports } from './closeRouter.ts';
import { EgressMeter } from './EgressMeter.ts';
import type { Logger } from './logger.ts';
import { silentLogger } from './logger.ts';
import { MediaCensus } from './MediaCensus.ts';
import { type PipeRtxMaxAge, pipeRtxWorkerEnv, withWorkerEnv } from './pipeRtxAge.ts';

/** mediasoup's worker log tags (re-exported so callers configure them without importing mediasoup). */
export type WorkerLogTag = types.WorkerLogTag;

export interface WorkerPoolOptions {
  /** How many workers; one per core is the sweet spot (each is single-threaded). */
  size: number;
  /** IP the WebRtcServers listen on. */
  listenIp: string;
  /** Address announced in ICE candidates (public IP or hostname); defaults to listenIp. */
  announcedAddress?: string;
  /**
   * First port of the WebRtcServers: worker i listens on UDP and TCP port
   * `basePort + i`. One port per worker keeps firewalls simple (and is what
   * ICE-TCP needs for viewers behind UDP-blocking networks).
   */
  basePort: number;
  /** Port range for the other transports (pipes, plain transports). */
  rtcMinPort: number;
  rtcMaxPort: number;
  /**
   * SO_RCVBUF / SO_SNDBUF of the WebRtcServers' UDP and TCP sockets (bytes;
   * the kernel caps it at net.core.rmem_max / wmem_max). One UDP socket
   * carries every viewer of a worker, and Linux's default receive buffer
   * (~208 KiB) overflows on a burst of RTCP and a key frame's packets: see
   * DEFAULT_SOCKET_BUFFER_BYTES.
   */
  socketBufferBytes?: number;
  /**
   * Viewers one worker serves before the node refuses more (0: no limit).
   * The default comes from the bench's measured saturation of one worker.
   */
  viewersPerWorker?: number;
  logLevel?: types.WorkerLogLevel;
  /** mediasoup log tags (e.g. ['dtls', 'ice']) for debugging. */
  logTags?: types.WorkerLogTag[];
  logger?: Logger;
  /** Pipe consumers skip retransmitting packets older than this (pipeRtxAge.ts); absent: mediasoup's behaviour. */
  pipeRtxMaxAge?: PipeRtxMaxAge;
}

export interface PooledWorker {
  index: number;
  worker: types.Worker;
  webRtcServer: types.WebRtcServer;
  /** Routers currently living in this worker (for least-loaded placement). */
  routers: Set<types.Router>;
  /** Viewers (and commentators) seated on this worker: what its capacity counts. */
  viewers: number;
  /** Worker CPU over the last sample period, as a fraction of one core (0..1). */
  cpu: number;
}

/** One worker's load as the heartbeat, metrics and ops report it. */
export interface WorkerLoad {
  index: number;
  /** The worker process (ops, and tests that kill one). */
  pid: number;
  viewers: number;
  /** Viewers this worker takes before the node refuses (0: no limit). */
  capacity: number;
  /** Worker CPU over the last sample, fraction of one core (0..1). */
  cpu: number;
}

interface WorkerPoolEvents {
  /** A worker died; its routers (and everything in them) are gone. */
  workerdied: [index: number, error: Error];
  /** A replacement worker is up at the same index and ports. */
  workerrespawned: [index: number];
}

/**
 * The node's mediasoup workers. Owns their lifecycle: creation, a WebRtcServer
 * each, respawn after a crash (at the same index so the same ports come back),
 * and closing. Knows nothing of streams or viewers.
 */
export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  /** Live mediasoup objects across all workers (leak checks, metrics). */
  readonly census = new MediaCensus();
  /** Bytes the workers send (viewers, pipes), sampled with the CPU. */
  readonly egress = new EgressMeter();
  readonly #options: WorkerPoolOptions;
  readonly #log: Logger;
  readonly #workers: (PooledWorker | undefined)[] = [];
  /** Workers being respawned after a crash, by index: their seats are about to exist. */
  readonly #respawning = new Map<number, Promise<void>>();
  #closed = false;
  #cpuSample = { at: Date.now(), seconds: new Map<PooledWorker, number>() };
  #cpuRatio = 0;
  #cpuTimer: NodeJS.Timeout | undefined;

  private constructor(options: WorkerPoolOptions) {
    super();
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
  }

  static async create(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    for (let i = 0; i < options.size; i++) {
      await pool.#spawn(i);
    }
    pool.#cpuTimer = setInterval(() => void pool.#sampleCpu(), 2000).unref();
    return pool;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get workers(): PooledWorker[] {
    return this.#workers.filter((w): w is PooledWorker => w !== undefined);
  }

  /** The live worker with the fewest routers. */
  leastLoaded(): PooledWorker {
    let best: PooledWorker | undefined;
    for (const w of this.workers) {
      if (!best || w.routers.size < best.routers.size) best = w;
    }
    if (!best) throw new Error('no live mediasoup worker');
    return best;
  }

  /** Create a router on the least-loaded worker and track it there. */
  async createRouter(
    mediaCodecs: types.RouterRtpCodecCapability[],
    appData: types.AppData = {},
  ): Promise<{ router: types.Router; pooled: PooledWorker }> {
    const pooled = this.leastLoaded();
    return { router: await createRouterOn(pooled, mediaCodecs, appData), pooled };
  }

  /** Viewers one worker takes (0: no limit). */
  get viewersPerWorker(): number {
    return this.#options.viewersPerWorker ?? 0;
  }

  /** True while some live worker has room for one more viewer, or a crashed one is coming back (empty). */
  hasRoom(): boolean {
    return this.#respawning.size > 0 || this.workers.some((w) => this.#hasRoom(w));
  }

  /**
   * Resolves when a crashed worker being respawned is back (or `timeoutMs`
   * passed); at once when none is. A join that found every live worker full
   * waits here: the dead worker's viewers are rejoining this very moment, and
   * refusing them would send them into a retry backoff for want of a seat
   * that exists a few hundred ms later.
   */
  async whenRespawned(timeoutMs = 3000): Promise<void> {
    if (this.#respawning.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.any([...this.#respawning.values()]).catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * The worker a new viewer goes to: the fewest seated viewers among those
   * with room, `preferred` (the stream's source worker, where no pipe is
   * needed) winning a tie. Undefined when every worker is full.
   */
  workerForViewer(preferred?: PooledWorker): PooledWorker | undefined {
    let best: PooledWorker | undefined;
    for (const w of this.workers) {
      if (!this.#hasRoom(w)) continue;
      if (!best || w.viewers < best.viewers || (w.viewers === best.viewers && w === preferred)) best = w;
    }
    return best;
  }

  workerLoads(): WorkerLoad[] {
    return this.workers.map((w) => ({
      index: w.index,
      pid: w.worker.pid,
      viewers: w.viewers,
      capacity: this.viewersPerWorker,
      cpu: w.cpu,
    }));
  }

  /** The pooled worker that hosts `router`. */
  workerOf(router: types.Router): PooledWorker | undefined {
    return this.workers.find((w) => w.routers.has(router));
  }

  /** Sum of worker CPU seconds (user + system), for load reports. */
  async cpuSeconds(): Promise<number> {
    let total = 0;
    for (const seconds of (await this.workerCpuSeconds()).values()) total += seconds;
    return total;
  }

  /**
   * CPU seconds (user + system) of each live worker since it started (load
   * sampling, the per-worker metric, the bench). A worker that dies while
   * asked is left out: its figure went with it.
   */
  async workerCpuSeconds(): Promise<Map<PooledWorker, number>> {
    const read = await Promise.all(
      this.workers.map(async (w) => {
        try {
          const usage = await w.worker.getResourceUsage();
          return [w, (usage.ru_utime + usage.ru_stime) / 1000] as const;
        } catch {
          return null;
        }
      }),
    );
    return new Map(read.filter((r) => r !== null));
  }

  #hasRoom(w: PooledWorker): boolean {
    const cap = this.viewersPerWorker;
    return cap <= 0 || w.viewers < cap;
  }

  /** Worker CPU over the last sample period, as a fraction of the pool's cores (0..1). */
  get lastCpuRatio(): number {
    return this.#cpuRatio;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#cpuTimer);
    for (const w of this.workers) w.worker.close();
    this.#workers.length = 0;
  }

  async #sampleCpu(): Promise<void> {
    await this.egress.sample();
    // A worker that died mid-sample is simply absent (workerCpuSeconds leaves it out).
    const seconds = await this.workerCpuSeconds();
    const at = Date.now();
    const elapsed = (at - this.#cpuSample.at) / 1000;
    if (elapsed > 0) {
      let used = 0;
      for (const [w, s] of seconds) {
        // A worker first seen in this sample (new or respawned) has no previous figure yet.
        const before = this.#cpuSample.seconds.get(w);
        const delta = before === undefined ? 0 : Math.max(0, s - before);
        w.cpu = Math.min(1, delta / elapsed);
        used += delta;
      }
      this.#cpuRatio = Math.min(1, used / elapsed / Math.max(1, this.workers.length));
    }
    this.#cpuSample = { at, seconds };
  }

  async #spawn(index: number): Promise<void> {
    const o = this.#options;
    // The worker inherits process.env when spawned: the bound's variables are set just for that.
    const worker = await withWorkerEnv(pipeRtxWorkerEnv(o.pipeRtxMaxAge), () =>
      mediasoup.createWorker({
        logLevel: o.logLevel ?? 'warn',
        logTags: o.logTags,
        rtcMinPort: o.rtcMinPort,
        rtcMaxPort: o.rtcMaxPort,
        appData: { index },
      }),
    );
    this.census.watchWorker(worker);
    this.egress.watchWorker(worker);
    trackWebRtcTransports(worker);
    const port = o.basePort + index;
    const announced = o.announcedAddress && o.announcedAddress !== o.listenIp ? o.announcedAddress : undefined;
    const buffers = socketBuffers(o.socketBufferBytes);
    const webRtcServer = await worker.createWebRtcServer({
      listenInfos: [
        { protocol: 'udp', ip: o.listenIp, announcedAddress: announced, port, ...buffers },
        { protocol: 'tcp', ip: o.listenIp, announcedAddress: announced, port, ...buffers },
      ],
    });
    const pooled: PooledWorker = { index, worker, webRtcServer, routers: new Set(), viewers: 0, cpu: 0 };
    this.#workers[index] = pooled;
    this.#log.info({ index, pid: worker.pid, port }, 'mediasoup worker up');

    worker.on('died', (error) => {
      this.#workers[index] = undefined;
      this.#log.error({ index, pid: worker.pid, err: error }, 'mediasoup worker died');
      this.emit('workerdied', index, error);
      if (this.#closed) return;
      // Respawn at the same index so the same WebRtcServer port comes back;
      // viewers reconnecting to the node find it where they left it.
      const respawn = this.#spawn(index);
      this.#respawning.set(index, respawn);
      respawn
        .finally(() => this.#respawning.delete(index))
        .then(
          () => this.emit('workerrespawned', index),
          (err) => this.#log.error({ index, err }, 'mediasoup worker respawn failed'),
        );
    });
  }
}

/** Create a router on one given worker and track it there (fan-out routers pick their worker). */
export async function createRouterOn(
  pooled: PooledWorker,
  mediaCodecs: types.RouterRtpCodecCapability[],
  appData: types.AppData = {},
): Promise<types.Router> {
  const router = await pooled.worker.createRouter({ mediaCodecs, appData });
  pooled.routers.add(router);
  router.observer.once('close', () => pooled.routers.delete(router));
  return router;
}

/**
 * Socket buffers the project asks for by default: 4 MiB holds ~2,800 full
 * RTP packets, i.e. a 1.5 Mbit/s key frame burst plus the RTCP of hundreds of
 * viewers arriving while the worker is busy sending. Measured (bench fan-out):
 * with the kernel default, loss starts at 100 viewers from receive-buffer
 * drops alone, at 18 % worker CPU.
 */
export const DEFAULT_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/** mediasoup listenInfo fields for a socket buffer size (0: leave the kernel default). */
export function socketBuffers(bytes = DEFAULT_SOCKET_BUFFER_BYTES): {
  recvBufferSize?: number;
  sendBufferSize?: number;
} {
  return bytes > 0 ? { recvBufferSize: bytes, sendBufferSize: bytes } : {};
}
