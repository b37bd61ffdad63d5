import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { buildFfmpegArgs, findFont, TESTPATTERN, type VideoSize } from './ffmpeg-args.ts';
import { isRtcp, parseRtpHeader, type RtpHeaderInfo } from './rtp.ts';

/*
 * The media source: an ffmpeg child that encodes (test pattern, file, RTMP,
 * SRT...) to H.264/Opus RTP on two loopback UDP ports we own. We read those
 * ports and hand each packet to the agent, which forwards it into werift.
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

export type PacketHandler = (kind: MediaKind, packet: Buffer, header: RtpHeaderInfo) => void;

/**
 * ffmpeg does not exit when its stdin closes, so a SIGKILLed agent would leave
 * an encoder running forever. setpriv (util-linux, always on Debian) sets
 * PR_SET_PDEATHSIG before exec: the kernel kills ffmpeg when we die, however
 * we die. Without setpriv we fall back to exit hooks only.
 */
const SETPRIV = '/usr/bin/setpriv';

export class MediaSource extends EventEmitter<MediaSourceEvents> {
  private sockets: Partial<Record<MediaKind, Socket>> = {};
  private child: ChildProcess | undefined;
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private incarnation = 0;
  private hasAudio = true;
  private readonly log: Logger;
  private stderrBudget = { windowStart: 0, lines: 0 };
  readonly packetsIn: Record<MediaKind, number> = { audio: 0, video: 0 };

  constructor(
    private readonly opts: MediaSourceOptions,
    private readonly onPacket: PacketHandler,
  ) {
    super();
    this.log = opts.logger.child({ component: 'media-source' });
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
    for (const kind of ['video', 'audio'] as const) {
      const socket = createSocket('udp4');
      // Keyframes arrive as a burst of ~100 packets; a roomy buffer avoids drops.
      socket.on('message', (msg) => this.handle(kind, msg));
      socket.on('error', (err) => this.log.error({ err, kind }, 'rtp socket error'));
      socket.bind(0, '127.0.0.1');
      await once(socket, 'listening');
      try {
        socket.setRecvBufferSize(4 * 1024 * 1024);
      } catch {
        // Capped by net.core.rmem_max; the default still works at 1.5 Mbps.
      }
      this.sockets[kind] = socket;
    }
    this.hasAudio = await this.probeAudio();
    this.spawnFfmpeg();
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
    });
  }

  private handle(kind: MediaKind, msg: Buffer): void {
    if (isRtcp(msg)) return;
    const header = parseRtpHeader(msg);
    if (!header) return;
    this.packetsIn[kind]++;
    this.onPacket(kind, msg, header);
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
    for (const socket of Object.values(this.sockets)) socket.close();
    this.sockets = {};
  }

  /** Synchronous last resort for process 'exit' hooks. */
  killNow(): void {
    this.stopped = true;
    this.child?.kill('SIGKILL');
  }
}
