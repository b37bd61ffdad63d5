import { CommentaryPublisher, type CommentaryState } from '@matchmesh/client';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { bindVideo } from '../testHook.ts';
import { ScoreBug } from '../viewer/ScoreBug.tsx';
import { StatusBadge } from '../viewer/StatusBadge.tsx';
import { usePlayer } from '../viewer/usePlayer.ts';
import { pageToken, useSession } from '../viewer/useSession.ts';

/** What the booth exposes to browser tests as `window.__mmBooth` (read-only). */
export type BoothTestHook = {
  readonly state: CommentaryState;
  readonly reason: string;
  readonly producerId: string | null;
};

declare global {
  interface Window {
    __mmBooth?: BoothTestHook;
  }
}

/**
 * `/commentate?stream=match&token=<commentator token>[&autostart=1]`, opened on
 * the stream's ingest node: the commentator watches from there (one hop, the
 * least delay the mesh has) and talks; the voice goes out as the stream's
 * commentary and every viewer hears it beside the match sound. The booth
 * itself never plays commentary back (no echo into the microphone).
 */
export function CommentatorPage() {
  const params = useMemo(() => {
    const q = new URLSearchParams(window.location.search);
    return {
      nodeUrl: q.get('node') || window.location.origin,
      stream: q.get('stream') || 'match',
      token: pageToken(),
      autostart: q.get('autostart') === '1',
      // `raw=1`: a studio microphone (or a line from the booth's mixing desk) goes out as it is — the browser's
      // echo cancelling, noise suppression and gain control would treat a steady tone or crowd bed as noise.
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

  const goOnAir = useCallback(async () => {
    if (publisherRef.current || !session) return;
    // The credential of the moment: the publisher joins once, when the commentator goes on air.
    const publisher = new CommentaryPublisher({ nodeUrl: params.nodeUrl, stream: params.stream, token: session.token });
    publisherRef.current = publisher;
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
    });
    try {
      const media = await navigator.mediaDevices.getUserMedia({
        audio: params.raw
          ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false }
          : { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      await publisher.start(media.getAudioTracks()[0]!);
    } catch (error) {
      console.error('[matchmesh] commentary failed', error);
      setOnAir({ state: 'failed', reason: error instanceof Error ? error.message : String(error) });
    }
  }, [params, session]);

  const offAir = useCallback(() => {
    publisherRef.current?.close();
    publisherRef.current = null;
  }, []);

  useEffect(() => {
    if (params.autostart && session) void goOnAir();
    return () => publisherRef.current?.close();
  }, [params, session, goOnAir]);

  if (!params.token) return <main className="viewer">This link has no commentator token.</main>;
  if (sessionError) return <main className="viewer">{sessionError}</main>;
  const live = onAir.state === 'live' || onAir.state === 'connecting';
  return (
    <main className="viewer">
      <header className="bar">
        <h1>Commentator booth · {params.stream}</h1>
        <StatusBadge state={state} path={path} reason={reason} region={null} />
      </header>
      <section className="stage">
        <video ref={videoRef} data-testid="video" autoPlay playsInline />
        <div className="overlay-top">{score ? <ScoreBug score={score} /> : null}</div>
      </section>
      <section className="booth">
        <button type="button" data-testid="on-air" onClick={live ? offAir : () => void goOnAir()}>
          {live ? 'Go off air' : 'Go on air'}
        </button>
        <span data-testid="on-air-state">
          {onAir.state === 'live' ? 'ON AIR' : onAir.state}: {onAir.reason}
        </span>
      </section>
    </main>
  );
}
