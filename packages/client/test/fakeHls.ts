import type { HlsAudioTrack, HlsLike } from '../src/hlsJs.ts';

/** hls.js as far as the session and its clock use it: events by name, the audio tracks and the playing date. */
export class FakeHls implements HlsLike {
  readonly handlers = new Map<string, ((event: string, data: unknown) => void)[]>();
  audioTracks: HlsAudioTrack[] = [];
  audioTrack = 0;
  playingDate: Date | null = null;
  loadSource() {}
  attachMedia() {}
  on(event: string, listener: (event: string, data: unknown) => void) {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), listener]);
  }
  emit(event: string, data: unknown = {}) {
    for (const h of this.handlers.get(event) ?? []) h(event, data);
  }
  destroy() {}
}
