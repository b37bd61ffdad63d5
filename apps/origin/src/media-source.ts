import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { VIDEO_SSRC } from './codecs.ts';
import {
  buildFfmpegArgs,
  findFont,
  rawPictureSize,
  TESTPATTERN,
  type VideoSize,
  type X264Preset,
} from './ffmpeg-args.ts';
import { GstEncoderProcess, type KeyFrameCounts } from './gst-encoder.ts';
import { buildGstPipeline, type GstLayer } from './gst-pipeline.ts';
import type { LadderLayer } from './ladder.ts';
import { PATTERN_FPS } from './pattern-layout.ts';
import { isRtcp, parseRtpHeader, type RtpHeaderInfo } from './rtp.ts';

/*
 * The media source: an ffmpeg child that encodes (test pattern, file, RTMP,
 * SRT...) to H.264/Opus RTP on loopback UDP ports we own: one for audio and
 * one per video layer (one layer, or each layer of a simulcast ladder, all
 * encoded by the same ffmpeg from one decode). We read those ports and hand
 * each packet to the agent, which forwards it into werift.
 *
 * With the GStreamer encoder (`encoder: 'gstreamer'`, gst-encoder.ts) ffmpeg
 * only draws or decodes the picture and audio: it writes raw frames to a
 * GStreamer x264 process that sends the video RTP to the same ports and
 * forces a key frame whenever `requestKeyFrame()` asks (a viewer's PLI).
 *
 * ffmpeg is supervised: if it exits (an RTMP publisher went away, a network
 * input hiccuped) it is started again (with a new encoder process on the
 * GStreamer path: either exiting restarts both), and 'started' tells the
 * agent the RTP sequence/timestamp bases jumped.
 */

export type MediaKind = 'audio' | 'video';

export interface MediaSourceOptions {
  source: string;
  videoBitrateKbps: number;
  size?: VideoSize;
  gopFrames?: number;
  burnStrips: boolean;
  /** Simulcast: encode these layers (lowest first), each to its own port; size and bitrate are then unused. */
  ladder?: readonly LadderLayer[];
  /** Key frame interval of the ladder's layers (ms). */
  keyframeIntervalMs?: number;
  /** x264 preset of the ladder's layers. */
  preset?: X264Preset;
  /** 'gstreamer': ffmpeg → raw frames → GStreamer x264, which honours key-frame requests. */
  encoder?: 'gstreamer' | 'ffmpeg';
  /** python3 with GStreamer's bindings (the GStreamer encoder). */
  pythonPath?: string;
  loop: boolean;
  listen: boolean;
  ffmpegPath: string;
  restartDelayMs: number;
  logger: Logger;
}

export interface MediaSourceEvents {
  /** A new ffmpeg incarnation is running (the first one too): RTP bases may have jumped. */
  started: [incarnation: number];
  exited: [code: number | null, signal: NodeJS.Signals | null];
  /** The encoder wrote a key frame on `layer` (GStreamer path only). */
  keyframe: [info: { layer: number; forced: boolean }];
}

/** `layer` is the video layer's index in the ladder (0 = lowest; always 0 without a ladder, and for audio). */
export type PacketHandler = (kind: MediaKind, packet: Buffer, header: RtpHeaderInfo, layer: number) => void;

/**
 * ffmpeg does not exit when its stdin closes, so a SIGKILLed agent would leave
 * an encoder running forever. setpriv (util-linux, always on Debian) sets
 * PR_SET_PDEATHSIG before exec: the kernel kills ffmpeg when we die, however
 * we die. Without setpriv we fall back to exit hooks only.
 */
const SETPRIV = '/usr/bin/setpriv';

export class MediaSource extends EventEmitter<MediaSourceEvents> {
  private sockets: Partial<Record<MediaKind, Socket>> = {};
  /** Video sockets, one per layer (the first is `sockets.video`). */
  private layerSockets: Socket[] = [];
  private child: ChildProcess | undefined;
  private gst: GstEncoderProcess | undefined;
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private incarnation = 0;
  private hasAudio = true;
  private readonly log: Logger;
  private stderrBudget = { windowStart: 0, lines: 0 };
  readonly packetsIn: Record<MediaKind, number> = { audio: 0, video: 0 };
  /** Video packets read per layer (lowest first). */
  readonly layerPacketsIn: number[];
  /** Key frames asked of the encoder and produced by it (GStreamer path; zeros with ffmpeg). */
  readonly keyFrames: KeyFrameCounts;

