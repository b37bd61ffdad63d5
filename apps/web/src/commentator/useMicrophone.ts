import { levelDbfs, microphoneErrorText } from '@matchmesh/client';
import { useCallback, useEffect, useRef, useState } from 'react';

export type MicrophoneView = {
  /** Audio inputs; labels are empty until the page has been allowed a microphone once. */
  devices: MediaDeviceInfo[];
  deviceId: string;
  /** The open microphone's track (null until opened), handed to the publisher. */
  track: MediaStreamTrack | null;
  /** Plain-words failure, or null. */
  error: string | null;
  /** Level of the microphone itself (dBFS), read whether or not the voice goes out. */
  levelDb: number;
  open: (deviceId?: string) => Promise<MediaStreamTrack | null>;
};

/**
 * The booth's microphone: the list of inputs (kept fresh on plug/unplug),
 * the chosen one opened with getUserMedia, and a level meter on it (WebAudio
 * AnalyserNode on a clone, so push-to-talk muting the sent track leaves the
 * meter reading: the commentator sees the microphone works before talking).
 */
export function useMicrophone(raw: boolean): MicrophoneView {
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  const [deviceId, setDeviceId] = useState('');
  const [track, setTrack] = useState<MediaStreamTrack | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [levelDb, setLevelDb] = useState(-100);
  const meterRef = useRef<{ stop: () => void } | null>(null);

  const refreshDevices = useCallback(async () => {
    const all = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    setDevices(all.filter((d) => d.kind === 'audioinput'));
  }, []);

  useEffect(() => {
    void refreshDevices();
    navigator.mediaDevices.addEventListener('devicechange', refreshDevices);
    return () => navigator.mediaDevices.removeEventListener('devicechange', refreshDevices);
  }, [refreshDevices]);

  const open = useCallback(
    async (wanted?: string) => {
      try {
        // `raw`: a studio microphone or a desk line goes out as it is — echo cancelling, noise suppression and
        // gain control would treat a steady tone or crowd bed as noise.
        const processing = !raw;
        const media = await navigator.mediaDevices.getUserMedia({
          audio: {
            ...(wanted ? { deviceId: { exact: wanted } } : {}),
            echoCancellation: processing,
            noiseSuppression: processing,
            autoGainControl: processing,
          },
        });
        const next = media.getAudioTracks()[0] ?? null;
        setError(null);
        setTrack(next);
        setDeviceId(next?.getSettings().deviceId ?? wanted ?? '');
        meterRef.current?.stop();
        meterRef.current = next ? startMeter(next, setLevelDb) : null;
        await refreshDevices(); // labels appear once a microphone was allowed
        return next;
      } catch (failure) {
        setError(microphoneErrorText(failure));
        return null;
      }
    },
    [raw, refreshDevices],
  );

  useEffect(() => () => meterRef.current?.stop(), []);

  return { devices, deviceId, track, error, levelDb, open };
}

/** Polls an AnalyserNode on a clone of `track` at the display's rate. */
function startMeter(track: MediaStreamTrack, onLevel: (db: number) => void): { stop: () => void } {
  const clone = track.clone();
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 2048;
  context.createMediaStreamSource(new MediaStream([clone])).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let frame = 0;
  const tick = () => {
    analyser.getFloatTimeDomainData(samples);
    onLevel(levelDbfs(samples));
    frame = requestAnimationFrame(tick);
  };
  void context.resume().catch(() => {});
  tick();
  return {
    stop: () => {
      cancelAnimationFrame(frame);
      clone.stop();
      void context.close().catch(() => {});
    },
  };
}
