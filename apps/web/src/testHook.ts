import type {
  HlsClockState,
  Placement,
  Player,
  PlayerPath,
  ReceivedScore,
  SessionState,
  SoundMix,
  VideoLayers,
} from '@matchmesh/client';

/** Summary of the WebRTC stats the browser tests check. */
export type TestHookStats = {
  inboundAudioPackets: number;
  /** Audio packets per source: 'program' (the match), 'commentary' (commentators' voices). */
  audioPacketsBySource: Record<string, number>;
  inboundVideoPackets: number;
  framesDecoded: number;
  bytesReceived: number;
  /** Inbound RTP packets the browser counts as lost (audio + video): what no retransmission recovered. */
  packetsLost: number;
  /** The playout delay the node asked for, as the browser's receivers took it (ms); null: the browser's own. */
  playoutDelayMs: number | null;
  /** The heard language's commentary delay against the picture (ms; null: none measured or venue only). */
  commentaryDelayMs: number | null;
  /** The program video's playout target (ms; null: the browser's own): the commentary delay is in it. */
  programPlayoutMs: number | null;
  /** The heard commentary's audio jitter buffer delay (average, ms; null: none). */
  commentaryBufferMs: number | null;
  iceState: string;
  /** 'udp' | 'tcp' once a candidate pair is selected. */
  iceProtocol: string | null;
  /** Where the player plays from and why (placement), with the RTT per region. */
  nodeId: string | null;
  nodeUrl: string | null;
  region: string | null;
  placement: Placement | null;
  moves: number;
  failovers: number;
};

/**
 * `window.__mm`: a read-only view of the viewer page for automated browser
 * tests. Every property is a getter over live state; nothing can be set.
 */
export type MatchmeshTestHook = {
  readonly state: SessionState;
  readonly path: PlayerPath;
  readonly reason: string;
  /** The latest placement decision: node, region, reason ('rtt' | 'region' | 'guess' | 'fallback'), RTTs. */
  readonly placement: Placement | null;
  /** The node of the playing session, and its region. */
  readonly nodeId: string | null;
  readonly region: string | null;
  /** The relay the HLS session plays from (null when not on HLS). */
  readonly hlsNodeUrl: string | null;
  /** Drain moves (make-before-break) and failovers so far. */
  readonly moves: { moves: number; failovers: number };
  /**
   * How the playing session was set up: `bootstrapped`, the player had the
   * page's placement data from the session exchange (no edges request);
   * `oneRoundTrip`, its join was answered with the transport and consumers made.
   */
  readonly setup: { bootstrapped: boolean; oneRoundTrip: boolean };
  /** Every player state change with the page's wall clock (ms since epoch): the ladder's history. */
  readonly stateLog: { at: number; state: SessionState; path: PlayerPath; reason: string }[];
  /** Every accepted score update in order; the join snapshot has `snapshot: true`. */
  readonly scores: ReceivedScore[];
  readonly lastScore: ReceivedScore | null;
  /** Seconds behind live after a rewind (0: live). */
  readonly behindLive: number;
  /** The score the overlay shows: the one that belongs to the frame on screen. */
  readonly shownScore: ReceivedScore | null;
  /** mediaTime (ms) of the last presented frame placed on the stream's timeline. */
  readonly frameMediaTime: number | null;
  /** How the HLS session places frames on the stream's timeline (null: no HLS session). */
  readonly hlsClock: HlsClockState | null;
  /** Score feed counters: gaps = lost on the live channel, missedAtJoin = lost while (re)joining. */
  readonly scoreCounters: {
    received: number;
    accepted: number;
    gaps: number;
    missedAtJoin: number;
    duplicates: number;
  };
  /** The program video's simulcast layers on WebRTC (null: one layer, or not on WebRTC). */
  readonly layers: VideoLayers | null;
  /** The picture size of the element on screen (0x0 before the first frame). */
  frameSize(): { width: number; height: number };
  /** Decoded video frames (playback quality, or presented-frame count where unavailable). */
  framesDecoded(): number;
  /** currentTime of the element on screen (the HLS one while on HLS). */
  videoCurrentTime(): number;
  stats(): Promise<TestHookStats>;
  /** The commentary tracks the WebRTC session consumes, with their language (the chosen one alone gets packets). */
  commentaryTracks(): { lang: string | undefined; track: MediaStreamTrack }[];
  /** The commentary language heard (null: venue sound only). */
  readonly language: string | null;
  /** The WebRTC sound as the viewer hears it with the balance applied (before the page's mute); null: no mix. */
  soundTap(): MediaStream | null;
  /** The commentary/venue balance (−1 venue only … +1 commentary only). */
  readonly balance: number;
};

