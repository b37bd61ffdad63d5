import { type Player, type PlayerPath, SoundMix } from '@matchmesh/client';
import { useEffect, useState } from 'react';
import { bindSoundMix } from '../testHook.ts';

const STORAGE_KEY = 'matchmesh.balance';

/** The remembered commentary/venue balance (−1 venue … 0 both … +1 commentary); 0 when never moved. */
export function rememberedBalance(): number {
  const v = Number(globalThis.localStorage?.getItem(STORAGE_KEY) ?? 0);
  return Number.isFinite(v) ? Math.max(-1, Math.min(1, v)) : 0;
}

export function rememberBalance(balance: number): void {
  globalThis.localStorage?.setItem(STORAGE_KEY, String(balance));
}

/**
 * The WebRTC sound of the watch page through a SoundMix (the commentary and
 * the venue each with its gain): fed the session's audio tracks whenever
 * they change, silent while the picture is on HLS (its element plays its own
 * premixed audio), muted with the page. Made once the WebRTC session carries
 * commentary (a stream without commentators costs no AudioContext: its
 * element plays the venue sound itself); while it exists the WebRTC element
 * stays muted.
 */
export function useSoundMix(player: Player | null, muted: boolean, path: PlayerPath): SoundMix | null {
  const [mix, setMix] = useState<SoundMix | null>(null);

  useEffect(() => {
    if (!player || typeof AudioContext === 'undefined') return;
    let m: SoundMix | null = null;
    let unbind = () => {};
    const feed = () => {
      const audio = (player.session?.consumers ?? []).filter((c) => c.kind === 'audio');
      if (!m && audio.some((c) => c.source === 'commentary')) {
        m = new SoundMix();
        m.setBalance(rememberedBalance());
        unbind = bindSoundMix(m);
        setMix(m);
      }
      m?.setTracks(audio.map((c) => ({ track: c.track, source: c.source })));
    };
    feed();
    const off = player.on('media', feed);
    return () => {
      off();
      unbind();
      m?.close();
      setMix(null);
    };
  }, [player]);

  useEffect(() => {
    mix?.setMuted(muted);
    // The page's unmute is a user gesture: the AudioContext may start now.
    if (mix && !muted) void mix.resume().catch(() => undefined);
  }, [mix, muted]);

  useEffect(() => {
    mix?.setPlaying(path !== 'hls');
  }, [mix, path]);

  return mix;
}
