import type { StreamRouter } from '../StreamRouter.ts';
import { DelayedProgram } from './DelayedProgram.ts';

interface Entry {
  pending: Promise<DelayedProgram>;
  users: number;
}

/** A user's hold on a language's delayed program; `release()` once (the last release closes the line). */
export interface DelayLease {
  program: DelayedProgram;
  release: () => void;
}

const byStream = new WeakMap<StreamRouter, DelayLines>();

/**
 * Added to D_L while D_L > 0: a player plays its commentary through its own jitter buffer, which a WebRTC
 * viewer measures and adds to its program's target, and a WHEP player cannot report. Calibrated like the
 * booth's VOICE_CAPTURE_MS, by the e2e (commentary-alignment, WHEP half): Chromium's WHEP player ran its
 * picture +56 / +72 / +89.5 ms (medians) ahead of the WebRTC viewer's on the same clicks without it, with
 * the commentary's jitter buffer at 73–99 ms and the video's at 14–31 (its lip sync does not hold the video
 * to the commentary's buffer). With 70 (that first figure), six runs at load 3–20 read WHEP − WebRTC medians
 * −6.5, −20.5, −22, −24, −31.5 and −50 ms (median −23), the WHEP commentary buffer 36–39 ms in four of them:
 * 70 held the picture ~25 ms too long at ordinary load, so 45 centres it.
 */
export const PLAYER_COMMENTARY_BUFFER_MS = 45;

/** The hold for a language whose commentary is `delayMs` late: nothing while none was reported. */
export function holdFor(delayMs: number | undefined): number {
  return delayMs && delayMs > 0 ? delayMs + PLAYER_COMMENTARY_BUFFER_MS : 0;
}

/**
 * The delayed programs of one stream on this node: ONE per language with at least one WHEP session on it,
 * shared by all of them (created on the first, closed with the last, or when the language leaves the air).
 * Each line's hold is the language's D_L as this node knows it (`commentaryDelays()`: the booth's on the
 * ingest, the upstream pipe's on a relay), 0 while none was reported, and follows `commentarydelays`.
 */
export class DelayLines {
  readonly #stream: StreamRouter;
  readonly #lines = new Map<string, Entry>();

  private constructor(stream: StreamRouter) {
    this.#stream = stream;
    stream.on('commentarydelays', (delays) => {
      for (const [lang, entry] of this.#lines) {
        void entry.pending.then((p) => p.setHold(holdFor(delays[lang]))).catch(() => {});
      }
    });
    // A language leaving the air ends its line (its players' commentary consumers closed with the track).
    stream.on('programchanged', () => {
      const onAir = new Set(stream.languages());
      for (const [lang, entry] of this.#lines) if (!onAir.has(lang)) this.#drop(lang, entry);
    });
    stream.once('close', () => {
      for (const [lang, entry] of this.#lines) this.#drop(lang, entry);
    });
  }

  static of(stream: StreamRouter): DelayLines {
    let lines = byStream.get(stream);
    if (!lines) {
      lines = new DelayLines(stream);
      byStream.set(stream, lines);
    }
    return lines;
  }

  /** The languages with a line now (tests, ops). */
  languages(): string[] {
    return [...this.#lines.keys()];
  }

  /** The line of `lang`, built on its first user. */
  async acquire(lang: string): Promise<DelayLease> {
    let entry = this.#lines.get(lang);
    if (!entry) {
      const stream = this.#stream;
      const pending = DelayedProgram.create(
        stream.router,
        stream.programProducers(),
        lang,
        holdFor(stream.commentaryDelays()[lang]),
        { stream: stream.stream },
      );
      const created: Entry = { pending, users: 0 };
      entry = created;
      this.#lines.set(lang, created);
      pending.then(
        (program) => {
          // Closed by itself (the program went away): the next user builds a new one.
          program.once('close', () => {
            if (this.#lines.get(lang) === created) this.#lines.delete(lang);
          });
          // The delays may have moved while it was being built.
          program.setHold(holdFor(stream.commentaryDelays()[lang]));
        },
        () => {
          if (this.#lines.get(lang) === created) this.#lines.delete(lang);
        },
      );
    }
    const held = entry;
    held.users++;
    let program: DelayedProgram;
    try {
      program = await held.pending;
    } catch (err) {
      held.users--;
      throw err;
    }
    if (program.closed) {
      held.users--;
      if (this.#lines.get(lang) === held) this.#lines.delete(lang);
      return this.acquire(lang);
    }
    let released = false;
    return {
      program,
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        if (held.users === 0) this.#drop(lang, held);
      },
    };
  }

  #drop(lang: string, entry: Entry): void {
    if (this.#lines.get(lang) === entry) this.#lines.delete(lang);
    void entry.pending.then((p) => p.close()).catch(() => {});
  }
}