  constructor(
    private readonly opts: MediaSourceOptions,
    private readonly onPacket: PacketHandler,
  ) {
    super();
    this.log = opts.logger.child({ component: 'media-source' });
    const layers = opts.ladder?.length ?? 1;
    this.layerPacketsIn = new Array<number>(layers).fill(0);
    this.keyFrames = {
      requested: 0,
      forced: new Array(layers).fill(0),
      periodic: new Array(layers).fill(0),
      lastAtMs: undefined,
      forcedAtMs: [],
    };
  }

  /** True when the encoder honours key-frame requests. */
  get honoursKeyFrameRequests(): boolean {
    return this.opts.encoder === 'gstreamer';
  }

  /** Key frame now, in every layer (GStreamer path); false when the encoder cannot (ffmpeg) or is not running. */
  requestKeyFrame(): boolean {
    return this.gst?.requestKeyFrame() ?? false;
  }

  /** The raw frames' rate on the GStreamer path: the pattern's 30, an external ladder's top rate. */
  private get rawFps(): number {
    if (this.opts.source === TESTPATTERN || !this.opts.ladder) return PATTERN_FPS;
    return Math.max(...this.opts.ladder.map((l) => l.maxFps));
  }

  /** The GStreamer encoder's pipeline (for logs and `--print-ffmpeg`). */
  gstPipeline(): string {
    const size = rawPictureSize({
      size: this.opts.size,
      ladder: this.opts.ladder && { layers: this.opts.ladder, layerPorts: [], keyframeIntervalMs: 0 },
    });
    const fps = this.rawFps;
    const ports = this.layerSockets.map((s) => s.address().port);
    const single = this.opts.size ?? size;
    const layers: GstLayer[] = this.opts.ladder
      ? this.opts.ladder.map((l, i) => ({
          width: l.width,
          height: l.height,
          kbps: l.kbps,
          maxFps: l.maxFps,
          level: l.level,
          ssrc: l.ssrc,
          port: ports[i] ?? 0,
        }))
      : [
          {
            width: single.width,
            height: single.height,
            kbps: this.opts.videoBitrateKbps,
            level: '3.1',
            ssrc: VIDEO_SSRC,
            port: ports[0] ?? 0,
          },
        ];
    const intervalMs = this.opts.ladder ? (this.opts.keyframeIntervalMs ?? 1000) : undefined;
    return buildGstPipeline({
      width: size.width,
      height: size.height,
      fps,
      layers,
      gopFrames:
        intervalMs !== undefined
          ? Math.max(1, Math.round((intervalMs * fps) / 1000))
          : (this.opts.gopFrames ?? PATTERN_FPS),
      preset: this.opts.preset ?? 'ultrafast',
    });
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const layers = this.opts.ladder?.length ?? 1;
    for (let layer = 0; layer < layers; layer++) this.layerSockets.push(await this.bindSocket('video', layer));
    this.sockets.video = this.layerSockets[0];
    this.sockets.audio = await this.bindSocket('audio', 0);
    this.hasAudio = await this.probeAudio();
    this.spawnFfmpeg();
  }

