import { describe, expect, it } from 'vitest';
import { HlsStreamClock } from '../src/hlsStreamClock.ts';
import { FakeHls } from './fakeHls.ts';

const main = (sn: number, cc = 0) => ({ frag: { sn, cc, type: 'main' } });
/** What the packager wrote: decode time 10 s is mediaTime 333.33 ms from msn 1 on. */
const ANCHOR = { pdt: 1_700_000_000_000, decodeTime: 10, mediaTime: 1000 / 3, msn: 1 };

function clockWithHls(): { clock: HlsStreamClock; hls: FakeHls } {
  const clock = new HlsStreamClock();
  const hls = new FakeHls();
  clock.follow(hls);
  clock.setTimeline([ANCHOR]);
  return { clock, hls };
}

describe('HlsStreamClock', () => {
  it('places a frame through the initPTS and the anchor of its segment', () => {
    const { clock, hls } = clockWithHls();
    hls.emit('hlsInitPtsFound', { ...main(8), initPTS: 900_000, timescale: 90_000 });
    hls.emit('hlsFragParsed', main(8));
    hls.emit('hlsFragChanged', main(8));
    // Element time 7.5 s + initPTS 10 s = decode time 17.5 s: 7.5 s after the anchor.
    expect(clock.streamTimeAt(7.5, hls)).toBeCloseTo(1000 / 3 + 7500, 6);
  });

  it('a frame of a fragment remuxed before hls.js re-mapped initPTS is placed with the initPTS it was remuxed with', () => {
    const { clock, hls } = clockWithHls();
    // Live edge first, then the rewind loads older fragments with the same initPTS…
    hls.emit('hlsInitPtsFound', { ...main(9), initPTS: 900_000, timescale: 90_000 });
    hls.emit('hlsFragParsed', main(9));
    hls.emit('hlsFragParsed', main(3));
    hls.emit('hlsFragParsed', main(4));
    // …until fragment 5's decode time is ≥ 1 s off its playlist position (a gap in the media):
    // hls.js re-maps, and buffers 5 onwards with the new initPTS, while 3 and 4 stay as they were.
    hls.emit('hlsInitPtsFound', { ...main(5), initPTS: 1_008_000, timescale: 90_000 });
    hls.emit('hlsFragParsed', main(5));
    // An alternate-audio fragment says nothing about the video's initPTS.
    hls.emit('hlsFragParsed', { frag: { sn: 4, cc: 0, type: 'audio' } });

    hls.emit('hlsFragChanged', main(4));
    expect(clock.streamTimeAt(3.5, hls)).toBeCloseTo(1000 / 3 + 3500, 6);
    expect(clock.state.playingInitPts).toBe(10);
    hls.emit('hlsFragChanged', main(5));
    // Element time 3.4 s with initPTS 11.2 s = decode time 14.6 s.
    expect(clock.streamTimeAt(3.4, hls)).toBeCloseTo(1000 / 3 + 4600, 6);
    expect(clock.state.initPts).toEqual([[0, 11.2]]);
    expect(clock.state.initPtsFound).toBe(2);
  });

  it('a fragment parsed before its initPTS was known falls back to the latest of its discontinuity', () => {
    const { clock, hls } = clockWithHls();
    hls.emit('hlsFragParsed', main(2));
    hls.emit('hlsInitPtsFound', { ...main(3), initPTS: 900_000, timescale: 90_000 });
    hls.emit('hlsFragChanged', main(2));
    expect(clock.streamTimeAt(1, hls)).toBeCloseTo(1000 / 3 + 1000, 6);
    expect(clock.state.playingInitPts).toBeNull();
  });

  it('without initPTS, a frame is placed by the program date time at the playhead', () => {
    const { clock, hls } = clockWithHls();
    expect(clock.streamTimeAt(1, hls)).toBeUndefined();
    hls.playingDate = new Date(ANCHOR.pdt + 2000);
    expect(clock.streamTimeAt(1, hls)).toBeCloseTo(1000 / 3 + 2000, 6);
  });
});
