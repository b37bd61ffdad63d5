import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalLanguage, DEFAULT_COMMENTARY_LANGUAGE, type NodeRole } from '@matchmesh/protocol';
import type { LayerGovernorOptions } from '@matchmesh/sfu';
import type { z } from 'zod';
import { ConfigSchema, VIEWERS_PER_WORKER } from './config-schema.ts';
import type { PriceConfig } from './cost/prices.ts';
import type { IceServerConfig } from './ice-servers.ts';

export { ConfigSchema, VIEWERS_PER_WORKER };

/**
 * Node configuration, from environment variables only (12-factor). Every
 * variable has a default that lets `npm start` run the whole mesh on one
 * machine; a production node sets at least MM_REGION, MM_ANNOUNCED_ADDRESS,
 * REDIS_URL and MM_TOKEN_SECRET.
 */

/** The parsed environment under its variable names, plus the secrets read from files (loadConfig sections it). */
export type Config = z.infer<typeof ConfigSchema> & { tokenSecret: string; clusterSecret: string; repoRoot: string };

/**
 * The configuration as the node's objects take it: one section per concern,
 * each class gets only its own. Same variables and defaults as ConfigSchema.
 */
export interface NodeConfig {
  /** Who this node is (every section's owner may need it to log or announce itself). */
  node: { id: string; region: string; roles: NodeRole[]; logLevel: Config['LOG_LEVEL'] };
  http: { host: string; port: number; publicUrl?: string; webDist: string };
  rtc: {
    workers: number;
    listenIp: string;
    announcedAddress?: string;
    /** Worker i's WebRtcServer port is basePort + i. */
    basePort: number;
    minPort: number;
    maxPort: number;
    socketBufferBytes: number;
    workerLogLevel: Config['MM_WORKER_LOG_LEVEL'];
    workerLogTags: string[];
    ice: IceServerConfig;
    /** Playout delay asked of WebRTC viewers (ms; 0: the browser's own), or 'auto' from the upstream pipe's round trip. */
    viewerPlayoutDelayMs: number | 'auto';
    /** Pipe consumers' retransmission age bound (ms; 0: off), or 'auto' from each pipe's round trip. */
    pipeRtxMaxAgeMs: number | 'auto';
  };
  mesh: {
    claimTtlMs: number;
    pipeLingerMs: number;
    /** How often dead upstream/downstream peers are swept (the heartbeat period). */
    sweepMs: number;
    /** Where pipe transports listen and what other nodes send to. */
    pipe: { ip: string; announcedAddress?: string; portRange: { min: number; max: number }; socketBufferBytes: number };
    /** Critical regions (MM_DUAL_PATH_REGIONS): their holders take each stream over two paths. */
    dualPathRegions: string[];
  };
  hls: {
    rootDir: string;
    windowMinutes: number;
    maxBytes: number;
    lingerMs: number;
    always: string[];
    partMs: number;
    segmentMs: number;
    targetDuration: number;
    audioBitrateKbps: number;
    ffmpegPath: string;
  };
  /** The booth: one GStreamer mix per commentary language on the stream's source router. */
  commentary: {
    defaultLanguage: string;
    slots: number;
    lingerMs: number;
    bitrateKbps: number;
    gstLaunchPath: string;
  };
  program: {
    silenceMs: number;
    lagMs: number;
    returnAfterMs: number;
    graceMs: number;
    feedWindow: number;
    keyFrameIntervalMs: number;
    takeoverSilenceMs: number;
    /** Most simulcast layers a WHIP offer may send (MM_SIMULCAST_MAX_LAYERS). */
    simulcastMaxLayers: number;
  };
  /** A viewer's simulcast layer after an unasked step down (MM_LAYER_*, sfu LayerGovernor). */
  layerGovernor: LayerGovernorOptions;
  cluster: {
    redisUrl?: string;
    name: string;
    secret: string;
    heartbeatMs: number;
    /** The node's ceiling (MM_CAPACITY_VIEWERS). */
    capacityViewers: number;
    /** What one worker takes (MM_CAPACITY_VIEWERS_PER_WORKER). */
    capacityViewersPerWorker: number;
    egressUsdPerGb: number;
  };
  /**
   * `bootstrapSecret`: the signing key k0 (MM_TOKEN_SECRET). Rotated keys live in Redis: verify and sign with
   * the node's ring (server.ts `tokenKeys`), never with this alone — a token of a rotated key would be refused.
   */
  tokens: { bootstrapSecret: string; keysRefreshMs: number };
  /** Prices of the night's cost figures (GET /api/v1/cost, metrics, heartbeat). */
  cost: PriceConfig;
  /** Viewers' problem reports (routes/reports.ts). */
  reports: { ttlMs: number; maxBytes: number; perSession: number; perSubject: number; windowMs: number };
  logs: { ringLines: number };
  /** Session credentials (routes/session.ts). */
  session: { ttlS: number };
  /** Rebalancing of viewers onto relays under their share (wiring/Rebalancer.ts), and the autoscaler's figure. */
  scaling: { movesPerSecond: number; holdMs: number; tolerance: number; headroom: number };
}

