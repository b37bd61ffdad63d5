import type { BoothCommentator } from '@matchmesh/protocol';
import type { types } from 'mediasoup';
import type { Logger } from '../logger.ts';

interface Voice {
  producer: types.Producer;
  lang: string;
  since: number;
  /** Latest AudioLevelObserver window (dBov); undefined before the first. */
  level?: number;
  /** The voice's hold before the mix now (ms; VoiceHold). */
  holdMs?: () => number | undefined;
}

/** mediasoup's floor of the audio level (dBov): silence. */
const SILENT_DBOV = -127;
/** The level window: long enough to steady a voice's level, short enough for a live ops view. */
const LEVEL_INTERVAL_MS = 500;

/**
 * What ops see of a booth's commentators: each voice's language, time on
 * air, audio level (one AudioLevelObserver on the source router: mediasoup
 * averages the RFC 6464 level header every voice carries, no decoding), and
 * its receive figures (loss, RTT, jitter, bit rate) from the voice producer's
 * RTP stream stats.
 */
export class BoothMonitor {
  readonly #router: types.Router;
  readonly #log: Logger;
  readonly #voices = new Map<string, Voice>();
  #observer: Promise<types.AudioLevelObserver | undefined> | undefined;

  constructor(router: types.Router, log: Logger) {
    this.#router = router;
    this.#log = log;
  }

  /** A commentator on air in `lang` (forgotten when the voice closes); `holdMs` answers its hold before the mix. */
  async add(producer: types.Producer, lang: string, holdMs?: () => number | undefined): Promise<void> {
    this.#voices.set(producer.id, { producer, lang, since: Date.now(), holdMs });
    producer.observer.once('close', () => this.#voices.delete(producer.id));
    const observer = await this.#levels();
    if (observer && !observer.closed && !producer.closed) {
      await observer.addProducer({ producerId: producer.id }).catch((err: unknown) => {
        this.#log.debug({ err, producerId: producer.id }, 'voice level not observed');
      });
    }
  }

  /** Every commentator on air, in the order they came. */
  async commentators(): Promise<BoothCommentator[]> {
    const out: BoothCommentator[] = [];
    for (const v of this.#voices.values()) {
      if (v.producer.closed) continue;
      const stats = (await v.producer.getStats().catch(() => []))[0];
      out.push({
        id: v.producer.id,
        lang: v.lang,
        since: v.since,
        levelDbov: v.level ?? null,
        packets: stats?.packetCount ?? 0,
        packetsLost: stats?.packetsLost ?? 0,
        // RTCP's loss fraction is in 1/256 units.
        lossPercent: Math.round(((stats?.fractionLost ?? 0) / 256) * 1000) / 10,
        rttMs: stats?.roundTripTime ? Math.round(stats.roundTripTime * 10) / 10 : null,
        jitter: stats?.jitter ?? 0,
        bitrate: stats?.bitrate ?? 0,
        holdMs: v.holdMs?.(),
      });
    }
    return out;
  }

  close(): void {
    void this.#observer?.then((o) => o?.close());
  }

  #levels(): Promise<types.AudioLevelObserver | undefined> {
    this.#observer ??= this.#router
      .createAudioLevelObserver({ maxEntries: 64, threshold: SILENT_DBOV, interval: LEVEL_INTERVAL_MS })
      .then((observer) => {
        observer.on('volumes', (volumes) => {
          // Voices not in the list were below the threshold: silent this window.
          for (const v of this.#voices.values()) v.level = SILENT_DBOV;
          for (const { producer, volume } of volumes) {
            const v = this.#voices.get(producer.id);
            if (v) v.level = volume;
          }
        });
        observer.on('silence', () => {
          for (const v of this.#voices.values()) v.level = SILENT_DBOV;
        });
        return observer;
      })
      .catch((err: unknown) => {
        this.#log.warn({ err }, 'the booth has no audio level observer');
        return undefined;
      });
    return this.#observer;
  }
}
