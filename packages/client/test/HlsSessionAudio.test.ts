import { describe, expect, it } from 'vitest';
import { audioTrackFor, type HlsAudioTrack, HlsSession } from '../src/HlsSession.ts';
import { ScoreFeed } from '../src/ScoreFeed.ts';
import { FakeHls } from './fakeHls.ts';

/** The multivariant playlist's audio group as hls.js lists it (EXT-X-MEDIA TYPE=AUDIO). */
const TRACKS: HlsAudioTrack[] = [
  { name: 'Venue sound only', default: true },
  { name: 'Español', lang: 'es' },
  { name: 'English', lang: 'en' },
];

const fakeVideo = () =>
  ({
    currentTime: 0,
    seekable: { length: 0 },
    addEventListener() {},
    removeEventListener() {},
    play: async () => undefined,
  }) as unknown as HTMLVideoElement;

async function startSession(language: () => string | null | undefined) {
  const hls = new FakeHls();
  const session = new HlsSession({
    nodeUrl: 'http://relay',
    stream: 'match',
    token: 't',
    scoreFeed: new ScoreFeed({ stream: 'match' }),
    hlsFactory: async () => hls,
    fetch: (async () => new Response('', { status: 503 })) as typeof fetch,
    scoresPollMs: 60_000,
    language,
  });
  await session.start(fakeVideo());
  return { hls, session };
}

describe('HLS audio renditions follow the viewer language', () => {
  it('maps a choice to a track: the language (any case), venue only for null, none for no choice or a language not on air', () => {
    expect(audioTrackFor(TRACKS, 'en')).toBe(2);
    expect(audioTrackFor(TRACKS, 'ES')).toBe(1);
    expect(audioTrackFor(TRACKS, null)).toBe(0);
    expect(audioTrackFor(TRACKS, undefined)).toBeUndefined();
    expect(audioTrackFor(TRACKS, 'fr')).toBeUndefined();
    expect(audioTrackFor([], null)).toBeUndefined();
  });

  it("selects the viewer's language once hls.js knows the audio group, and switches on a new choice", async () => {
    let choice: string | null | undefined = 'en';
    const { hls, session } = await startSession(() => choice);
    hls.audioTracks = TRACKS;
    hls.emit('hlsAudioTracksUpdated', { audioTracks: TRACKS });
    expect(hls.audioTrack).toBe(2);
    expect(session.language).toBe('en');
    choice = 'es';
    expect(session.setLanguage('es')).toBe(true);
    expect(hls.audioTrack).toBe(1);
    expect(session.setLanguage(null)).toBe(true);
    expect(hls.audioTrack).toBe(0);
    expect(session.language).toBeNull();
    // A language not in the playlist (on air after the session started): nothing changes.
    expect(session.setLanguage('fr')).toBe(false);
    expect(hls.audioTrack).toBe(0);
    session.close();
  });

  it('falls back to the venue sound when a language playlist goes away (it left the air)', async () => {
    const { hls, session } = await startSession(() => 'es');
    hls.audioTracks = TRACKS;
    hls.emit('hlsAudioTracksUpdated');
    expect(hls.audioTrack).toBe(1);
    hls.emit('hlsError', { fatal: false, details: 'audioTrackLoadError' });
    expect(hls.audioTrack).toBe(0);
    expect(session.state).not.toBe('failed');
    session.close();
  });
});
