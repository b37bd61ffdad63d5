import {
  CommentaryPublisher,
  type CommentaryState,
  onAirLight,
  PushToTalk,
  RecentAverage,
  type TalkMode,
  ViewDelayMeter,
  viewDelayOf,
  voiceLive,
} from '@matchmesh/client';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { bindVideo } from '../testHook.ts';
import { ScoreBug } from '../viewer/ScoreBug.tsx';
import { StatusBadge } from '../viewer/StatusBadge.tsx';
import { usePlayer } from '../viewer/usePlayer.ts';
import { pageToken, useSession } from '../viewer/useSession.ts';
import { MicrophonePicker, OnAirLamp, ViewDelay } from './BoothControls.tsx';
import { BoothTalkback } from './BoothTalkback.tsx';
import { useMicrophone } from './useMicrophone.ts';
import { type BoothMate, useTalkback } from './useTalkback.ts';

/** What the booth exposes to browser tests as `window.__mmBooth` (read-only). */
export type BoothTestHook = {
  readonly state: CommentaryState;
  readonly reason: string;
  readonly producerId: string | null;
  /** Sessions rejoined on their own after a drop (network change, node restart). */
  readonly rejoins: number;
  /** The microphone track being sent (its device id and label), null before the first open. */
  readonly micDeviceId: string | null;
  readonly micLabel: string | null;
  /** The other commentators heard (talkback), as the Booth list shows them. */
  readonly talkback: readonly BoothMate[];
  /** What the page plays for talkback (every voice after its mute), null before the first voice. */
  talkbackOutput(): MediaStreamTrack | null;
  /** The audio elements playing talkback to the speakers: whose voice, muted, paused. */
  talkbackPlaying(): { commentator: string; muted: boolean; paused: boolean }[];
};

declare global {
  interface Window {
    __mmBooth?: BoothTestHook;
  }
}

/** Push-to-talk key: held down, the voice goes out (ignored while typing in a field). */
const PTT_KEY = 'Space';

/**
 * `/commentate?stream=match&token=<commentator token>[&autostart=1][&raw=1]`, opened on
 * the stream's ingest node: the commentator watches from there (one hop, the
 * least delay the mesh has) and talks; the voice goes out as the stream's
 * commentary and every viewer hears it beside the match sound. The booth
 * itself never plays the commentary mixes back (its own voice would echo);
 * it hears the other commentators' voices alone (talkback, per-person mute).
 */
