import type { PlayerPath, SessionState } from '@matchmesh/client';

const LABEL: Record<SessionState, string> = {
  connecting: 'Connecting',
  connected: 'Live',
  failed: 'Offline',
  closed: 'Ended',
};

const PATH: Record<PlayerPath, string> = { webrtc: 'WebRTC', hls: 'HLS', none: '' };

/** Connection state and delivery path, top right of the video. */
export function StatusBadge({
  state,
  path,
  reason,
  region,
}: {
  state: SessionState;
  path: PlayerPath;
  reason: string;
  region: string | null;
}) {
  return (
    <div
      className={`badge badge-${state}`}
      data-testid="status"
      data-state={state}
      data-path={path}
      data-reason={reason}
      data-region={region ?? ''}
      title={reason}
    >
      <span className="badge-dot" />
      <span>{LABEL[state]}</span>
      {PATH[path] ? <span className="badge-path">{PATH[path]}</span> : null}
      {region ? <span className="badge-path">{region}</span> : null}
      <span className="badge-reason">{reason}</span>
    </div>
  );
}
