import type { ScoreUpdate } from '@matchmesh/protocol';
import type { OriginEncoder } from './gst-pipeline.ts';
import type { ConnectedInfo } from './ingest-lane.ts';
import type { LadderLayer } from './ladder.ts';
import type { Logger } from './log.ts';
import type { MediaKind } from './media-source.ts';
import type { VideoSize } from './video-size.ts';
import type { X264Preset } from './x264-args.ts';

/** The origin agent's public shapes: what it is told (options), what it emits (events) and reports (stats). */

export interface OriginAgentOptions {
  /** Base URL of the ingest node, e.g. http://127.0.0.1:8080 (we POST to /whip/:stream). */
  ingestUrl: string;
  stream: string;
  /** Publisher token (Bearer) for the WHIP endpoint. */
  token: string;
  /** Redundant ingest: also publish to this node, with a token that has the `backup` claim. */
  backupIngestUrl?: string;
  backupToken?: string;
  /** On-disk score queue (survives an agent restart); undefined = memory only. */
  scoreQueueFile?: string;
  /** 'testpattern' (default) or an ffmpeg input: file path, rtmp://..., srt://... */
  source?: string;
  videoBitrateKbps?: number;
  /** Encoded picture size (default 1280x720). */
  videoSize?: VideoSize;
  /**
   * Simulcast ladder (ladder.ts `parseLadder`): these layers are encoded by
   * one ffmpeg and published as RFC 8853 simulcast. Undefined (the library
   * default) publishes one layer of `videoSize` / `videoBitrateKbps`; a
   * one-layer ladder publishes that layer without simulcast.
   */
  ladder?: LadderLayer[];
  /** x264 preset of the ladder's layers (default 'ultrafast'). */
  x264Preset?: X264Preset;
  /**
   * Key frame interval. The ingest can splice a new session into the stream
   * only from a key frame, and ffmpeg cannot honour a PLI, so after a
   * reconnect viewers wait up to this long (default 1000).
   */
  keyframeIntervalMs?: number;
  /**
   * Video encoder: 'gstreamer' (ffmpeg draws or decodes, GStreamer's x264
   * encodes and forces a key frame on every request the ingest sends), 'ffmpeg'
   * (ffmpeg encodes: key frames only every `keyframeIntervalMs`), or 'auto'
   * (default): GStreamer where it covers the source (the test pattern, any
   * single-layer source) and is installed, ffmpeg otherwise (an external
   * source with a ladder: its frame rate is the source's, which raw frames
   * to GStreamer cannot carry).
   */
  encoder?: OriginEncoder;
  /** Requests within this long of a forwarded one are answered by its key frame (keyframe-gate.ts; default 100). */
  keyFrameMergeMs?: number;
  /** python3 with GStreamer's bindings (default /usr/bin/python3). */
  pythonPath?: string;
  /** Burn the frame/clock strips on external sources too (always on for the test pattern). */
  burnStrips?: boolean;
  /** Files: loop forever (default true). */
  loop?: boolean;
  /** rtmp:// sources: be the RTMP server (ffmpeg -listen 1) so OBS can push (default true). */
  rtmpListen?: boolean;
  ffmpegPath?: string;
  /** Built-in score generator period; 0 = off. Default: 2000 for the test pattern, 0 otherwise. */
  scoreIntervalMs?: number;
  scoreSeed?: number;
  /** Max updates held while disconnected (oldest dropped beyond). */
  queueCapacity?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** First retry after a stable session died: uniformly random in [0, this] ms (default 50). */
  firstRetryJitterMs?: number;
  /** Delay after a non-transient rejection (401, 403, 404, 400...). */
  slowRetryMs?: number;
  /** Reset the backoff only after a session stayed up this long (stops flapping hot loops). */
  stableAfterMs?: number;
  connectTimeoutMs?: number;
  livenessTimeoutMs?: number;
  /** Re-send updates written this long before the ingest was last heard from. */
  replayMarginMs?: number;
  useIpv6?: boolean;
  logger?: Logger;
}

export interface AgentEvents {
  connected: [info: ConnectedInfo];
  disconnected: [info: { reason: string; requeued: number; lane: 'primary' | 'backup' }];
  'score-sent': [update: ScoreUpdate, info: { replay: boolean }];
  /** A connection attempt failed (HTTP rejection, ICE timeout...); the agent retries. */
  'connect-failed': [info: { error: Error; retryInMs: number }];
}

export interface AgentStats {
  connected: boolean;
  sessionUrl: string | undefined;
  packetsSent: Record<MediaKind, number>;
  packetsFromSource: Record<MediaKind, number>;
  /** Per video layer (lowest first; one entry without a ladder): packets read from ffmpeg and sent on the primary lane. */
  layers: {
    rid: string | undefined;
    size: string;
    maxFps: number;
    kbps: number;
    packetsFromSource: number;
    packetsSent: number;
  }[];
  /** Packets read from ffmpeg while no session could carry them. */
  packetsDropped: Record<MediaKind, number>;
  connectAttempts: number;
  failedAttempts: number;
  reconnects: number;
  queueLength: number;
  lastSeq: number;
  /** This agent's score epoch (score-epoch.ts). */
  epoch: number;
  scoresSent: number;
  scoresReplayed: number;
  scoresDropped: number;
  frame: number;
  mediaTimeMs: number;
  sourceRestarts: number;
  pliReceived: number;
  nackReceived: number;
  /** The encoder in use ('gstreamer' honours key-frame requests). */
  encoder: 'gstreamer' | 'ffmpeg';
  /**
   * Key frames on request: requests from the ingests (received), passed to the
   * encoder (forwarded), answered by one already in flight (merged); key
   * frames the encoder produced on request (forced) and by its GOP
   * (periodic), per layer (lowest first).
   */
  keyFrames: {
    received: number;
    forwarded: number;
    merged: number;
    forced: number[];
    periodic: number[];
    /** Wall clock (ms) of the encoder's newest key frame; of its newest forced ones (the last 64). */
    lastAtMs: number | undefined;
    forcedAtMs: number[];
  };
  /** Per ingest (primary, and backup with redundant ingest). */
  lanes: {
    name: string;
    connected: boolean;
    sessionUrl: string | undefined;
    reconnects: number;
    queueLength: number;
  }[];
  /** Updates re-queued from the on-disk journal at start (left undelivered by a previous run). */
  scoresRecovered: number;
}