declare global {
  interface Window {
    __mm?: MatchmeshTestHook;
  }
}

type Live = {
  player: Player | null;
  video: HTMLVideoElement | null;
  /** The page's HLS elements (the HLS one and its spare: they trade places at each HLS drain move). */
  hlsVideos: HTMLVideoElement[];
  scores: ReceivedScore[];
  states: { at: number; state: SessionState; path: PlayerPath; reason: string }[];
  presentedFrames: number;
  stopFrameCounter: (() => void) | null;
  mix: SoundMix | null;
};

const live: Live = {
  player: null,
  video: null,
  hlsVideos: [],
  scores: [],
  states: [],
  presentedFrames: 0,
  stopFrameCounter: null,
  mix: null,
};

/** The element the viewer sees: the HLS one in use while the player is on HLS. */
function activeVideo(): HTMLVideoElement | null {
  if (live.player?.path !== 'hls') return live.video;
  return live.hlsVideos.find((v) => v.dataset.active === 'true') ?? live.player.hlsElement ?? live.video;
}

function framesDecoded(): number {
  const video = live.video;
  if (!video) return 0;
  const total =
    typeof video.getVideoPlaybackQuality === 'function' ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
  return Math.max(total, live.presentedFrames);
}

async function stats(): Promise<TestHookStats> {
  const s = await live.player?.stats();
  return {
    inboundAudioPackets: s?.inboundAudioPackets ?? 0,
    audioPacketsBySource: s?.audioPacketsBySource ?? {},
    inboundVideoPackets: s?.inboundVideoPackets ?? 0,
    framesDecoded: s?.framesDecoded ?? 0,
    bytesReceived: s?.bytesReceived ?? 0,
    packetsLost: s?.packetsLost ?? 0,
    playoutDelayMs: s?.playoutDelayMs ?? null,
    commentaryDelayMs: s?.commentaryDelayMs ?? null,
    programPlayoutMs: s?.programPlayoutMs ?? null,
    commentaryBufferMs: s?.commentaryBufferMs ?? null,
    iceState: s?.iceState ?? 'new',
    iceProtocol: s?.iceProtocol ?? null,
    nodeId: s?.nodeId ?? null,
    nodeUrl: s?.nodeUrl ?? null,
    region: s?.region ?? null,
    placement: s?.placement ?? live.player?.placement ?? null,
    moves: s?.moves ?? 0,
    failovers: s?.failovers ?? 0,
  };
}

