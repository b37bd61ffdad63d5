// An in-process relay built from the project's own media classes
// (@matchmesh/sfu WorkerPool + StreamRouter — the same objects a node uses for
// a stream) with the program fed over a PlainTransport, and viewers that are
// SRTP PlainTransport consumers pointed at the sink.
//
// Two ways to attach a viewer:
//  - 'shared'  : what matchmesh does — every viewer consumes the stream's one
//                router (one producer, N consumers).
//  - 'naive'   : the baseline — every viewer gets its own router fed by
//                pipeToRouter (what a per-session design, e.g. our WHEP path
//                before issue 13, does): one extra pipe transport pair +
//                producer per viewer.
//  - 'spread'  : what a node with several workers does — the viewer is seated
//                on the least-loaded worker and consumes that worker's outlet
//                of the stream (the source router, or a fan-out router fed
//                once per worker by pipeToRouter).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import {
  MEDIA_CODECS,
  type MediaOptions,
  MediaService,
  type StreamRouter,
  silentLogger,
  socketBuffers,
  WorkerPool,
} from '@matchmesh/sfu';
import type { types } from 'mediasoup';
import { REPLAY_CODECS } from './replay.ts';

export type AttachMode = 'shared' | 'naive' | 'spread';

export interface Viewer {
  transport: types.PlainTransport;
  consumers: types.Consumer[];
  router?: types.Router;
  /** The seat's worker, and the seat to give back ('spread'). */
  worker?: number;
  release?: () => void;
}

export interface ViewerOptions {
  mode: AttachMode;
  sinkPort: number;
  /** SRTP on the viewer leg (true for load viewers; false for latency probes the sink must read). */
  srtp: boolean;
  kinds?: types.MediaKind[];
  /**
   * Consume without bandwidth estimation (no transport-cc / REMB): the sink
   * sends no feedback, so an estimating transport would sit at its initial
   * estimate and a simulcast consumer would never get past the middle layer.
   */
  noBwe?: boolean;
}

/** The router's capabilities without what turns on a transport's bandwidth estimation. */
function withoutBwe(caps: types.RtpCapabilities): types.RtpCapabilities {
  const estimating = (uri: string) => uri.includes('transport-wide-cc') || uri.includes('abs-send-time');
  return {
    codecs: caps.codecs?.map((c) => ({
      ...c,
      rtcpFeedback: c.rtcpFeedback?.filter((fb) => fb.type !== 'transport-cc' && fb.type !== 'goog-remb'),
    })),
    headerExtensions: caps.headerExtensions?.filter((h) => !estimating(h.uri)),
  };
}