export function CommentatorPage() {
  const params = useMemo(() => {
    const q = new URLSearchParams(window.location.search);
    return {
      nodeUrl: q.get('node') || window.location.origin,
      stream: q.get('stream') || 'match',
      token: pageToken(),
      autostart: q.get('autostart') === '1',
      raw: q.get('raw') === '1',
    };
  }, []);
  // As on the watch page: the URL token is exchanged for a renewed session credential, and leaves the address bar.
  const { session, error: sessionError } = useSession(params.token);
  const watch = useMemo(
    () =>
      session
        ? { ...params, token: session.token, session, region: null, placement: false, role: 'commentator' as const }
        : null,
    [params, session],
  );
  const { player, state, path, reason, score } = usePlayer(watch);
  const videoRef = useRef<HTMLVideoElement>(null);
  const publisherRef = useRef<CommentaryPublisher | null>(null);
  const [onAir, setOnAir] = useState<{ state: CommentaryState; reason: string }>({ state: 'idle', reason: 'off air' });
  const mic = useMicrophone(params.raw);
  const talkback = useTalkback(params.stream);
  const talkbackRef = useRef(talkback);
  talkbackRef.current = talkback;
  const micTrackRef = useRef<MediaStreamTrack | null>(null);
  micTrackRef.current = mic.track;
  const [mode, setMode] = useState<TalkMode>('open');
  const pttRef = useRef(new PushToTalk());
  const [held, setHeld] = useState(false);
  const [programVolume, setProgramVolume] = useState(1);
  const [delay, setDelay] = useState<{ rttMs: number | null; playoutMs: number | null }>({
    rttMs: null,
    playoutMs: null,
  });

  useEffect(() => {
    const video = videoRef.current;
    if (!video || !player) return;
    const unbind = bindVideo(video);
    const silenceCommentary = () => {
      for (const c of player.session?.consumers ?? []) if (c.source === 'commentary') c.track.enabled = false;
      if (video.srcObject) void video.play().catch(() => {});
    };
    const off = player.on('media', silenceCommentary);
    player.attach(video);
    silenceCommentary();
    return () => {
      off();
      player.detach();
      unbind();
    };
  }, [player]);

  // The program sound in the booth: the commentator sets how loud the match plays under their own voice.
  useEffect(() => {
    if (videoRef.current) videoRef.current.volume = programVolume;
  }, [programVolume]);

  // The view delay, measured on the booth's own session every second (RTT of the ICE pair, the receivers' buffer).
  useEffect(() => {
    if (!player || !videoRef.current) return;
    const recentProcessing = new RecentAverage();
    // Each frame's way from its last packet to the screen (requestVideoFrameCallback), where the browser tells it.
    const meter = new ViewDelayMeter(videoRef.current);
    const timer = setInterval(() => {
      void player.stats().then((s) => {
        if (!s) return;
        setDelay({ rttMs: s.rttMs ?? null, playoutMs: s.jitterBufferDelayMs ?? s.playoutDelayMs ?? null });
        // The node aligns this language's commentary with the picture by it (viewers hold the picture back).
        const view = (s.rttMs !== undefined ? meter.viewDelay(s.rttMs) : undefined) ?? viewDelayOf(s, recentProcessing);
        if (view) void publisherRef.current?.reportViewDelay(view).catch(() => undefined);
      });
    }, 1000);
    return () => {
      clearInterval(timer);
      meter.stop();
    };
  }, [player]);

  const publisherLive = onAir.state === 'live';
  const live = voiceLive(publisherLive || onAir.state === 'connecting', mode, held);
  // Push-to-talk as the mode and the hold say now; a publisher created later reads it through the ref.
  const talkRef = useRef({ mode, held });
  talkRef.current = { mode, held };
  useEffect(() => publisherRef.current?.setVoiceLive(live), [live]);

  const goOnAir = useCallback(async () => {
    if (publisherRef.current || !session) return;
    // The credential of the moment at each (re)join: the session keeper renews it.
    const publisher = new CommentaryPublisher({
      nodeUrl: params.nodeUrl,
      stream: params.stream,
      token: () => session.token,
    });
    publisherRef.current = publisher;
    // Going on air with push-to-talk up starts silent (the effect above only runs when `live` changes).
    publisher.setVoiceLive(voiceLive(true, talkRef.current.mode, talkRef.current.held));
    const unfollow = talkback.follow(publisher);
    publisher.on('state', (state) => state === 'closed' && unfollow());
    let lastReason = 'off air';
    publisher.on('state', (state, reason) => {
      lastReason = reason;
      setOnAir({ state, reason });
    });
    window.__mmBooth = Object.freeze({
      get state() {
        return publisher.state;
      },
      get reason() {
        return lastReason;
      },
      get producerId() {
        return publisher.producerId;
      },
      get rejoins() {
        return publisher.rejoins;
      },
      get micDeviceId() {
        return micTrackRef.current?.getSettings().deviceId ?? null;
      },
      get micLabel() {
        return micTrackRef.current?.label ?? null;
      },
      get talkback() {
        return talkbackRef.current.mates;
      },
      talkbackOutput: () => talkbackRef.current.output(),
      talkbackPlaying: () => talkbackRef.current.playing(),
    });
    // A microphone opened before (picked, or kept from an earlier turn on air) unless it has ended.
    const open = micTrackRef.current?.readyState === 'live' ? micTrackRef.current : null;
    const track = open ?? (await mic.open(mic.deviceId || undefined));
    if (!track) {
      publisherRef.current = null;
      setOnAir({ state: 'failed', reason: 'no microphone' });
      return;
    }
    try {
      await publisher.start(track);
    } catch (error) {
      console.error('[matchmesh] commentary failed', error);
      setOnAir({ state: 'failed', reason: error instanceof Error ? error.message : String(error) });
    }
  }, [params, session, mic, talkback.follow]);

  const offAir = useCallback(() => {
    publisherRef.current?.close();
    publisherRef.current = null;
    micTrackRef.current = null; // the publisher stopped it; the next go-on-air opens the microphone again
  }, []);

  /** Another microphone: opened, then swapped into the producer (on air stays on air). */
  const pickMicrophone = useCallback(
    async (deviceId: string) => {
      const previous = micTrackRef.current;
      const next = await mic.open(deviceId);
      if (!next) return;
      const publisher = publisherRef.current;
      if (publisher && publisher.state !== 'closed' && publisher.state !== 'failed')
        await publisher.replaceTrack(next).catch((e) => console.error('[matchmesh]', e));
      else previous?.stop();
    },
    [mic],
  );

  // Autostart goes on air once, when the session is first there: goOnAir is re-made whenever the microphone's
  // state changes (going off air stops the track), and an effect on it would put an off-air commentator back on.
  const autostarted = useRef(false);
  useEffect(() => {
    if (!params.autostart || !session || autostarted.current) return;
    autostarted.current = true;
    void goOnAir();
  }, [params, session, goOnAir]);
  useEffect(() => () => publisherRef.current?.close(), []);

  // Push-to-talk: the Space key (not while typing in a field), the button held, released on blur.
  useEffect(() => {
    const ptt = pttRef.current;
    const typing = (e: KeyboardEvent) =>
      e.target instanceof HTMLElement && /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName);
    const down = (e: KeyboardEvent) => {
      if (e.code !== PTT_KEY || typing(e)) return;
      e.preventDefault();
      if (ptt.press('key')) setHeld(true);
    };
    const up = (e: KeyboardEvent) => {
      if (e.code === PTT_KEY && ptt.release('key')) setHeld(ptt.held);
    };
    const blur = () => ptt.releaseAll() && setHeld(false);
    window.addEventListener('keydown', down);
    window.addEventListener('keyup', up);
    window.addEventListener('blur', blur);
    return () => {
      window.removeEventListener('keydown', down);
      window.removeEventListener('keyup', up);
      window.removeEventListener('blur', blur);
    };
  }, []);
  const pttButton = (pressed: boolean) => () => {
    const ptt = pttRef.current;
    if (pressed ? ptt.press('button') : ptt.release('button')) setHeld(ptt.held);
  };

  if (!params.token) return <main className="viewer">This link has no commentator token.</main>;
  if (sessionError) return <main className="viewer">{sessionError}</main>;
  const seated = publisherLive || onAir.state === 'connecting';
  return (
    <main className="viewer">
      <header className="bar">
        <h1>Commentator booth · {params.stream}</h1>
        <OnAirLamp light={onAirLight(publisherLive, live)} />
        <StatusBadge state={state} path={path} reason={reason} region={null} />
      </header>
      <section className="stage">
        {/* biome-ignore lint/a11y/useMediaCaption: a live match feed carries no caption track to point at */}
        <video ref={videoRef} data-testid="video" autoPlay playsInline />
        <div className="overlay-top">{score ? <ScoreBug score={score} /> : null}</div>
      </section>
      <section className="booth">
        <div className="booth-row">
          <button type="button" data-testid="on-air" onClick={seated ? offAir : () => void goOnAir()}>
            {seated ? 'Go off air' : 'Go on air'}
          </button>
          <span data-testid="on-air-state">
            {publisherLive ? 'ON AIR' : onAir.state}: {onAir.reason}
          </span>
        </div>
        <MicrophonePicker
          devices={mic.devices}
          deviceId={mic.deviceId}
          levelDb={mic.levelDb}
          onPick={(id) => void pickMicrophone(id)}
        />
        {mic.error ? (
          <p className="booth-error" data-testid="mic-error" role="alert">
            {mic.error}
          </p>
        ) : null}
        <div className="booth-row">
          <label>
            <input
              type="checkbox"
              data-testid="ptt-mode"
              checked={mode === 'push-to-talk'}
              onChange={(e) => setMode(e.target.checked ? 'push-to-talk' : 'open')}
            />{' '}
            Push-to-talk (hold Space or the button)
          </label>{' '}
          <button
            type="button"
            data-testid="ptt"
            disabled={mode !== 'push-to-talk'}
            aria-pressed={held}
            onPointerDown={pttButton(true)}
            onPointerUp={pttButton(false)}
            onPointerLeave={pttButton(false)}
          >
            {held ? 'Talking…' : 'Hold to talk'}
          </button>
        </div>
        <label className="booth-row">
          Match sound in the booth{' '}
          <input
            type="range"
            data-testid="program-volume"
            min={0}
            max={1}
            step={0.05}
            value={programVolume}
            onChange={(e) => setProgramVolume(Number(e.target.value))}
          />{' '}
          {Math.round(programVolume * 100)} %
        </label>
        <ViewDelay rttMs={delay.rttMs} playoutMs={delay.playoutMs} />
      </section>
      <BoothTalkback seated={seated} raw={params.raw} mates={talkback.mates} onToggle={talkback.toggleMute} />
    </main>
  );
}
