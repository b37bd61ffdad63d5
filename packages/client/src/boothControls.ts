/**
 * The booth's pure parts: what a microphone failure means in plain words, and
 * when the voice is live (on-air toggle × push-to-talk). Kept free of the DOM so
 * unit tests cover them; the booth page wires them to buttons and keys.
 */

/** A getUserMedia / device failure explained to a commentator (no DOMException names). */
export function microphoneErrorText(error: unknown): string {
  const name = error instanceof Error || isNamed(error) ? (error as { name: string }).name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
      return 'The browser was not allowed to use the microphone. Click the lock or microphone icon in the address bar, allow the microphone for this site, then try again.';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return 'No microphone was found (or the one chosen was unplugged). Plug one in, pick it in the list, then try again.';
    case 'NotReadableError':
    case 'TrackStartError':
      return 'The microphone is there but cannot be opened: another application (a call, a recorder) may be using it. Close it, or pick another microphone.';
    case 'SecurityError':
      return 'This page cannot use a microphone: open the booth over https (or on localhost).';
    case 'AbortError':
      return 'The microphone stopped while starting. Try again, or pick another microphone.';
    default:
      return `The microphone could not be started${error instanceof Error && error.message ? `: ${error.message}` : '.'}`;
  }
}

function isNamed(value: unknown): value is { name: string } {
  return typeof value === 'object' && value !== null && typeof (value as { name?: unknown }).name === 'string';
}

/** 'open': the voice is live whenever on air; 'push-to-talk': only while a key or the button is held. */
export type TalkMode = 'open' | 'push-to-talk';

/**
 * Push-to-talk held by any of several sources (the Space key, the on-screen
 * button, a pointer): talking until the last one lets go. A key's auto-repeat
 * presses again and changes nothing; a release of a source never pressed is ignored.
 */
export class PushToTalk {
  readonly #holding = new Set<string>();

  get held(): boolean {
    return this.#holding.size > 0;
  }

  /** Returns true when `held` changed. */
  press(source: string): boolean {
    const was = this.held;
    this.#holding.add(source);
    return was !== this.held;
  }

  /** Returns true when `held` changed. */
  release(source: string): boolean {
    const was = this.held;
    this.#holding.delete(source);
    return was !== this.held;
  }

  /** Window blur: a key released while another window had focus never sends its keyup. */
  releaseAll(): boolean {
    const was = this.held;
    this.#holding.clear();
    return was;
  }
}

/** Whether the microphone's sound goes out now. */
export function voiceLive(onAir: boolean, mode: TalkMode, held: boolean): boolean {
  return onAir && (mode === 'open' || held);
}

/** The on-air light: red while the voice goes out, amber while on air but silent (push-to-talk up), off otherwise. */
export type OnAirLight = 'on-air' | 'standby' | 'off';

export function onAirLight(publisherLive: boolean, live: boolean): OnAirLight {
  if (!publisherLive) return 'off';
  return live ? 'on-air' : 'standby';
}

/** RMS of an AnalyserNode's time-domain samples in dBFS (floor −100): the booth's level meter. */
export function levelDbfs(samples: Float32Array): number {
  if (samples.length === 0) return -100;
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / samples.length);
  return rms > 0 ? Math.max(-100, 20 * Math.log10(rms)) : -100;
}

/** Above this level (dBFS) a talkback voice shows as speaking: DTX silence and comfort noise stay well below. */
export const SPEAKING_DBFS = -50;

export function speaking(levelDb: number): boolean {
  return levelDb > SPEAKING_DBFS;
}

/** Where a booth page remembers its talkback mutes: sessionStorage (this tab's session), or any such store. */
export type MuteStore = Pick<Storage, 'getItem' | 'setItem'>;

/**
 * The booth's per-person talkback mutes, by commentator (their session id: a mute outlives their rejoin),
 * remembered for the page's session in `store` under one key per stream. A store that fails (private mode,
 * quota) only loses the memory, never the mute.
 */
export class TalkbackMutes {
  readonly #store: MuteStore | undefined;
  readonly #key: string;
  readonly #muted: Set<string>;

  constructor(stream: string, store?: MuteStore) {
    this.#store = store;
    this.#key = `mm.talkback.muted.${stream}`;
    this.#muted = new Set(readIds(store, this.#key));
  }

  get muted(): ReadonlySet<string> {
    return this.#muted;
  }

  has(commentator: string): boolean {
    return this.#muted.has(commentator);
  }

  /** Flip one commentator's mute; returns whether they are muted now. */
  toggle(commentator: string): boolean {
    const muted = !this.#muted.has(commentator);
    if (muted) this.#muted.add(commentator);
    else this.#muted.delete(commentator);
    try {
      this.#store?.setItem(this.#key, JSON.stringify([...this.#muted]));
    } catch {
      // Not remembered across a reload; muted all the same.
    }
    return muted;
  }
}

function readIds(store: MuteStore | undefined, key: string): string[] {
  try {
    const parsed: unknown = JSON.parse(store?.getItem(key) ?? '[]');
    return Array.isArray(parsed) ? parsed.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
