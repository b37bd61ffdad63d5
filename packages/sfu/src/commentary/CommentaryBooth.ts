import type { types } from 'mediasoup';
import type { Logger } from '../logger.ts';
import { delayMoved, languageDelayMs, type ViewDelay, voiceDelayMs, voiceHoldMs } from './alignment.ts';
import { BoothMonitor } from './BoothMonitor.ts';
import { LanguageMixer, type MixerOptions } from './LanguageMixer.ts';

export interface BoothOptions extends MixerOptions {
  /** Keep a language's track this long after its last commentator left (a reconnect finds it on air). */
  lingerMs: number;
}

/** At most one publication of the languages' delays per this interval (ms). */
const PUBLISH_INTERVAL_MS = 1000;

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
  /** The mixers up, by language (their measured lag feeds the voices' delays). */
  readonly #ready = new Map<string, LanguageMixer>();
  readonly #linger = new Map<string, NodeJS.Timeout>();
  /** Each voice's language and its view delay as last reported (alignment.ts). */
  readonly #voiceViews = new Map<string, { lang: string; view: ViewDelay }>();
  /** The delay per language last published (viewers' playout follows it). */
  #published: Record<string, number> = {};
  #publishTimer: NodeJS.Timeout | undefined;
  #lastPublish = 0;
  /** Called with every language's delay when one of them moved. */
  onDelays: ((delays: Record<string, number>) => void) | undefined;
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
    voice.observer.once('close', () => {
      this.#maybeLinger(mixer);
      if (this.#voiceViews.delete(voice.id)) this.#schedulePublish();
    });
    await this.monitor.add(voice, lang, () => mixer.holdMs(voice.id));
  }

  /**
   * A commentator's view delay, as their booth page measured it: their voice's delay against the picture is
   * that plus half the round trip, the capture floor and the mixer's measured lag (alignment.ts); the
   * language's is its slowest voice's, and the others are held the difference before the mix.
   * Answers the language's delay as last published (ms; publications are at most a second apart).
   */
  setViewDelay(voiceId: string, lang: string, view: ViewDelay): number {
    this.#voiceViews.set(voiceId, { lang, view });
    this.#schedulePublish();
    return this.#published[lang] ?? 0;
  }

  /** How late each language's commentary is against the picture (ms), as last published. */
  delays(): Record<string, number> {
    return { ...this.#published };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#publishTimer);
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
        this.#ready.set(lang, mixer);
        mixer.once('close', () => {
          forget();
          if (this.#ready.get(lang) === mixer) this.#ready.delete(lang);
        });
        this.#log.info({ lang }, 'commentary language on air');
        this.#onTrack(mixer.producer);
      }, forget);
    }
    return pending;
  }

  /**
   * Publish now, or once the last publication is PUBLISH_INTERVAL_MS old: every move goes to each viewer of
   * the stream, so a commentator's page reporting faster than once a second (or flooding) costs no more.
   */
  #schedulePublish(): void {
    if (this.#publishTimer || this.#closed) return;
    const wait = this.#lastPublish + PUBLISH_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      this.#publishDelays();
      return;
    }
    this.#publishTimer = setTimeout(() => {
      this.#publishTimer = undefined;
      if (!this.#closed) this.#publishDelays();
    }, wait);
  }

  #publishDelays(): void {
    this.#lastPublish = Date.now();
    const byLang = new Map<string, Map<string, number>>();
    for (const [voiceId, { lang, view }] of this.#voiceViews) {
      const voices = byLang.get(lang) ?? new Map<string, number>();
      byLang.set(lang, voices);
      // The mixer's share is the calibrated one, not the live estimate (LanguageMixer.mixerLagMs, shown in the
      // booth state): in the alignment e2e the estimate read 56–137 ms while the clicks showed the mixer's real
      // share steady, so applying it put reactions up to 85 ms early; the calibrated share kept the same runs
      // within ±18 ms. One language's voices share the mixer, so equalising them (the holds) does not need it.
      voices.set(voiceId, voiceDelayMs(view));
    }
    const next: Record<string, number> = {};
    let moved = false;
    for (const [lang, voices] of byLang) {
      const delay = languageDelayMs(voices.values());
      const previous = this.#published[lang];
      next[lang] = delayMoved(previous, delay) ? delay : (previous ?? delay);
      moved ||= next[lang] !== previous;
      // Equalise: each voice held so that it reaches the track with the language's published delay.
      const mixer = this.#ready.get(lang);
      for (const [voiceId, d] of voices) mixer?.setHold(voiceId, voiceHoldMs(next[lang]!, d));
    }
    moved ||= Object.keys(this.#published).some((lang) => !(lang in next));
    if (!moved) return;
    this.#published = next;
    this.#log.info({ delays: next }, 'commentary delay against the picture');
    this.onDelays?.({ ...next });
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
