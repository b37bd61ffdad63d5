import type { Player } from '@matchmesh/client';
import { useState } from 'react';

/**
 * Rewind inside the relay's HLS window (to see a shot again) and back to live
 * with one click. Rewinding switches the picture to HLS; LIVE returns to
 * WebRTC as soon as it renders.
 */
export function ReplayBar({ player, behindLive }: { player: Player | null; behindLive: number }) {
  const [error, setError] = useState<string | null>(null);
  if (!player) return null;
  const rewind = (seconds: number) => {
    setError(null);
    player.rewind(seconds).catch((e: Error) => setError(e.message));
  };
  return (
    <div className="replay" data-testid="replay" data-behind={Math.round(behindLive)}>
      <button type="button" data-testid="rewind-10" onClick={() => rewind(10)}>
        −10 s
      </button>
      <button type="button" data-testid="rewind-60" onClick={() => rewind(60)}>
        −60 s
      </button>
      <button
        type="button"
        data-testid="go-live"
        className={behindLive > 0 ? 'live behind' : 'live'}
        disabled={behindLive === 0}
        onClick={() => player.goLive()}
      >
        {behindLive > 0 ? `● LIVE (−${Math.round(behindLive)} s)` : '● LIVE'}
      </button>
      {error ? <span className="replay-error">{error}</span> : null}
    </div>
  );
}
