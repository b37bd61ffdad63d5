import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import type { types } from 'mediasoup';
import type { Logger } from '../logger.ts';
import { MIX_PAYLOAD_TYPE, mixerArgs, processCpuSeconds, reserveUdpPorts } from './gstMixer.ts';
import { rtpPayloadBytes } from './holdRewriter.ts';
import { type LagEstimate, LagEstimator } from './mixerLag.ts';
import { VoiceHold } from './VoiceHold.ts';

export interface MixerOptions {
  /** gst-launch-1.0 (MM_GST_LAUNCH_PATH). */
  gstLaunchPath: string;
  /** Commentators one language's mix takes at once (MM_COMMENTARY_SLOTS). */
  slots: number;
  /** The mixed track's Opus bitrate. */
  bitrateKbps: number;
}

/** Every slot of the language's mix is taken. */
export class MixerFullError extends Error {}

interface Slot {
  port: number;
  /**
   * The commentator's voice feeding this slot: the plain transport that carries it, through its hold
   * (equalisation) to GStreamer, and its mixer-lag estimator.
   */
  voice?: { producerId: string; transport: types.PlainTransport; hold: VoiceHold; lag: LagEstimator };
}

interface LanguageMixerEvents {
  close: [];
}

/** How long to wait before starting GStreamer again after it exited on its own. */
const RESPAWN_MS = 1000;
/** How often the mixer's lag is estimated (each estimate correlates the last few seconds: mixerLag.ts). */
const LAG_INTERVAL_MS = 1000;
/** The published lag is the median of this many last estimates: one odd window does not move it. */
const LAG_HISTORY = 5;

/**
 * One language's commentary track on the stream's source router: every
 * commentator of that language is consumed over a PlainTransport into a slot
 * of one GStreamer audiomixer (gstMixer.ts), and the mix comes back as RTP
 * into a PlainTransport producer — the language's one track, which viewers,
 * WHEP players and pipes consume. Commentators take and free slots while the
 * mixer runs; the track (its producer id and SSRC) outlives them all, and
 * GStreamer restarts under it if it dies.
 */
