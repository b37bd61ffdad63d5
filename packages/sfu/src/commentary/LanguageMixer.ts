import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { Logger } from '../logger.ts';
import { MIX_PAYLOAD_TYPE, mixerArgs, processCpuSeconds, reserveUdpPorts } from './gstMixer.ts';

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
  /** The commentator's voice feeding this slot, and the plain transport that carries it to GStreamer. */
  voice?: { producerId: string; transport: types.PlainTransport };
}

interface LanguageMixerEvents {
  close: [];
}

/** How long to wait before starting GStreamer again after it exited on its own. */
const RESPAWN_MS = 1000;

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
  #child: ChildProcess | undefined;
  #respawn: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(
    router: types.Router,
    lang: string,
    out: types.PlainTransport,
    producer: types.Producer,
    slotPorts: number[],
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
    try {
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
        ssrc,
        bitrateKbps: opts.bitrateKbps,
      });
      const mixer = new LanguageMixer(router, lang, out, producer, slotPorts, args, opts, log.child?.({ lang }) ?? log);
      mixer.#spawn();
      return mixer;
    } catch (err) {
      out.close();
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

  /** Put a commentator's voice into a free slot of the mix; MixerFullError when none is free. */
  async addVoice(voice: types.Producer): Promise<void> {
    const slot = this.#slots.find((s) => !s.voice);
    if (!slot) throw new MixerFullError(`every ${this.lang} commentary slot (${this.#slots.length}) is taken`);
    const transport = await this.#router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: false,
      comedia: false,
      appData: { purpose: 'commentary-voice', lang: this.lang },
    });
    slot.voice = { producerId: voice.id, transport };
    try {
      // RTCP to the port after the slot's, where nothing listens: GStreamer only wants the media.
      await transport.connect({ ip: '127.0.0.1', port: slot.port, rtcpPort: slot.port + 1 });
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
    slot.voice = undefined;
    this.#log.info({ producerId, voices: this.voices }, 'voice left the mix');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#respawn);
    for (const slot of this.#slots) slot.voice?.transport.close();
    this.#out.close();
    this.#child?.kill('SIGKILL');
    this.emit('close');
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
