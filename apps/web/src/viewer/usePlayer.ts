import { Player, type PlayerPath, type ReceivedScore, type SessionKeeper, type SessionState } from '@matchmesh/client';
import type { EdgesResponse } from '@matchmesh/protocol';
import { useEffect, useState } from 'react';
import { bindPlayer } from '../testHook.ts';
import { watchFallbacks } from './fallbackBeacon.ts';

export type PlayerView = {
  player: Player | null;
  state: SessionState;
  path: PlayerPath;
  reason: string;
  score: ReceivedScore | null;
  /** Region of the relay playing (or chosen by placement). */
  region: string | null;
  /** Seconds behind live after a rewind (0: live). */
  behindLive: number;
};

export type PlayerParams = {
  nodeUrl: string;
  stream: string;
  token: string;
  /** Play from this region (null: placement picks by RTT). */
  region: string | null;
  /** False pins the first session to nodeUrl. */
  placement: boolean;
  /** 'commentator' for the booth: admitted on ingest nodes too. */
  role?: 'viewer' | 'commentator';
  /** The page's session credential: its renewals go to the player (`token` is its first one). */
  session?: SessionKeeper;
  /** The stream's placement data the session exchange brought: the player joins without asking again. */
  bootstrap?: EdgesResponse;
};

/** Creates and starts a Player for the params; re-renders on state and score changes. */
export function usePlayer(params: PlayerParams | null): PlayerView {
  const [view, setView] = useState<PlayerView>({
    player: null,
    state: 'connecting',
    path: 'none',
    reason: 'starting',
    score: null,
    region: null,
    behindLive: 0,
  });
  const {
    nodeUrl = '',
    stream = '',
    token = '',
    region = null,
    placement = true,
    role = 'viewer',
    session,
    bootstrap,
  } = params ?? {};

  useEffect(() => {
    if (!nodeUrl || !stream || !token) return;
    const player = new Player({ nodeUrl, stream, token, region, placement, role, ...(bootstrap ? { bootstrap } : {}) });
    const unbind = bindPlayer(player);
    const sync = () =>
      setView({
        player,
        state: player.state,
        path: player.path,
        reason: player.reason,
        score: player.screen.current,
        region: player.session?.region ?? player.placement?.region ?? null,
        behindLive: player.behindLive,
      });
    const offState = player.on('state', (change) => {
      if (change.error) console.error(`[matchmesh] ${change.reason}`, change.error);
      sync();
    });
    const offScore = player.on('scoreShown', sync);
    const offPlacement = player.on('placement', sync);
    const offWarning = player.on('warning', (error) => console.warn('[matchmesh]', error.message));
    const currentToken = () => session?.token ?? token;
    const offFallbacks = role === 'viewer' ? watchFallbacks(player, nodeUrl, stream, currentToken) : () => {};
    // A renewed credential: the player's later requests (and its HLS session's) carry it.
    const offRenewed = session?.on('renewed', (credential) => player.setToken(credential.token)) ?? (() => {});
    sync();
    player.start();
    return () => {
      offState();
      offScore();
      offPlacement();
      offWarning();
      offFallbacks();
      offRenewed();
      unbind();
      player.close('page closed');
    };
  }, [nodeUrl, stream, token, region, placement, role, session, bootstrap]);

  return view;
}
