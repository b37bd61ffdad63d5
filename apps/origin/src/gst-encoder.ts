import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';

/*
 * The GStreamer encoder process (encoder/gst-encoder.py): raw frames from
 * ffmpeg's stdout in on fd 3, RTP out to the agent's ports, "k" lines in on
 * stdin (key frame now), JSON events out on stdout (each key frame it wrote,
 * forced or periodic). The counts of forced key frames are taken here, from
 * what the encoder says it produced: "counted at the encoder".
 */

/** src/ and dist/ are siblings under apps/origin, so the script resolves from either. */
export const GST_ENCODER_SCRIPT = fileURLToPath(new URL('../encoder/gst-encoder.py', import.meta.url));

export interface KeyFrameCounts {
  /** "Key frame now" lines written to the encoder. */
  requested: number;
  /** Key frames the encoder produced because of a request, per layer (lowest first). */
  forced: number[];
  /** Key frames of the periodic GOP, per layer. */
  periodic: number[];
  /** Wall clock (ms) of the newest key frame of any kind (undefined before the first). */
  lastAtMs: number | undefined;
  /** Wall clock (ms) of the newest forced key frames (lowest layer; the last 64): their spacing is the coalescing seen at the encoder. */
  forcedAtMs: number[];
}

interface GstEncoderEvents {
  keyframe: [info: { layer: number; forced: boolean }];
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

/** Whether python3 can load GStreamer with x264enc (the auto choice falls back to ffmpeg when not). */
export function gstreamerAvailable(python = 'python3'): boolean {
  const probe = spawnSync(
    python,
    [
      '-c',
      "import gi; gi.require_version('Gst','1.0'); gi.require_version('GstVideo','1.0');" +
        'from gi.repository import Gst; Gst.init(None);' +
        "import sys; sys.exit(0 if Gst.ElementFactory.find('x264enc') and Gst.ElementFactory.find('rawvideoparse') else 1)",
    ],
    { timeout: 10_000, stdio: 'ignore' },
  );
  return probe.status === 0 && existsSync(GST_ENCODER_SCRIPT);
}

export class GstEncoderProcess extends EventEmitter<GstEncoderEvents> {
  readonly #child: ChildProcess;
  readonly #log: Logger;
  #stdoutTail = '';

  /** `frames` is ffmpeg's stdout: handed to the encoder as its fd 3 (Node never reads it). */
  constructor(
    pipeline: string,
    layers: number,
    frames: Readable,
    opts: { python: string; setpriv: string | undefined; logger: Logger },
    private readonly counts: KeyFrameCounts,
  ) {
    super();
    this.#log = opts.logger;
    const argv = [GST_ENCODER_SCRIPT, pipeline, String(layers)];
    // setpriv --pdeathsig: the encoder dies with the agent, however the agent dies (as ffmpeg).
    const [cmd, args] = opts.setpriv
      ? [opts.setpriv, ['--pdeathsig', 'SIGKILL', '--', opts.python, ...argv]]
      : [opts.python, argv];
    this.#child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe', frames] });
    this.#child.stdin?.on('error', () => undefined);
    this.#child.stdout?.setEncoding('utf8');
    this.#child.stdout?.on('data', (chunk: string) => this.#onStdout(chunk));
    this.#child.stderr?.setEncoding('utf8');
    this.#child.stderr?.on('data', (chunk: string) =>
      this.#log.warn({ gst: chunk.trim().slice(0, 500) }, 'encoder says'),
    );
    this.#child.on('error', (err) => this.#log.error({ err }, 'GStreamer encoder could not be started'));
    this.#child.on('exit', (code, signal) => this.emit('exit', code, signal));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Ask for a key frame on the next source frame, in every layer. */
  requestKeyFrame(): boolean {
    if (!this.running || !this.#child.stdin?.writable) return false;
    this.#child.stdin.write('k\n');
    this.counts.requested++;
    return true;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.#child.kill(signal);
  }

  #onStdout(chunk: string): void {
    const lines = (this.#stdoutTail + chunk).split('\n');
    this.#stdoutTail = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      let event: { ev?: string; layer?: number; forced?: boolean; t?: number };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        this.#log.warn({ line: line.slice(0, 200) }, 'encoder printed something else');
        continue;
      }
      if (event.ev === 'ready') this.#log.info({ pid: this.pid }, 'GStreamer encoder running');
      if (event.ev !== 'key' || typeof event.layer !== 'number') continue;
      const which = event.forced ? this.counts.forced : this.counts.periodic;
      which[event.layer] = (which[event.layer] ?? 0) + 1;
      const now = event.t ?? Date.now();
      this.counts.lastAtMs = now;
      if (event.forced && event.layer === 0) {
        this.counts.forcedAtMs.push(now);
        if (this.counts.forcedAtMs.length > 64) this.counts.forcedAtMs.shift();
      }
      if (event.forced) this.#log.debug({ layer: event.layer }, 'forced key frame');
      this.emit('keyframe', { layer: event.layer, forced: event.forced === true });
    }
  }
}