export class LanguageMixer extends EventEmitter<LanguageMixerEvents> {
  readonly lang: string;
  /** The mixed track. */
  readonly producer: types.Producer;
  readonly #router: types.Router;
  readonly #out: types.PlainTransport;
  readonly #slots: Slot[];
  readonly #args: string[];
  readonly #opts: MixerOptions;
  readonly #log: Logger;
  /** The mix's copy for the lag measurement. */
  readonly #tap: Socket;
  readonly #lagTimer: NodeJS.Timeout;
  /** The mixer's lag, voice handed to GStreamer → mix out (ms; median over the voices measured). */
  #lagMs: number | undefined;
  readonly #lagHistory: number[] = [];
  #child: ChildProcess | undefined;
  #respawn: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(
    router: types.Router,
    lang: string,
    out: types.PlainTransport,
    producer: types.Producer,
    slotPorts: number[],
    tap: Socket,
    args: string[],
    opts: MixerOptions,
    log: Logger,
  ) {
    super();
    this.#router = router;
    this.lang = lang;
    this.#out = out;
    this.producer = producer;
    this.#slots = slotPorts.map((port) => ({ port }));
    this.#args = args;
    this.#opts = opts;
    this.#log = log;
    this.#tap = tap;
    tap.on('message', (packet) => {
      const at = performance.now();
      const bytes = rtpPayloadBytes(packet);
      for (const slot of this.#slots) slot.voice?.lag.output(at, bytes);
    });
    this.#lagTimer = setInterval(() => this.#estimateLag(), LAG_INTERVAL_MS).unref();
    out.observer.once('close', () => this.close());
  }

  static async create(router: types.Router, lang: string, opts: MixerOptions, log: Logger): Promise<LanguageMixer> {
    // The mix comes back from GStreamer's udpsink: comedia learns its address from the first packet.
    const out = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      comedia: true,
      appData: { purpose: 'commentary-mix', lang },
    });
    const tap = createSocket('udp4');
    try {
      tap.bind(0, '127.0.0.1');
      await once(tap, 'listening');
      const ssrc = randomInt(1, 2 ** 31);
      const producer = await out.produce({
        kind: 'audio',
        rtpParameters: {
          codecs: [
            {
              mimeType: 'audio/opus',
              payloadType: MIX_PAYLOAD_TYPE,
              clockRate: 48000,
              channels: 2,
              parameters: { useinbandfec: 1 },
              rtcpFeedback: [],
            },
          ],
          encodings: [{ ssrc }],
        },
        appData: { source: 'commentary', lang },
      });
      const slotPorts = await reserveUdpPorts(opts.slots);
      const opus = router.rtpCapabilities.codecs?.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
      if (!opus) throw new Error('the router has no Opus codec');
      const args = mixerArgs({
        slotPorts,
        inPayloadType: opus.preferredPayloadType,
        outPort: out.tuple.localPort,
        tapPort: tap.address().port,
        ssrc,
        bitrateKbps: opts.bitrateKbps,
      });
      const mixer = new LanguageMixer(
        router,
        lang,
        out,
        producer,
        slotPorts,
        tap,
        args,
        opts,
        log.child?.({ lang }) ?? log,
      );
      mixer.#spawn();
      return mixer;
    } catch (err) {
      out.close();
      tap.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Commentators in the mix now. */
  get voices(): number {
    return this.#slots.filter((s) => s.voice).length;
  }

  /** CPU seconds the running GStreamer has used for this language (bench: the mixer's CPU per language). */
  cpuSeconds(): number {
    return processCpuSeconds(this.#child?.pid);
  }

  /**
   * The mixer's own lag, measured live (mixerLag.ts): a voice handed to GStreamer → the mix leaving it (ms);
   * undefined until a voice has spoken long enough to be found in the mix.
   */
  get mixerLagMs(): number | undefined {
    return this.#lagMs;
  }

  /** How long a voice is held before the mix now (ms; undefined: not in the mix). */
  holdMs(producerId: string): number | undefined {
    return this.#slots.find((s) => s.voice?.producerId === producerId)?.voice?.hold.holdMs;
  }

  /**
   * Hold a voice this long before the mix (the language's delay minus the voice's own: equalisation),
   * applied at its next quiet moment (holdRewriter.ts).
   */
  setHold(producerId: string, ms: number): void {
    this.#slots.find((s) => s.voice?.producerId === producerId)?.voice?.hold.setHold(ms);
  }

  /** Put a commentator's voice into a free slot of the mix; MixerFullError when none is free. */
  async addVoice(voice: types.Producer): Promise<void> {
    const slot = this.#slots.find((s) => !s.voice);
    if (!slot) throw new MixerFullError(`every ${this.lang} commentary slot (${this.#slots.length}) is taken`);
    const transport = await this.#router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      // mediasoup's Sender Reports come to the hold too, which drops them: GStreamer only wants the media.
      rtcpMux: true,
      comedia: false,
      appData: { purpose: 'commentary-voice', lang: this.lang },
    });
    const lag = new LagEstimator();
    let hold: VoiceHold;
    try {
      hold = await VoiceHold.open(slot.port);
    } catch (err) {
      transport.close();
      throw err;
    }
    hold.onForward = (at, bytes) => lag.input(at, bytes);
    slot.voice = { producerId: voice.id, transport, hold, lag };
    try {
      await transport.connect({ ip: '127.0.0.1', port: hold.port });
      const caps = this.#router.rtpCapabilities;
      await transport.consume({
        producerId: voice.id,
        rtpCapabilities: {
          codecs: (caps.codecs ?? []).filter((c) => c.kind === 'audio'),
          headerExtensions: [],
        },
      });
    } catch (err) {
      slot.voice = undefined;
      transport.close();
      hold.close();
      throw err;
    }
    // The voice ending (off air, the commentator gone) frees the slot.
    voice.observer.once('close', () => this.removeVoice(voice.id));
    this.#log.info({ producerId: voice.id, port: slot.port, voices: this.voices }, 'voice in the mix');
  }

  removeVoice(producerId: string): void {
    const slot = this.#slots.find((s) => s.voice?.producerId === producerId);
    if (!slot?.voice) return;
    slot.voice.transport.close();
    slot.voice.hold.close();
    slot.voice = undefined;
    this.#log.info({ producerId, voices: this.voices }, 'voice left the mix');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#respawn);
    clearInterval(this.#lagTimer);
    for (const slot of this.#slots) {
      slot.voice?.transport.close();
      slot.voice?.hold.close();
    }
    this.#tap.close();
    this.#out.close();
    this.#child?.kill('SIGKILL');
    this.emit('close');
  }

  /**
   * The mixer's lag over the last seconds, from the voice found most clearly in the mix (the lag is the
   * mixer's, the same for every slot; a silent voice has none, and a voice whose activity resembles another's
   * correlates with both); the figure is the median of the last LAG_HISTORY estimates.
   */
  #estimateLag(): void {
    const now = performance.now();
    let best: LagEstimate | undefined;
    for (const slot of this.#slots) {
      const e = slot.voice?.lag.estimate(now);
      if (e && (!best || e.correlation > best.correlation)) best = e;
    }
    if (!best) return;
    this.#lagHistory.push(best.lagMs);
    if (this.#lagHistory.length > LAG_HISTORY) this.#lagHistory.shift();
    const sorted = [...this.#lagHistory].sort((a, b) => a - b);
    this.#lagMs = Math.round(sorted[Math.floor(sorted.length / 2)]!);
  }

  #spawn(): void {
    if (this.#closed) return;
    const child = spawn(this.#opts.gstLaunchPath, this.#args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-2000);
    });
    child.once('error', (err) => this.#log.error({ err: String(err) }, 'commentary mixer could not start'));
    child.once('exit', (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      if (this.#closed) return;
      this.#log.warn({ code, signal, stderr }, 'commentary mixer exited; restarting');
      this.#respawn = setTimeout(() => this.#spawn(), RESPAWN_MS);
    });
  }
}
