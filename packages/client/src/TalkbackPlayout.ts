import { levelDbfs } from './boothControls.ts';
import type { TalkbackTrack } from './Talkback.ts';

type Voice = {
  commentator: string;
  element: HTMLAudioElement;
  source: MediaStreamAudioSourceNode;
  gain: GainNode;
  analyser: AnalyserNode;
};

/**
 * Plays the booth's talkback through the page, apart from the match sound (the video element and its
 * slider): each voice → its own gain (the per-person mute) → one output to the speakers. WebAudio rather
 * than one audio element per voice, so a mute is a gain at 0 and the booth can show who is speaking (an
 * AnalyserNode before the gain: a muted commentator still lights up). The browser's echo canceller keeps
 * what plays here out of the microphone (the booth opens it with echoCancellation unless `&raw=1`).
 */
export class TalkbackPlayout {
  readonly #ctx: AudioContext;
  readonly #out: GainNode;
  /** What the page plays for talkback, as a track (tests measure it; a recorder could take it). */
  readonly #tap: MediaStreamAudioDestinationNode;
  readonly #voices = new Map<string, Voice>();
  readonly #muted = new Set<string>();
  readonly #samples = new Float32Array(1024);

  constructor(muted: Iterable<string> = []) {
    this.#ctx = new AudioContext({ latencyHint: 'interactive' });
    this.#out = this.#ctx.createGain();
    this.#tap = this.#ctx.createMediaStreamDestination();
    this.#out.connect(this.#ctx.destination);
    this.#out.connect(this.#tap);
    for (const id of muted) this.#muted.add(id);
  }

  /** The talkback output (every voice after its mute), as one audio track. */
  get output(): MediaStreamTrack {
    return this.#tap.stream.getAudioTracks()[0]!;
  }

  /** Start sound after a user gesture where the browser's autoplay policy held the context suspended. */
  resume(): Promise<void> {
    return this.#ctx.state === 'suspended' ? this.#ctx.resume() : Promise.resolve();
  }

  /** Play exactly these voices: new ones join (muted if their commentator is), gone ones stop. */
  setVoices(voices: readonly TalkbackTrack[]): void {
    const wanted = new Set(voices.map((v) => v.consumerId));
    for (const [id, voice] of this.#voices) if (!wanted.has(id)) this.#drop(id, voice);
    for (const v of voices) {
      if (this.#voices.has(v.consumerId)) continue;
      const stream = new MediaStream([v.track]);
      // Chromium hands a remote WebRTC track's samples to WebAudio only while a media element plays it.
      const element = new Audio();
      element.muted = true;
      element.srcObject = stream;
      void element.play().catch(() => undefined);
      const source = this.#ctx.createMediaStreamSource(stream);
      const analyser = this.#ctx.createAnalyser();
      analyser.fftSize = this.#samples.length;
      const gain = this.#ctx.createGain();
      gain.gain.value = this.#muted.has(v.commentator) ? 0 : 1;
      source.connect(analyser);
      source.connect(gain);
      gain.connect(this.#out);
      this.#voices.set(v.consumerId, { commentator: v.commentator, element, source, gain, analyser });
    }
    void this.resume().catch(() => undefined);
  }

  /** Mute or unmute one commentator (every voice of theirs, and the ones a rejoin brings). */
  setMuted(commentator: string, muted: boolean): void {
    if (muted) this.#muted.add(commentator);
    else this.#muted.delete(commentator);
    for (const voice of this.#voices.values())
      if (voice.commentator === commentator) voice.gain.gain.value = muted ? 0 : 1;
  }

  /** Each voice's level now (dBFS, before its mute), by consumer id: the speaking indicator. */
  levels(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, voice] of this.#voices) {
      voice.analyser.getFloatTimeDomainData(this.#samples);
      out.set(id, levelDbfs(this.#samples));
    }
    return out;
  }

  close(): void {
    for (const [id, voice] of this.#voices) this.#drop(id, voice);
    void this.#ctx.close().catch(() => undefined);
  }

  #drop(id: string, voice: Voice): void {
    voice.source.disconnect();
    voice.gain.disconnect();
    voice.element.srcObject = null;
    this.#voices.delete(id);
  }
}
