import { useEffect, useMemo, useRef, useState } from 'react';
import { bindVideo } from '../testHook.ts';
import { LanguageMenu } from './LanguageMenu.tsx';
import { QualityMenu } from './QualityMenu.tsx';
import { ReplayBar } from './ReplayBar.tsx';
import { ReportProblem } from './ReportProblem.tsx';
import { ScoreBug } from './ScoreBug.tsx';
import { StatsPanel } from './StatsPanel.tsx';
import { StatusBadge } from './StatusBadge.tsx';
import { type PlayerParams, usePlayer } from './usePlayer.ts';
import { pageToken, useSession } from './useSession.ts';
import { useSoundMix } from './useSoundMix.ts';

/**
 * `?stream=match&token=...` plus, optionally, `&region=eu` (play from that
 * region; default: placement picks by RTT) or `&node=<base URL>` (pin the
 * first session to that node; drain and failover still move within its region).
 */
function readParams(): PlayerParams | { error: string } {
  const q = new URLSearchParams(window.location.search);
  const token = pageToken();
  const stream = q.get('stream') || 'match';
  const pinned = q.get('node');
  const nodeUrl = pinned || window.location.origin;
  const regionParam = q.get('region');
  const region = regionParam && regionParam !== 'auto' ? regionParam : null;
  if (!token) return { error: 'This link has no viewer token.' };
  try {
    new URL(nodeUrl);
  } catch {
    return { error: `Not a valid node URL: ${nodeUrl}` };
  }
  return { nodeUrl, stream, token, region, placement: !pinned };
}

export function ViewerPage() {
  const params = useMemo(readParams, []);
  // The URL token is only exchanged (then leaves the address bar); the player gets the session credential.
  const { session, error: sessionError } = useSession(
    'token' in params ? params.token : '',
    'stream' in params ? params.stream : undefined,
  );
  const ok = useMemo(
    () =>
      'token' in params && session
        ? { ...params, token: session.token, session, ...(session.bootstrap ? { bootstrap: session.bootstrap } : {}) }
        : null,
    [params, session],
  );
  const { player, state, path, reason, score, region, behindLive } = usePlayer(ok);
  const videoRef = useRef<HTMLVideoElement>(null);
  // HLS plays in its own element stacked on the WebRTC one: each path's
  // picture stays up until the other has rendered (no black frame on a switch).
  const hlsRef = useRef<HTMLVideoElement>(null);
  // A drain moves HLS to another relay by playing it here, hidden, then swapping the two HLS elements.
  const hlsSpareRef = useRef<HTMLVideoElement>(null);
  const [muted, setMuted] = useState(true);
  const [blocked, setBlocked] = useState(false);
  // The WebRTC sound plays through WebAudio (commentary/venue balance); its element stays muted.
  const mix = useSoundMix(player, muted, path);

  // Keep the video element attached to whatever the player is playing.
  useEffect(() => {
    const video = videoRef.current;
    const hlsVideo = hlsRef.current;
    const hlsSpare = hlsSpareRef.current;
    if (!video || !hlsVideo || !hlsSpare || !player) return;
    const unbind = bindVideo(video, hlsVideo, hlsSpare);
    const play = () => {
      if (!video.srcObject) return;
      video.play().then(
        () => setBlocked(false),
        () => setBlocked(true),
      );
    };
    const off = player.on('media', play);
    player.attach(video, hlsVideo, hlsSpare);
    play();
    return () => {
      off();
      player.detach();
      unbind();
    };
  }, [player]);

  useEffect(() => {
    // The hidden HLS spare stays muted: the player gives it the viewer's setting when it swaps it in.
    // The WebRTC element stays muted when the SoundMix plays its sound (without WebAudio it plays it itself).
    const hls = player?.hlsElement ?? hlsRef.current;
    if (hls) hls.muted = muted;
    if (videoRef.current) videoRef.current.muted = mix ? true : muted;
  }, [muted, player, mix]);

  if ('error' in params || sessionError) {
    return (
      <main className="page center">
        <div className="card">
          <h1>matchmesh</h1>
          <p>{'error' in params ? params.error : sessionError}</p>
          <p className="muted">
            Open <code>/watch?stream=match&amp;token=&lt;viewer token&gt;</code>, optionally with{' '}
            <code>&amp;node=&lt;node base URL&gt;</code>.
          </p>
        </div>
      </main>
    );
  }

  const unmute = () => {
    setMuted(false);
    // Within the click (a user gesture): the SoundMix's AudioContext may start.
    void mix?.resume().catch(() => undefined);
    for (const video of [videoRef.current, player?.hlsElement ?? hlsRef.current]) {
      if (!video) continue;
      video.muted = video === videoRef.current && mix !== null;
      if (!video.srcObject && !video.src) continue;
      void video.play().then(
        () => setBlocked(false),
        () => setBlocked(true),
      );
    }
  };

  return (
    <main className="page viewer">
      <header className="topbar">
        <span className="brand">matchmesh</span>
        <span className="stream-name">{params.stream}</span>
      </header>
      <section className="stage">
        <video ref={videoRef} data-testid="video" autoPlay muted playsInline />
        <video ref={hlsRef} data-testid="hls-video" className="hls" autoPlay muted playsInline />
        <video ref={hlsSpareRef} data-testid="hls-video-spare" className="hls" muted playsInline />
        {state !== 'connected' ? (
          <div className="veil" data-testid="veil">
            <p>
              {reason.startsWith('stream-ended')
                ? 'The match feed was interrupted; reconnecting…'
                : describe(state, reason)}
            </p>
          </div>
        ) : null}
        <div className="overlay-top">
          {score ? <ScoreBug score={score} /> : null}
          <StatusBadge state={state} path={path} reason={reason} region={region} />
        </div>
        <div className="controls">
          <ReplayBar player={player} behindLive={behindLive} />
          <QualityMenu player={player} video={videoRef} />
          <LanguageMenu player={player} mix={mix} />
        </div>
        {muted || blocked ? (
          <button type="button" className="unmute" data-testid="unmute" onClick={unmute}>
            <SpeakerIcon muted />
            {blocked ? 'Play' : 'Tap to unmute'}
          </button>
        ) : (
          <button type="button" className="unmute subtle" onClick={() => setMuted(true)}>
            <SpeakerIcon muted={false} />
            Mute
          </button>
        )}
      </section>
      <div className="sidebar">
        <ReportProblem player={player} stream={params.stream} token={() => session?.token ?? ''} />
        <StatsPanel player={player} />
      </div>
    </main>
  );
}

function describe(state: string, reason: string): string {
  if (state === 'connecting') return reason.includes('retry') ? `Reconnecting… (${reason})` : 'Connecting…';
  if (state === 'failed') return `Cannot play: ${reason}`;
  return reason;
}

function SpeakerIcon({ muted }: { muted: boolean }) {
  return (
    <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
      <path d="M4 9h4l5-4v14l-5-4H4z" fill="currentColor" />
      {muted ? (
        <path d="M16 9l5 6M21 9l-5 6" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
      ) : (
        <path
          d="M16 8.5a5 5 0 0 1 0 7M18.5 6a8.5 8.5 0 0 1 0 12"
          stroke="currentColor"
          strokeWidth="2"
          fill="none"
          strokeLinecap="round"
        />
      )}
    </svg>
  );
}
