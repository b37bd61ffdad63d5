import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { buildFfmpegArgs, findFont, TESTPATTERN, type VideoSize, type X264Preset } from './ffmpeg-args.ts';
import type { LadderLayer } from './ladder.ts';
import { isRtcp, parseRtpHeader, type RtpHeaderInfo } from './rtp.ts';

/*
 * The media source: an ffmpeg child that encodes (test pattern, file, RTMP,
 * SRT...) to H.264/Opus RTP on loopback UDP ports we own: one for audio and
 * one per video layer (one layer, or each layer of a simulcast ladder, all
 * encoded by the same ffmpeg from one decode). We read those ports and hand
 * each packet to the agent, which forwards it into werift.
 *
 * ffmpeg is supervised: if it exits (an RTMP publisher went away, a network
 * input hiccuped) it is started again, and 'restarted' tells the agent the
 * RTP sequence/timestamp bases jumped.
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
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private incarnation = 0;
  private hasAudio = true;
  private readonly log: Logger;
  private stderrBudget = { windowStart: 0, lines: 0 };
  readonly packetsIn: Record<MediaKind, number> = { audio: 0, video: 0 };
  /** Video packets read per layer (lowest first). */
  readonly layerPacketsIn: number[];

  constructor(
    private readonly opts: MediaSourceOptions,
    private readonly onPacket: PacketHandler,
  ) {
    super();
    this.log = opts.logger.child({ component: 'media-source' });
    this.layerPacketsIn = new Array<number>(opts.ladder?.length ?? 1).fill(0);
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
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    const incarnation = ++this.incarnation;
    this.log.info({ pid: child.pid, incarnation, source: this.opts.source, pdeathsig: usePdeathsig }, 'ffmpeg started');
    this.log.debug({ argv: [this.opts.ffmpegPath, ...args] }, 'ffmpeg command line');

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

  /** ffmpeg can print the same warning 30 times a second; keep the log readable. */
  private logFfmpegLine(line: string): void {
    const now = Date.now();
    if (now - this.stderrBudget.windowStart > 10_000) this.stderrBudget = { windowStart: now, lines: 0 };
    if (++this.stderrBudget.lines <= 20) this.log.warn({ ffmpeg: line }, 'ffmpeg says');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
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
    this.child?.kill('SIGKILL');
  }
}
