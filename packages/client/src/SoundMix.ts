/**
 * The viewer's commentary/venue balance: −1 is the venue sound alone, 0 both
 * at full level (what the browser plays when it mixes the tracks itself), +1
 * the commentary alone. The side the slider moves away from is attenuated
 * linearly in amplitude: at ±0.5 it is 6 dB down, the other side untouched.
 */
export function balanceGains(balance: number): { venue: number; commentary: number } {
  const b = Number.isFinite(balance) ? Math.max(-1, Math.min(1, balance)) : 0;
  return { venue: b > 0 ? 1 - b : 1, commentary: b < 0 ? 1 + b : 1 };
}

/** An audio track of the WebRTC session and what it carries ('program': the venue sound; 'commentary'). */
export interface SoundTrack {
  track: MediaStreamTrack;
  source: string;
}

type Source = { node: MediaStreamAudioSourceNode; source: string };

/**
 * Plays the WebRTC session's audio through WebAudio so the commentary and the
 * venue sound get their own gain (a media element has one volume for all of
 * its tracks): each track → its side's GainNode → the output's GainNode (the
 * page's mute, and silence while the picture is on HLS, whose element plays
 * its own premixed audio) → the speakers. The element showing the stream
 * stays muted but must keep playing it: Chromium feeds a remote track's
 * samples to WebAudio only while an element plays it. Both go through the
 * browser's receive-side audio/video sync first, so lip sync holds; WebAudio
 * adds its own output latency (tens of ms) to the sound.
 */
export class SoundMix {
  readonly #ctx: AudioContext;
  readonly #venue: GainNode;
  readonly #commentary: GainNode;
  readonly #output: GainNode;
  /** The mix before the output gain (mute): what a test measures. */
  readonly #tap: MediaStreamAudioDestinationNode;
  readonly #sources = new Map<string, Source>();
  #balance = 0;
  #muted = true;
  #playing = true;

  constructor(ctx: AudioContext = new AudioContext()) {
    this.#ctx = ctx;
    this.#venue = ctx.createGain();
    this.#commentary = ctx.createGain();
    this.#output = ctx.createGain();
    this.#tap = ctx.createMediaStreamDestination();
    for (const side of [this.#venue, this.#commentary]) {
      side.connect(this.#output);
      side.connect(this.#tap);
    }
    this.#output.connect(ctx.destination);
    this.#apply();
  }

  get balance(): number {
    return this.#balance;
  }

  /** The mix as a stream, before the page's mute (tests measure the balance on it). */
  get tap(): MediaStream {
    return this.#tap.stream;
  }

  /** The session's audio tracks now (a new session, a language's track added or gone). */
  setTracks(tracks: readonly SoundTrack[]): void {
    const wanted = new Map(tracks.map((t) => [t.track.id, t]));
    for (const [id, s] of this.#sources) {
      if (wanted.get(id)?.source === s.source) continue;
      s.node.disconnect();
      this.#sources.delete(id);
    }
    for (const [id, t] of wanted) {
      if (this.#sources.has(id) || t.track.readyState === 'ended') continue;
      const node = this.#ctx.createMediaStreamSource(new MediaStream([t.track]));
      node.connect(t.source === 'commentary' ? this.#commentary : this.#venue);
      this.#sources.set(id, { node, source: t.source });
    }
  }

  setBalance(balance: number): void {
    this.#balance = Math.max(-1, Math.min(1, Number.isFinite(balance) ? balance : 0));
    this.#apply();
  }

  setMuted(muted: boolean): void {
    this.#muted = muted;
    this.#apply();
  }

  /** False while the picture is on HLS: its element plays the sound then. */
  setPlaying(playing: boolean): void {
    this.#playing = playing;
    this.#apply();
  }

  /** Starts the audio output (browsers want a user gesture before an AudioContext sounds). */
  async resume(): Promise<void> {
    if (this.#ctx.state === 'suspended') await this.#ctx.resume();
  }

  close(): void {
    for (const s of this.#sources.values()) s.node.disconnect();
    this.#sources.clear();
    void this.#ctx.close().catch(() => undefined);
  }

  #apply(): void {
    const gains = balanceGains(this.#balance);
    // setTargetAtTime: a short ramp, no click when the slider moves.
    const now = this.#ctx.currentTime;
    this.#venue.gain.setTargetAtTime(gains.venue, now, 0.015);
    this.#commentary.gain.setTargetAtTime(gains.commentary, now, 0.015);
    this.#output.gain.setTargetAtTime(this.#muted || !this.#playing ? 0 : 1, now, 0.015);
  }
}