  private async bindSocket(kind: MediaKind, layer: number): Promise<Socket> {
    const socket = createSocket('udp4');
    // Keyframes arrive as a burst of ~100 packets (~300 at 1080p); a roomy buffer avoids drops.
    socket.on('message', (msg) => this.handle(kind, msg, layer));
    socket.on('error', (err) => this.log.error({ err, kind, layer }, 'rtp socket error'));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // Capped by net.core.rmem_max; the default still works at 1.5 Mbps.
    }
    return socket;
  }

  /** The exact argv (for logs and `--print-ffmpeg`). */
  args(): string[] {
    return buildFfmpegArgs({
      source: this.opts.source,
      videoPort: this.sockets.video?.address().port ?? 0,
      audioPort: this.sockets.audio?.address().port ?? 0,
      videoBitrateKbps: this.opts.videoBitrateKbps,
      size: this.opts.size,
      gopFrames: this.opts.gopFrames,
      burnStrips: this.opts.source === TESTPATTERN || this.opts.burnStrips,
      loop: this.opts.loop,
      listen: this.opts.listen,
      sourceHasAudio: this.hasAudio,
      fontFile: findFont(),
      ladder: this.opts.ladder
        ? {
            layers: this.opts.ladder,
            layerPorts: this.layerSockets.map((s) => s.address().port),
            keyframeIntervalMs: this.opts.keyframeIntervalMs ?? 1000,
            preset: this.opts.preset,
          }
        : undefined,
      rawVideo: this.opts.encoder === 'gstreamer' ? { fps: this.rawFps } : undefined,
    });
  }

  private handle(kind: MediaKind, msg: Buffer, layer: number): void {
    if (isRtcp(msg)) return;
    const header = parseRtpHeader(msg);
    if (!header) return;
    this.packetsIn[kind]++;
    if (kind === 'video') this.layerPacketsIn[layer] = (this.layerPacketsIn[layer] ?? 0) + 1;
    this.onPacket(kind, msg, header, layer);
  }

  /** Local files without audio get a silent track, so the audio m-line always carries RTP. */
  private async probeAudio(): Promise<boolean> {
    const src = this.opts.source;
    if (src === TESTPATTERN || !existsSync(src)) return true;
    return new Promise((resolve) => {
      execFile(
        'ffprobe',
        ['-v', 'error', '-select_streams', 'a', '-show_entries', 'stream=index', '-of', 'csv=p=0', src],
        { timeout: 10_000 },
        (err, stdout) => {
          if (err) {
            this.log.warn({ err }, 'ffprobe failed; assuming the source has audio');
            resolve(true);
          } else {
            resolve(stdout.trim().length > 0);
          }
        },
      );
    });
  }

  private spawnFfmpeg(): void {
    if (this.stopped) return;
    const args = this.args();
    const usePdeathsig = existsSync(SETPRIV);
    const [cmd, argv] = usePdeathsig
      ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', this.opts.ffmpegPath, ...args]]
      : [this.opts.ffmpegPath, args];
    const gstPath = this.opts.encoder === 'gstreamer';
    const child = spawn(cmd, argv, { stdio: ['ignore', gstPath ? 'pipe' : 'ignore', 'pipe'] });
    this.child = child;
    const incarnation = ++this.incarnation;
    this.log.info({ pid: child.pid, incarnation, source: this.opts.source, pdeathsig: usePdeathsig }, 'ffmpeg started');
    this.log.debug({ argv: [this.opts.ffmpegPath, ...args] }, 'ffmpeg command line');
    if (gstPath && child.stdout) this.spawnEncoder(child);

    let stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-4000);
      for (const line of chunk.split('\n')) {
        if (line.trim()) this.logFfmpegLine(line.trim());
      }
    });
    child.on('error', (err) => this.log.error({ err }, 'ffmpeg could not be started'));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      // The encoder's input ended with ffmpeg: both start again together.
      this.gst?.kill('SIGKILL');
      this.gst = undefined;
      this.emit('exited', code, signal);
      if (this.stopped) {
        this.log.info({ code, signal }, 'ffmpeg stopped');
        return;
      }
      this.log.warn({ code, signal, stderr: stderrTail.slice(-1000) }, 'ffmpeg exited; restarting');
      this.restartTimer = setTimeout(() => this.spawnFfmpeg(), this.opts.restartDelayMs);
    });
    this.emit('started', incarnation);
  }

  /** ffmpeg's stdout (raw frames) becomes the encoder's fd 3; Node never reads it. */
  private spawnEncoder(ffmpeg: ChildProcess): void {
    const pipeline = this.gstPipeline();
    const gst = new GstEncoderProcess(
      pipeline,
      this.opts.ladder?.length ?? 1,
      ffmpeg.stdout!,
      {
        python: this.opts.pythonPath ?? 'python3',
        setpriv: existsSync(SETPRIV) ? SETPRIV : undefined,
        logger: this.log,
      },
      this.keyFrames,
    );
    // The child holds its own copy of the pipe; ours would only keep ffmpeg writing into a dead encoder.
    ffmpeg.stdout!.destroy();
    this.gst = gst;
    this.log.debug({ pipeline }, 'GStreamer pipeline');
    gst.on('keyframe', (info) => this.emit('keyframe', info));
    gst.on('exit', (code, signal) => {
      if (this.gst !== gst) return;
      this.gst = undefined;
      if (this.stopped) return;
      // ffmpeg's exit restarts both.
      this.log.warn({ code, signal }, 'GStreamer encoder exited; restarting with ffmpeg');
      if (ffmpeg.exitCode === null && ffmpeg.signalCode === null) ffmpeg.kill('SIGKILL');
    });
  }

  /** ffmpeg can print the same warning 30 times a second; keep the log readable. */
  private logFfmpegLine(line: string): void {
    const now = Date.now();
    if (now - this.stderrBudget.windowStart > 10_000) this.stderrBudget = { windowStart: now, lines: 0 };
    if (++this.stderrBudget.lines <= 20) this.log.warn({ ffmpeg: line }, 'ffmpeg says');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    // ffmpeg first: its exit stops the encoder (killing the encoder first would make ffmpeg log a broken pipe).
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    for (const socket of [...this.layerSockets, this.sockets.audio]) socket?.close();
    this.sockets = {};
    this.layerSockets = [];
  }

  /** Synchronous last resort for process 'exit' hooks. */
  killNow(): void {
    this.stopped = true;
    this.gst?.kill('SIGKILL');
    this.child?.kill('SIGKILL');
  }
}
