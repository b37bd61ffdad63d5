import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { trackWebRtcTransports } from './closeRouter.ts';
import type { Logger } from './logger.ts';
import { silentLogger } from './logger.ts';
import { EgressMeter } from './EgressMeter.ts';
import { MediaCensus } from './MediaCensus.ts';

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
  logLevel?: types.WorkerLogLevel;
  /** mediasoup log tags (e.g. ['dtls', 'ice']) for debugging. */
  logTags?: types.WorkerLogTag[];
  logger?: Logger;
  /**
   * Viewers one worker takes (MM_CAPACITY_VIEWERS_PER_WORKER), reported as
   * each worker's `capacity` by workerLoads(). 0 when not given: a stand-in
   * until the node's admission passes it.
   */
  viewersPerWorker?: number;
}

/** One worker's load (NodeRecord.load.workers has the same shape). */
export interface WorkerLoad {
  index: number;
  /** Viewers whose media this worker sends: video consumers on its WebRtcTransports (signaling peers, WHEP players). */
  viewers: number;
  capacity: number;
  /** worker CPU over the last sample, fraction of one core (0..1) */
  cpu: number;
}

export interface PooledWorker {
  index: number;
  worker: types.Worker;
  webRtcServer: types.WebRtcServer;
  /** Routers currently living in this worker (for least-loaded placement). */
  routers: Set<types.Router>;
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
  #closed = false;
  #cpuSample = { at: Date.now(), seconds: 0 };
  #cpuRatio = 0;
  /** Per worker index: CPU seconds at the last sample, CPU over the last sample period, viewers now. */
  readonly #perWorker = new Map<number, { seconds: number; cpu: number; viewers: number }>();
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
    const router = await pooled.worker.createRouter({ mediaCodecs, appData });
    pooled.routers.add(router);
    router.observer.once('close', () => pooled.routers.delete(router));
    return { router, pooled };
  }

  /** The pooled worker that hosts `router`. */
  workerOf(router: types.Router): PooledWorker | undefined {
    return this.workers.find((w) => w.routers.has(router));
  }

  /** Sum of worker CPU seconds (user + system), for load reports. */
  async cpuSeconds(): Promise<number> {
    let total = 0;
    for (const w of this.workers) {
      const usage = await w.worker.getResourceUsage();
      total += (usage.ru_utime + usage.ru_stime) / 1000;
    }
    return total;
  }

  /** Worker CPU over the last sample period, as a fraction of the pool's cores (0..1). */
  get lastCpuRatio(): number {
    return this.#cpuRatio;
  }

  /** Per live worker: viewers it sends to, its capacity, its CPU over the last sample (fraction of one core). */
  workerLoads(): WorkerLoad[] {
    return this.workers.map((w) => {
      const m = this.#perWorker.get(w.index);
      return {
        index: w.index,
        viewers: m?.viewers ?? 0,
        capacity: this.#options.viewersPerWorker ?? 0,
        cpu: m?.cpu ?? 0,
      };
    });
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
    try {
      const perWorker = await Promise.all(
        this.workers.map(async (w) => {
          const usage = await w.worker.getResourceUsage();
          return { index: w.index, seconds: (usage.ru_utime + usage.ru_stime) / 1000 };
        }),
      );
      const seconds = perWorker.reduce((t, w) => t + w.seconds, 0);
      const at = Date.now();
      const elapsed = (at - this.#cpuSample.at) / 1000;
      if (elapsed > 0) {
        const used = Math.max(0, seconds - this.#cpuSample.seconds);
        this.#cpuRatio = Math.min(1, used / elapsed / Math.max(1, this.workers.length));
        for (const w of perWorker) {
          const m = this.#perWorker.get(w.index);
          if (!m) continue;
          m.cpu = Math.min(1, Math.max(0, w.seconds - m.seconds) / elapsed);
          m.seconds = w.seconds;
        }
      }
      this.#cpuSample = { at, seconds };
    } catch {
      // A worker died mid-sample; the next sample will be right again.
    }
  }

  async #spawn(index: number): Promise<void> {
    const o = this.#options;
    const worker = await mediasoup.createWorker({
      logLevel: o.logLevel ?? 'warn',
      logTags: o.logTags,
      rtcMinPort: o.rtcMinPort,
      rtcMaxPort: o.rtcMaxPort,
      appData: { index },
    });
    this.census.watchWorker(worker);
    this.egress.watchWorker(worker);
    trackWebRtcTransports(worker);
    const own = { seconds: 0, cpu: 0, viewers: 0 };
    this.#perWorker.set(index, own);
    worker.observer.on('newrouter', (router) => {
      router.observer.on('newtransport', (transport) => {
        if (transport.type !== 'webrtc') return;
        transport.observer.on('newconsumer', (consumer) => {
          if (consumer.kind !== 'video') return;
          own.viewers++;
          consumer.observer.once('close', () => own.viewers--);
        });
      });
    });
    const port = o.basePort + index;
    const announced = o.announcedAddress && o.announcedAddress !== o.listenIp ? o.announcedAddress : undefined;
    const buffers = socketBuffers(o.socketBufferBytes);
    const webRtcServer = await worker.createWebRtcServer({
      listenInfos: [
        { protocol: 'udp', ip: o.listenIp, announcedAddress: announced, port, ...buffers },
        { protocol: 'tcp', ip: o.listenIp, announcedAddress: announced, port, ...buffers },
      ],
    });
    const pooled: PooledWorker = { index, worker, webRtcServer, routers: new Set() };
    this.#workers[index] = pooled;
    this.#log.info({ index, pid: worker.pid, port }, 'mediasoup worker up');

    worker.on('died', (error) => {
      this.#workers[index] = undefined;
      this.#log.error({ index, pid: worker.pid, err: error }, 'mediasoup worker died');
      this.emit('workerdied', index, error);
      if (this.#closed) return;
      // Respawn at the same index so the same WebRtcServer port comes back;
      // viewers reconnecting to the node find it where they left it.
      this.#spawn(index).then(
        () => this.emit('workerrespawned', index),
        (err) => this.#log.error({ index, err }, 'mediasoup worker respawn failed'),
      );
    });
  }
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
