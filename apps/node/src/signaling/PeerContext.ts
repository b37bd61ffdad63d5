import type { IceServer, RelayAlternative, TokenKeys } from '@matchmesh/protocol';
import type { Logger, Seat, StreamRouter } from '@matchmesh/sfu';

/** The playout delay (ms, 0: the browser's own) a viewer of a stream should hold, and its changes. */
export interface ViewerPlayout {
  delayFor(stream: string): number;
  /** Call `onChange` with each new delay for `stream` until the returned function is called. */
  watch(stream: string, onChange: (delayMs: number) => void): () => void;
}

export interface PeerContext {
  tokenSecret: TokenKeys;
  nodeId: string;
  region: string;
  log: Logger;
  /** STUN/TURN servers for a new session (TURN credentials minted for `user`); none by default. */
  iceServers?(user: string): IceServer[];
  /** Playout delay asked of viewers (MM_VIEWER_PLAYOUT_DELAY_MS, fixed or auto); absent: the browser's own. */
  playout?: ViewerPlayout;
  /** The language viewers hear when they chose none, and commentators whose token names none (BCP 47). */
  defaultLanguage?: string;
  /** Refuse new joins (Redis down, node draining, no relay role for viewers) with this reason, or undefined. */
  admissionBlocked(role: 'viewer' | 'commentator', stream: string): string | undefined;
  /** The stream's router here, pulling the region's copy if needed (logged on `log`); undefined if not live. */
  resolveStream(stream: string, log?: Logger): Promise<StreamRouter | undefined>;
  /** Whether some worker has room for one more viewer (checked before anything is built). */
  hasRoom(): boolean;
  /** A place on one of the node's workers (MediaService.seat); throws MediaError 'node_full'. */
  seat(stream: StreamRouter, role: 'viewer' | 'commentator'): Promise<Seat>;
  /** A relay of this region with room, for a refusal to name (none: undefined). */
  alternativeRelay?(): Promise<RelayAlternative | undefined>;
}
