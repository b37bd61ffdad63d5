import { describe, expect, it } from 'vitest';
import { balanceGains, SoundMix } from '../src/SoundMix.ts';

/** A stand-in for the WebAudio graph: records connections and each gain's target. */
class FakeNode {
  readonly outs = new Set<FakeNode>();
  gain = { value: 1, setTargetAtTime: (v: number) => (this.gain.value = v) };
  connect(to: FakeNode) {
    this.outs.add(to);
  }
  disconnect() {
    this.outs.clear();
  }
}

function fakeContext() {
  const destination = new FakeNode();
  const sources: FakeNode[] = [];
  const ctx = {
    currentTime: 0,
    state: 'suspended',
    destination,
    createGain: () => new FakeNode(),
    createMediaStreamDestination: () => Object.assign(new FakeNode(), { stream: { id: 'tap' } }),
    createMediaStreamSource: () => {
      const s = new FakeNode();
      sources.push(s);
      return s;
    },
    resume: async () => {
      ctx.state = 'running';
    },
    close: async () => {},
  };
  return { ctx, sources };
}

const track = (id: string) => ({ id, readyState: 'live' }) as unknown as MediaStreamTrack;

describe('balanceGains', () => {
  it('keeps both at full in the centre and lowers the side the slider leaves, linearly in amplitude', () => {
    expect(balanceGains(0)).toEqual({ venue: 1, commentary: 1 });
    expect(balanceGains(0.5)).toEqual({ venue: 0.5, commentary: 1 });
    expect(balanceGains(-0.5)).toEqual({ venue: 1, commentary: 0.5 });
    expect(balanceGains(1)).toEqual({ venue: 0, commentary: 1 });
    expect(balanceGains(-1)).toEqual({ venue: 1, commentary: 0 });
    expect(20 * Math.log10(balanceGains(0.5).venue)).toBeCloseTo(-6.02, 2);
  });

  it('clamps out-of-range and non-numbers', () => {
    expect(balanceGains(3)).toEqual({ venue: 0, commentary: 1 });
    expect(balanceGains(Number.NaN)).toEqual({ venue: 1, commentary: 1 });
  });
});

describe('SoundMix', () => {
  (globalThis as { MediaStream?: unknown }).MediaStream ??= class {
    constructor(readonly tracks: unknown[]) {}
  };

  it("routes the venue and commentary tracks to their side's gain; mute and HLS silence the output, not the tap", async () => {
    const { ctx, sources } = fakeContext();
    const mix = new SoundMix(ctx as unknown as AudioContext);
    mix.setTracks([
      { track: track('venue'), source: 'program' },
      { track: track('en'), source: 'commentary' },
    ]);
    expect(sources).toHaveLength(2);
    const [venueSide] = [...sources[0]!.outs];
    const [commentarySide] = [...sources[1]!.outs];
    expect(venueSide).not.toBe(commentarySide);
    mix.setBalance(0.5);
    expect(venueSide!.gain.value).toBe(0.5);
    expect(commentarySide!.gain.value).toBe(1);
    const [output] = [...venueSide!.outs].filter((n) => n.outs.has(ctx.destination));
    mix.setMuted(false);
    expect(output!.gain.value).toBe(1);
    mix.setPlaying(false);
    expect(output!.gain.value).toBe(0);
    await mix.resume();
    expect(ctx.state).toBe('running');
  });

  it('follows the session: a gone track is disconnected, a new one connected once', () => {
    const { ctx, sources } = fakeContext();
    const mix = new SoundMix(ctx as unknown as AudioContext);
    mix.setTracks([{ track: track('a'), source: 'program' }]);
    mix.setTracks([{ track: track('a'), source: 'program' }]);
    expect(sources).toHaveLength(1);
    mix.setTracks([{ track: track('b'), source: 'program' }]);
    expect(sources).toHaveLength(2);
    expect(sources[0]!.outs.size).toBe(0);
    expect(sources[1]!.outs.size).toBe(1);
  });
});