const hook: MatchmeshTestHook = Object.freeze({
  commentaryTracks() {
    return (live.player?.session?.consumers ?? [])
      .filter((c) => c.source === 'commentary')
      .map((c) => ({ lang: c.lang, track: c.track }));
  },
  get language() {
    return live.player?.language ?? null;
  },
  soundTap: () => live.mix?.tap ?? null,
  get balance() {
    return live.mix?.balance ?? 0;
  },
  get state() {
    return live.player?.state ?? 'closed';
  },
  get path() {
    return live.player?.path ?? 'none';
  },
  get reason() {
    return live.player?.reason ?? 'no player';
  },
  get placement() {
    return live.player?.placement ?? null;
  },
  get nodeId() {
    return live.player?.session?.nodeId ?? null;
  },
  get region() {
    return live.player?.session?.region ?? null;
  },
  get hlsNodeUrl() {
    return live.player?.hls?.options.nodeUrl ?? null;
  },
  get moves() {
    return live.player?.moves ?? { moves: 0, failovers: 0 };
  },
  get setup() {
    return {
      bootstrapped: (live.player?.options.bootstrap ?? null) !== null,
      oneRoundTrip: live.player?.session?.oneRoundTrip ?? false,
    };
  },
  get scores() {
    return live.scores.slice();
  },
  get stateLog() {
    return live.states.slice();
  },
  get lastScore() {
    return live.scores.at(-1) ?? null;
  },
  get behindLive() {
    return live.player?.behindLive ?? 0;
  },
  get shownScore() {
    return live.player?.screen.current ?? null;
  },
  get frameMediaTime() {
    return live.player?.screen.frameMediaTime ?? null;
  },
  get hlsClock() {
    return live.player?.hls?.clockState ?? null;
  },
  get scoreCounters() {
    const feed = live.player?.scores;
    return {
      received: feed?.received ?? 0,
      accepted: feed?.accepted ?? 0,
      gaps: feed?.gaps ?? 0,
      missedAtJoin: feed?.missedAtJoin ?? 0,
      duplicates: feed?.duplicates ?? 0,
    };
  },
  get layers() {
    return live.player?.videoLayers ?? null;
  },
  frameSize: () => ({ width: activeVideo()?.videoWidth ?? 0, height: activeVideo()?.videoHeight ?? 0 }),
  framesDecoded,
  videoCurrentTime: () => activeVideo()?.currentTime ?? 0,
  stats,
});

/** Defines `window.__mm` once (non-writable, non-configurable). */
function define(): void {
  if (window.__mm === hook) return;
  Object.defineProperty(window, '__mm', {
    value: hook,
    writable: false,
    enumerable: false,
    configurable: false,
  });
}

/** Points the hook at a player (and starts recording its scores). Returns the detach function. */
export function bindPlayer(player: Player): () => void {
  define();
  live.player = player;
  live.scores = [];
  live.states = [{ at: Date.now(), state: player.state, path: player.path, reason: player.reason }];
  const off = player.on('score', (score) => live.scores.push(score));
  const offState = player.on('state', ({ state, path, reason }) =>
    live.states.push({ at: Date.now(), state, path, reason }),
  );
  return () => {
    off();
    offState();
    if (live.player === player) live.player = null;
  };
}

/** Points the hook at the video elements and counts the frames presented by the one on screen. */
export function bindVideo(video: HTMLVideoElement, ...hlsVideos: HTMLVideoElement[]): () => void {
  define();
  live.stopFrameCounter?.();
  live.video = video;
  live.hlsVideos = hlsVideos;
  live.presentedFrames = 0;
  let stopped = false;
  const stops: (() => void)[] = [];
  const count = (element: HTMLVideoElement, onScreen: () => boolean) => {
    if (typeof element.requestVideoFrameCallback !== 'function') return;
    let handle = 0;
    const onFrame: VideoFrameRequestCallback = () => {
      if (stopped) return;
      if (onScreen()) live.presentedFrames++;
      handle = element.requestVideoFrameCallback(onFrame);
    };
    handle = element.requestVideoFrameCallback(onFrame);
    stops.push(() => element.cancelVideoFrameCallback(handle));
  };
  // The player marks the element on screen with data-active.
  count(video, () => video.dataset.active !== 'false');
  for (const hlsVideo of hlsVideos) count(hlsVideo, () => hlsVideo.dataset.active === 'true');
  live.stopFrameCounter = () => {
    stopped = true;
    for (const stop of stops) stop();
  };
  return () => {
    live.stopFrameCounter?.();
    live.stopFrameCounter = null;
    if (live.video === video) live.video = null;
    if (live.hlsVideos === hlsVideos) live.hlsVideos = [];
  };
}

/** Points the hook at the page's SoundMix. Returns the detach function. */
export function bindSoundMix(mix: SoundMix): () => void {
  define();
  live.mix = mix;
  return () => {
    if (live.mix === mix) live.mix = null;
  };
}