export const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');

/** The dev secret the set-up script writes on first run (git-ignored). */
export function devSecretPath(root = REPO_ROOT): string {
  return path.join(root, '.matchmesh', 'secret');
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  return sections(loadEnv(env));
}

/** The environment, parsed and validated (throws ConfigError listing every bad variable). */
export function loadEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  let tokenSecret = c.MM_TOKEN_SECRET;
  if (!tokenSecret) {
    const file = c.MM_TOKEN_SECRET_FILE ?? devSecretPath();
    if (!existsSync(file)) {
      throw new ConfigError(`no MM_TOKEN_SECRET and no secret file at ${file} (run "npm run setup" once)`);
    }
    tokenSecret = readFileSync(file, 'utf8').trim();
  }
  return {
    ...c,
    tokenSecret,
    // The cluster secret signs node-to-node messages; by default it derives
    // from the token secret so a single-machine mesh needs no extra setting.
    clusterSecret: c.MM_CLUSTER_SECRET ?? `cluster:${tokenSecret}`,
    repoRoot: REPO_ROOT,
  };
}

/** Group the flat environment into the sections the node's objects take. */
export function sections(c: Config): NodeConfig {
  const list = (s: string): string[] =>
    s
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
  return {
    node: { id: c.MM_NODE_ID, region: c.MM_REGION, roles: c.MM_ROLES, logLevel: c.LOG_LEVEL },
    http: {
      host: c.MM_HTTP_HOST,
      port: c.MM_HTTP_PORT,
      publicUrl: c.MM_PUBLIC_URL,
      webDist: c.MM_WEB_DIST ?? path.join(c.repoRoot, 'apps/web/dist'),
    },
    rtc: {
      workers: c.MM_WORKERS,
      listenIp: c.MM_LISTEN_IP,
      announcedAddress: c.MM_ANNOUNCED_ADDRESS,
      basePort: c.MM_RTC_PORT,
      minPort: c.MM_RTC_MIN_PORT,
      maxPort: c.MM_RTC_MAX_PORT,
      socketBufferBytes: c.MM_UDP_BUFFER_BYTES,
      workerLogLevel: c.MM_WORKER_LOG_LEVEL,
      workerLogTags: c.MM_WORKER_LOG_TAGS,
      ice: { urls: list(c.MM_ICE_SERVERS), turnSecret: c.MM_TURN_SECRET, ttlSeconds: c.MM_TURN_TTL_S },
      viewerPlayoutDelayMs: c.MM_VIEWER_PLAYOUT_DELAY_MS,
      pipeRtxMaxAgeMs: c.MM_PIPE_RTX_MAX_AGE_MS,
    },
    mesh: {
      claimTtlMs: c.MM_CLAIM_TTL_MS,
      pipeLingerMs: c.MM_PIPE_LINGER_MS,
      sweepMs: c.MM_HEARTBEAT_MS,
      pipe: {
        ip: c.MM_LISTEN_IP,
        announcedAddress: c.MM_MESH_ADDRESS ?? c.MM_ANNOUNCED_ADDRESS,
        portRange: { min: c.MM_RTC_MIN_PORT, max: c.MM_RTC_MAX_PORT },
        socketBufferBytes: c.MM_UDP_BUFFER_BYTES,
      },
      dualPathRegions: c.MM_DUAL_PATH_REGIONS,
    },
    hls: {
      rootDir: c.MM_HLS_DIR ?? path.join(os.tmpdir(), 'matchmesh-hls', c.MM_NODE_ID.replace(/[^A-Za-z0-9_-]/g, '_')),
      windowMinutes: c.MM_HLS_WINDOW_MIN,
      maxBytes: c.MM_HLS_MAX_BYTES,
      lingerMs: c.MM_HLS_LINGER_MS,
      always: c.MM_HLS_ALWAYS,
      partMs: c.MM_HLS_PART_MS,
      segmentMs: c.MM_HLS_SEGMENT_MS,
      targetDuration: c.MM_HLS_TARGET_DURATION,
      audioBitrateKbps: c.MM_HLS_AUDIO_KBPS,
      ffmpegPath: c.MM_FFMPEG_PATH,
    },
    commentary: {
      defaultLanguage: canonicalLanguage(c.MM_COMMENTARY_DEFAULT_LANG) ?? DEFAULT_COMMENTARY_LANGUAGE,
      slots: c.MM_COMMENTARY_SLOTS,
      lingerMs: c.MM_COMMENTARY_LINGER_MS,
      bitrateKbps: c.MM_COMMENTARY_KBPS,
      gstLaunchPath: c.MM_GST_LAUNCH_PATH,
    },
    program: {
      silenceMs: c.MM_SOURCE_SILENCE_MS,
      lagMs: c.MM_SOURCE_LAG_MS,
      returnAfterMs: c.MM_PRIMARY_RETURN_MS,
      graceMs: c.MM_STREAM_GRACE_MS,
      feedWindow: c.MM_FEED_WINDOW,
      keyFrameIntervalMs: c.MM_KEYFRAME_REQUEST_INTERVAL_MS,
      takeoverSilenceMs: c.MM_TAKEOVER_SILENCE_MS,
      simulcastMaxLayers: c.MM_SIMULCAST_MAX_LAYERS,
    },
    layerGovernor: {
      holdMs: c.MM_LAYER_HOLD_MS,
      maxHoldMs: Math.max(c.MM_LAYER_HOLD_MS, c.MM_LAYER_HOLD_MAX_MS),
      stepTo: c.MM_LAYER_STEP,
      climbAssist: c.MM_LAYER_CLIMB_ASSIST,
    },
    cluster: {
      redisUrl: c.REDIS_URL,
      name: c.MM_CLUSTER,
      secret: c.clusterSecret,
      heartbeatMs: c.MM_HEARTBEAT_MS,
      capacityViewers: c.MM_CAPACITY_VIEWERS,
      capacityViewersPerWorker: c.MM_CAPACITY_VIEWERS_PER_WORKER,
      egressUsdPerGb: c.MM_EGRESS_USD_PER_GB,
    },
    tokens: { bootstrapSecret: c.tokenSecret, keysRefreshMs: c.MM_KEYS_REFRESH_MS },
    cost: {
      regionUsdPerGb: c.MM_REGION_USD_PER_GB,
      defaultUsdPerGb: c.MM_EGRESS_USD_PER_GB,
      cdnUsdPerGb: c.MM_CDN_USD_PER_GB,
    },
    reports: {
      ttlMs: Math.round(c.MM_REPORT_TTL_HOURS * 3_600_000),
      maxBytes: c.MM_REPORT_MAX_BYTES,
      perSession: c.MM_REPORT_SESSION_LIMIT,
      perSubject: c.MM_REPORT_SUBJECT_LIMIT,
      windowMs: c.MM_REPORT_WINDOW_S * 1000,
    },
    logs: { ringLines: c.MM_LOG_RING_LINES },
    session: { ttlS: c.MM_SESSION_TTL_S },
    scaling: {
      movesPerSecond: c.MM_REBALANCE_MOVES_PER_SECOND,
      holdMs: c.MM_REBALANCE_HOLD_MS,
      tolerance: c.MM_REBALANCE_TOLERANCE,
      headroom: c.MM_SCALE_HEADROOM,
    },
  };
}

/** The URL other nodes and clients reach this node at, once its port is bound. */
export function publicUrl(http: NodeConfig['http'], boundPort: number): string {
  return http.publicUrl ?? `http://${http.host === '0.0.0.0' ? '127.0.0.1' : http.host}:${boundPort}`;
}