/** A free TCP+UDP port number for a WebRtcServer (racy but fine on a bench machine). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export class BenchRelay {
  readonly pool: WorkerPool;
  /** The node's media state: streams and viewer seats, exactly as a node holds them. */
  readonly media: MediaService;
  readonly stream: StreamRouter;
  readonly producers: Partial<Record<types.MediaKind, types.Producer>> = {};
  readonly viewers = new Set<Viewer>();
  #ingest: types.PlainTransport | undefined;

  private constructor(media: MediaService, stream: StreamRouter) {
    this.media = media;
    this.pool = media.pool;
    this.stream = stream;
  }

  static async create(
    name: string,
    ports: { min: number; max: number },
    workers = 1,
    program: MediaOptions = {},
  ): Promise<BenchRelay> {
    const pool = await WorkerPool.create({
      size: workers,
      listenIp: '127.0.0.1',
      basePort: await freePort(),
      rtcMinPort: ports.min,
      rtcMaxPort: ports.max,
    });
    // No viewersPerWorker: the bench looks for the limit, so seats are never refused.
    const media = new MediaService(pool, silentLogger, program);
    return new BenchRelay(media, await media.getOrCreateStream(name));
  }

  get worker(): types.Worker {
    return this.stream.pooled.worker;
  }

  async workerCpuSeconds(): Promise<number> {
    const u = await this.worker.getResourceUsage();
    return (u.ru_utime + u.ru_stime) / 1000;
  }

  /** CPU seconds of each worker of the pool, by index. */
  async workersCpuSeconds(): Promise<number[]> {
    const seconds = await this.pool.workerCpuSeconds();
    return this.pool.workers.map((w) => seconds.get(w) ?? 0);
  }

  /**
   * The program feed: a comedia PlainTransport (no SRTP on the ingest leg,
   * it is loopback from our own replayer) with the origin's H.264 + Opus.
   * Returns the address the replayer sends to.
   */
  async ingest(
    kinds: types.MediaKind[] = ['video', 'audio'],
    audioSsrc: number = REPLAY_CODECS.audio.ssrc,
    /** The video's SSRCs, lowest layer first: more than one is a simulcast program (loadLadderRecording). */
    videoSsrcs: number[] = [REPLAY_CODECS.video.ssrc],
  ): Promise<{ ip: string; port: number }> {
    const t = await this.stream.router.createPlainTransport({
      // The node's media sockets' buffers (MM_UDP_BUFFER_BYTES default), so the bench measures what runs.
      listenInfo: { protocol: 'udp', ip: '127.0.0.1', ...socketBuffers() },
      rtcpMux: true,
      comedia: true,
    });
    this.#ingest = t;
    const produced: types.Producer[] = [];
    if (kinds.includes('video')) {
      const video = await t.produce({
        kind: 'video',
        rtpParameters: {
          codecs: [
            {
              mimeType: 'video/H264',
              payloadType: REPLAY_CODECS.video.payloadType,
              clockRate: 90000,
              parameters: {
                'packetization-mode': 1,
                'profile-level-id': '42e01f',
                'level-asymmetry-allowed': 1,
              },
            },
          ],
          encodings: videoSsrcs.map((ssrc) => ({ ssrc })),
        },
      });
      this.producers.video = video;
      produced.push(video);
    }
    if (kinds.includes('audio')) {
      const audio = await t.produce({
        kind: 'audio',
        rtpParameters: {
          codecs: [
            {
              mimeType: 'audio/opus',
              payloadType: REPLAY_CODECS.audio.payloadType,
              clockRate: 48000,
              channels: 2,
            },
          ],
          encodings: [{ ssrc: audioSsrc }],
        },
      });
      this.producers.audio = audio;
      produced.push(audio);
    }
    // Spliced into the stream's stable program, as a WHIP session's producers are:
    // viewers consume the stable producers, exactly as in a node.
    await this.stream.attachProgram({
      id: 'bench-replay',
      role: 'primary',
      producers: produced,
      label: 'bench replay',
    });
    return { ip: '127.0.0.1', port: t.tuple.localPort };
  }

  async addViewer(opts: ViewerOptions): Promise<Viewer> {
    let router = this.stream.router;
    let own: types.Router | undefined;
    let worker: number | undefined;
    let release: (() => void) | undefined;
    const kinds = opts.kinds ?? (['video', 'audio'] as types.MediaKind[]);
    const sources = new Map<types.MediaKind, string>();
    let producers = this.stream.programProducers();
    if (opts.mode === 'spread') {
      const seat = await this.media.seat(this.stream);
      release = seat.release;
      worker = seat.worker;
      router = seat.outlet.router;
      producers = seat.outlet.programProducers();
    }
    for (const p of producers) if (kinds.includes(p.kind)) sources.set(p.kind, p.id);
    if (opts.mode === 'naive') {
      own = await this.worker.createRouter({ mediaCodecs: MEDIA_CODECS });
      for (const [kind, producerId] of sources) {
        // keepId: false — the source producer lives in the same worker, and a
        // worker refuses two producers with one id.
        const { pipeProducer } = await this.stream.router.pipeToRouter({
          producerId,
          router: own,
          keepId: false,
        });
        sources.set(kind, pipeProducer!.id);
      }
      router = own;
    }
    const transport = await router.createPlainTransport({
      // The node's media sockets' buffers (MM_UDP_BUFFER_BYTES default), so the bench measures what runs.
      listenInfo: { protocol: 'udp', ip: '127.0.0.1', ...socketBuffers() },
      rtcpMux: true,
      comedia: false,
      enableSrtp: opts.srtp,
      srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80',
    });
    await transport.connect({
      ip: '127.0.0.1',
      port: opts.sinkPort,
      srtpParameters: opts.srtp
        ? { cryptoSuite: 'AES_CM_128_HMAC_SHA1_80', keyBase64: randomBytes(30).toString('base64') }
        : undefined,
    });
    const consumers: types.Consumer[] = [];
    for (const producerId of sources.values()) {
      const rtpCapabilities = opts.noBwe ? withoutBwe(router.rtpCapabilities) : router.rtpCapabilities;
      consumers.push(await transport.consume({ producerId, rtpCapabilities }));
    }
    const viewer: Viewer = { transport, consumers, router: own, worker, release };
    this.viewers.add(viewer);
    return viewer;
  }

  closeViewer(v: Viewer): void {
    this.viewers.delete(v);
    v.transport.close();
    v.router?.close();
    v.release?.();
  }

  closeViewers(): void {
    for (const v of [...this.viewers]) this.closeViewer(v);
  }

  /** Payload types the consumers send with, and their clock rates (for the sink's jitter). */
  clockRates(): Array<[number, number]> {
    return this.stream.router.rtpCapabilities.codecs!.map((c) => [c.preferredPayloadType!, c.clockRate]);
  }

  close(): void {
    this.#ingest?.close();
    this.closeViewers();
    this.media.close();
  }
}

/** Run `fn` for `count` items with at most `parallel` in flight. */
export async function inBatches(count: number, parallel: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
}
