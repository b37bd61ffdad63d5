import { describe, expect, it } from 'vitest';
import {
  levelDbfs,
  microphoneErrorText,
  onAirLight,
  PushToTalk,
  speaking,
  TalkbackMutes,
  voiceLive,
} from '../src/boothControls.ts';

/** getUserMedia rejects with a DOMException; Node has one too, with the same name field. */
const domError = (name: string, message = '') => new DOMException(message, name);

describe('microphoneErrorText', () => {
  it('explains a refused permission in plain words, with what to do', () => {
    const text = microphoneErrorText(domError('NotAllowedError', 'Permission denied'));
    expect(text).toMatch(/not allowed to use the microphone/);
    expect(text).toMatch(/allow the microphone/);
    expect(text).not.toMatch(/NotAllowedError/);
  });

  it('tells a missing microphone from a busy one', () => {
    expect(microphoneErrorText(domError('NotFoundError'))).toMatch(/No microphone was found/);
    expect(microphoneErrorText(domError('OverconstrainedError'))).toMatch(/No microphone was found/);
    expect(microphoneErrorText(domError('NotReadableError'))).toMatch(/another application/);
  });

  it('asks for https when the page is not a secure context', () => {
    expect(microphoneErrorText(domError('SecurityError'))).toMatch(/https/);
  });

  it('keeps the message of an unknown failure', () => {
    expect(microphoneErrorText(new Error('boom'))).toBe('The microphone could not be started: boom');
    expect(microphoneErrorText('weird')).toBe('The microphone could not be started.');
  });
});

describe('PushToTalk', () => {
  it('talks while any source holds and stops when the last lets go', () => {
    const ptt = new PushToTalk();
    expect(ptt.press('Space')).toBe(true);
    expect(ptt.press('Space')).toBe(false); // key auto-repeat
    expect(ptt.press('button')).toBe(false);
    expect(ptt.release('Space')).toBe(false);
    expect(ptt.held).toBe(true);
    expect(ptt.release('button')).toBe(true);
    expect(ptt.held).toBe(false);
  });

  it('ignores a release never pressed, and lets go of everything on blur', () => {
    const ptt = new PushToTalk();
    expect(ptt.release('Space')).toBe(false);
    ptt.press('Space');
    ptt.press('button');
    expect(ptt.releaseAll()).toBe(true);
    expect(ptt.held).toBe(false);
    expect(ptt.releaseAll()).toBe(false);
  });
});

describe('voiceLive and the on-air light', () => {
  it('open mode is live whenever on air; push-to-talk only while held', () => {
    expect(voiceLive(true, 'open', false)).toBe(true);
    expect(voiceLive(false, 'open', true)).toBe(false);
    expect(voiceLive(true, 'push-to-talk', false)).toBe(false);
    expect(voiceLive(true, 'push-to-talk', true)).toBe(true);
  });

  it('is red while the voice goes out, amber while on air but silent, off otherwise', () => {
    expect(onAirLight(true, true)).toBe('on-air');
    expect(onAirLight(true, false)).toBe('standby');
    expect(onAirLight(false, true)).toBe('off');
  });
});

describe('levelDbfs', () => {
  it('reads a full-scale sine at about −3 dBFS and silence at the floor', () => {
    const sine = Float32Array.from({ length: 960 }, (_, i) => Math.sin((2 * Math.PI * 1000 * i) / 48_000));
    expect(levelDbfs(sine)).toBeCloseTo(-3.01, 1);
    expect(levelDbfs(new Float32Array(960))).toBe(-100);
    expect(levelDbfs(new Float32Array(0))).toBe(-100);
  });
});

describe('TalkbackMutes', () => {
  /** sessionStorage's shape, in memory. */
  const memoryStore = () => {
    const items = new Map<string, string>();
    return { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => void items.set(k, v) };
  };

  it('mutes one commentator at a time and remembers it for the session (a reload reads it back), per stream', () => {
    const store = memoryStore();
    const mutes = new TalkbackMutes('match', store);
    expect(mutes.toggle('s-bob')).toBe(true);
    expect(mutes.toggle('s-carol')).toBe(true);
    expect(mutes.toggle('s-carol')).toBe(false);
    expect([...new TalkbackMutes('match', store).muted]).toEqual(['s-bob']);
    expect(new TalkbackMutes('final', store).has('s-bob')).toBe(false);
  });

  it('keeps muting when the store fails or holds garbage (only the memory is lost)', () => {
    const broken = {
      getItem: () => '{"not":"a list"}',
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
    };
    const mutes = new TalkbackMutes('match', broken);
    expect(mutes.muted.size).toBe(0);
    expect(mutes.toggle('s-bob')).toBe(true);
    expect(mutes.has('s-bob')).toBe(true);
    expect(new TalkbackMutes('match').toggle('s-bob')).toBe(true);
  });
});

describe('speaking', () => {
  it('lights for a voice and not for DTX silence', () => {
    expect(speaking(-30)).toBe(true);
    expect(speaking(-80)).toBe(false);
    expect(speaking(-100)).toBe(false);
  });
});
