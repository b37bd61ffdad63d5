import { afterEach, describe, expect, it, vi } from 'vitest';
import { multivariantLanguages, sameLanguages, watchLanguages } from '../src/hlsLanguages.ts';

const GROUP = [
  '#EXTM3U',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Venue sound only",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="t/x/audio/media.m3u8"',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",LANGUAGE="es",NAME="Español",DEFAULT=NO,URI="t/x/audio-es/media.m3u8"',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",LANGUAGE="en-GB",NAME="English",DEFAULT=NO,URI="t/x/audio-en-GB/media.m3u8"',
  '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="de",NAME="Deutsch",URI="subs.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=922128,AUDIO="audio"',
  't/x/v0/media.m3u8',
].join('\r\n');

describe('multivariantLanguages', () => {
  it('lists the LANGUAGE of each audio rendition (not the venue one, not subtitles), lower case, sorted', () => {
    expect(multivariantLanguages(GROUP)).toEqual(['en-gb', 'es']);
  });

  it('is empty without an audio group (no commentary on air)', () => {
    expect(multivariantLanguages('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nr0/media.m3u8\n')).toEqual([]);
  });
});

describe('sameLanguages', () => {
  it('compares as sets, any case', () => {
    expect(sameLanguages(['es', 'en-GB'], ['en-gb', 'es'])).toBe(true);
    expect(sameLanguages(['es'], ['es', 'fr'])).toBe(false);
    expect(sameLanguages([], [])).toBe(true);
  });
});

describe('watchLanguages', () => {
  afterEach(() => vi.useRealTimers());

  const answer = (text: string) => ({ ok: true, text: async () => text }) as Response;

  it('reads the playlist each interval and says when it lists other languages than hls.js has', async () => {
    vi.useFakeTimers();
    let playlist = GROUP;
    const fetch = vi.fn(async () => answer(playlist));
    const changed = vi.fn();
    let current: string[] | null = null;
    const stop = watchLanguages({
      url: () => 'http://relay/index.m3u8',
      current: () => current,
      changed,
      intervalMs: 1000,
      fetch,
    });
    // Nothing to compare before hls.js has read the playlist: no request.
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetch).not.toHaveBeenCalled();
    current = ['es', 'en-GB'];
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(changed).not.toHaveBeenCalled();
    playlist = `${GROUP}\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",LANGUAGE="fr",NAME="Français",URI="a/media.m3u8"`;
    await vi.advanceTimersByTimeAsync(1000);
    expect(changed).toHaveBeenLastCalledWith(['en-gb', 'es', 'fr']);
    stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it('keeps polling after a failed request', async () => {
    vi.useFakeTimers();
    const fetch = vi.fn(async () => {
      throw new Error('network');
    });
    const stop = watchLanguages({ url: () => 'u', current: () => [], changed: vi.fn(), intervalMs: 500, fetch });
    await vi.advanceTimersByTimeAsync(1500);
    expect(fetch).toHaveBeenCalledTimes(3);
    stop();
  });
});
