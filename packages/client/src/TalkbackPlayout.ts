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
 * slider): one audio element per voice, muted for a person the commentator muted. Elements and not WebAudio
 * for what reaches the speakers: Chromium's echo canceller removes a peer connection's audio played by a media
 * element from the microphone, but not WebAudio's output (crbug.com/687574) — and talkback must not go back
 * on air. Beside them, WebAudio only listens: each voice → an AnalyserNode (the speaking light, before the
 * mute, so a muted commentator still lights up) and → a gain that follows the same mute → one tap, the
 * talkback as played, for tests and meters. The booth opens the microphone with echo cancellation unless
 * `&raw=1` (then headphones are needed).
 */
export class TalkbackPlayout {
  readonly #ctx: AudioContext;
  /** The talkback as played (every voice after its mute), as a track: tests measure it. Not sent to the speakers. */
  readonly #tap: MediaStreamAudioDestinationNode;
  readonly #voices = new Map<string, Voice>();
  readonly #muted = new Set<string>();
  readonly #samples = new Float32Array(1024);

  constructor(muted: Iterable<string> = []) {
    this.#ctx = new AudioContext();
    this.#tap = this.#ctx.createMediaStreamDestination();
    for (const id of muted) this.#muted.add(id);
  }

  /** The talkback output (every voice after its mute), as one audio track. */
  get output(): MediaStreamTrack {
    return this.#tap.stream.getAudioTracks()[0]!;
  }

  /** Start sound after a user gesture where the browser's autoplay policy held it back. */
  resume(): Promise<void> {
    for (const voice of this.#voices.values()) if (voice.element.paused) void voice.element.play().catch(() => {});
    return this.#ctx.state === 'suspended' ? this.#ctx.resume() : Promise.resolve();
  }

  /** Play exactly these voices: new ones join (muted if their commentator is), gone ones stop. */
  setVoices(voices: readonly TalkbackTrack[]): void {
    const wanted = new Set(voices.map((v) => v.consumerId));
    for (const [id, voice] of this.#voices) if (!wanted.has(id)) this.#drop(id, voice);
    for (const v of voices) {
      if (this.#voices.has(v.consumerId)) continue;
      const stream = new MediaStream([v.track]);
      const muted = this.#muted.has(v.commentator);
      // What the commentator hears (and, played by an element, what the echo canceller knows to remove).
      const element = new Audio();
      element.muted = muted;
      element.srcObject = stream;
      void element.play().catch(() => undefined);
      const source = this.#ctx.createMediaStreamSource(stream);
      const analyser = this.#ctx.createAnalyser();
      analyser.fftSize = this.#samples.length;
      const gain = this.#ctx.createGain();
      gain.gain.value = muted ? 0 : 1;
      source.connect(analyser);
      source.connect(gain);
      gain.connect(this.#tap);
      this.#voices.set(v.consumerId, { commentator: v.commentator, element, source, gain, analyser });
    }
    void this.resume().catch(() => undefined);
  }

  /** Mute or unmute one commentator (every voice of theirs, and the ones a rejoin brings). */
  setMuted(commentator: string, muted: boolean): void {
    if (muted) this.#muted.add(commentator);
    else this.#muted.delete(commentator);
    for (const voice of this.#voices.values()) {
      if (voice.commentator !== commentator) continue;
      voice.element.muted = muted;
      voice.gain.gain.value = muted ? 0 : 1;
    }
  }

  /** The elements playing talkback now: whose voice, and whether it is muted or (wrongly) not playing. */
  playing(): { commentator: string; muted: boolean; paused: boolean }[] {
    return [...this.#voices.values()].map((v) => ({
      commentator: v.commentator,
      muted: v.element.muted,
      paused: v.element.paused,
    }));
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
    voice.element.pause();
    voice.element.srcObject = null;
    this.#voices.delete(id);
  }
}
