import { describe, expect, it } from 'vitest';
import { ScoreFeed } from '../src/ScoreFeed.ts';
import { rtpMediaTime, ScreenScore } from '../src/ScreenScore.ts';
import { score } from './fakeNode.ts';

function setup() {
  let now = 0;
  const feed = new ScoreFeed({ stream: 'match' });
  const screen = new ScreenScore(feed, () => now);
  const shown: (number | null)[] = [];
  screen.on('change', (s) => shown.push(s?.seq ?? null));
  return {
    feed,
    screen,
    shown,
    advance: (ms: number) => {
      now += ms;
    },
    push(seq: number) {
      feed.push(score(seq));
      screen.updated();
    },
  };
}

describe('ScreenScore', () => {
  it('shows the latest update while no frame is placed (no picture to spoil)', () => {
    const { push, screen } = setup();
    push(1);
    push(2);
    expect(screen.current?.seq).toBe(2);
  });

  it('holds an update back until the frame on screen reaches its mediaTime', () => {
    const { push, screen, shown } = setup();
    push(1); // mediaTime 1000
    screen.frame(1500);
    push(2); // mediaTime 2000: ahead of the picture
    expect(screen.current?.seq).toBe(1);
    screen.frame(1966.6666666666667);
    expect(screen.current?.seq).toBe(1);
    // Frame 60 at 30 fps: 60 * 3000 ticks / 90 may land a hair under 2000.
    screen.frame(1999.9999999);
    expect(screen.current?.seq).toBe(2);
    expect(shown).toEqual([1, 2]);
  });

  it('shows the score of the frame a rewinding viewer watches, backfilled history included', () => {
    const { feed, push, screen } = setup();
    push(5);
    push(6);
    expect(feed.backfill([score(3), score(4), score(5)])).toBe(2);
    expect(feed.lastSeq).toBe(6);
    screen.frame(4200);
    expect(screen.current?.seq).toBe(4);
    screen.frame(500);
    expect(screen.current).toBeNull();
  });

  it('goes back to the latest update once frames stop being presented', () => {
    const { push, screen, advance } = setup();
    push(1);
    screen.frame(1000);
    push(2);
    expect(screen.current?.seq).toBe(1);
    advance(1500);
    push(3);
    expect(screen.current?.seq).toBe(3);
  });

  it('shows the latest update for a frame that cannot be placed', () => {
    const { push, screen } = setup();
    push(1);
    screen.frame(1000);
    push(2);
    screen.frame(undefined);
    expect(screen.current?.seq).toBe(2);
  });
});

describe('rtpMediaTime', () => {
  it('maps 90 kHz ticks since frame 0 to ms', () => {
    expect(rtpMediaTime(3000 * 45, 0)).toBeCloseTo(1500, 6);
  });

  it('unwraps the 32-bit timestamp next to the hint', () => {
    const wrapMs = (2 ** 32 * 1000) / 90_000;
    expect(rtpMediaTime(900, wrapMs + 5)).toBeCloseTo(wrapMs + 10, 3);
    expect(rtpMediaTime(2 ** 32 - 900, wrapMs + 5)).toBeCloseTo(wrapMs - 10, 3);
    expect(rtpMediaTime(2 ** 32 - 900, 3)).toBeCloseTo(wrapMs - 10, 3);
  });
});
