import type { types } from 'mediasoup';
import type { Logger } from '../logger.ts';
import { BoothMonitor } from './BoothMonitor.ts';
import { LanguageMixer, type MixerOptions } from './LanguageMixer.ts';

export interface BoothOptions extends MixerOptions {
  /** Keep a language's track this long after its last commentator left (a reconnect finds it on air). */
  lingerMs: number;
}

export const DEFAULT_BOOTH_OPTIONS: BoothOptions = {
  gstLaunchPath: 'gst-launch-1.0',
  slots: 4,
  bitrateKbps: 48,
  lingerMs: 30_000,
};

/**
 * A stream's commentary on its source router: the commentators' voices, by
 * language, and one LanguageMixer per language on air. The mix happens once,
 * here where the commentators produce (the ingest), and only its output — one
 * track per language — is consumed by viewers and carried by pipes, so a
 * region gets each language once whatever the number of commentators.
 */
export class CommentaryBooth {
  readonly #router: types.Router;
  readonly #opts: BoothOptions;
  readonly #log: Logger;
  /** Called with each language's track when its mixer starts. */
  readonly #onTrack: (track: types.Producer) => void;
  readonly #mixers = new Map<string, Promise<LanguageMixer>>();
  readonly #linger = new Map<string, NodeJS.Timeout>();
  /** Ops' view of the voices: level, loss, RTT per commentator. */
  readonly monitor: BoothMonitor;
  #closed = false;

  constructor(router: types.Router, opts: BoothOptions, log: Logger, onTrack: (track: types.Producer) => void) {
    this.#router = router;
    this.#opts = opts;
    this.#log = log;
    this.#onTrack = onTrack;
    this.monitor = new BoothMonitor(router, log);
  }

  /** Languages whose mixer is up. */
  async mixers(): Promise<LanguageMixer[]> {
    const settled = await Promise.allSettled(this.#mixers.values());
    return settled.flatMap((s) => (s.status === 'fulfilled' && !s.value.closed ? [s.value] : []));
  }

  /** Mix a commentator's voice into `lang`'s track (started on the language's first voice). */
  async addVoice(voice: types.Producer, lang: string): Promise<void> {
    if (this.#closed) throw new Error('the booth is closed');
    clearTimeout(this.#linger.get(lang));
    this.#linger.delete(lang);
    const mixer = await this.#mixer(lang);
    // Its linger ran out while we waited: a new mixer for the language.
    if (mixer.closed) return this.addVoice(voice, lang);
    await mixer.addVoice(voice);
    voice.observer.once('close', () => this.#maybeLinger(mixer));
    await this.monitor.add(voice, lang);
  }

  close(): void {
    this.#closed = true;
    this.monitor.close();
    for (const t of this.#linger.values()) clearTimeout(t);
    for (const pending of this.#mixers.values())
      pending.then(
        (m) => m.close(),
        () => undefined,
      );
    this.#mixers.clear();
  }

  #mixer(lang: string): Promise<LanguageMixer> {
    let pending = this.#mixers.get(lang);
    if (!pending) {
      pending = LanguageMixer.create(this.#router, lang, this.#opts, this.#log);
      const created = pending;
      this.#mixers.set(lang, created);
      const forget = (): void => {
        if (this.#mixers.get(lang) === created) this.#mixers.delete(lang);
      };
      created.then((mixer) => {
        mixer.once('close', forget);
        this.#log.info({ lang }, 'commentary language on air');
        this.#onTrack(mixer.producer);
      }, forget);
    }
    return pending;
  }

  /** The language's last commentator left: its track stays for the linger, then goes off air. */
  #maybeLinger(mixer: LanguageMixer): void {
    if (mixer.voices > 0 || mixer.closed || this.#linger.has(mixer.lang)) return;
    const timer = setTimeout(() => {
      this.#linger.delete(mixer.lang);
      if (mixer.voices > 0) return;
      this.#log.info({ lang: mixer.lang }, 'commentary language off air');
      mixer.close();
    }, this.#opts.lingerMs);
    this.#linger.set(mixer.lang, timer);
  }
}
