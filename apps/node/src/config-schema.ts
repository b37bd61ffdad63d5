import os from 'node:os';
import { DEFAULT_COMMENTARY_LANGUAGE, LanguageTag, NodeRole, RegionName } from '@matchmesh/protocol';
import { z } from 'zod';
import { RegionPrices, UsdPerGb } from './cost/prices.ts';

/*
 * The node's environment variables, each with its default and why: the one
 * list ops read to configure a node (config.ts turns them into the sections
 * the node's objects take).
 */
const port = z.coerce.number().int().min(0).max(65535);

export const ConfigSchema = z
  .object({
    MM_NODE_ID: z.string().min(1).max(64).optional(),
    /** Required for relays (viewers are placed by region); an ingest-only node defaults to 'local'. */
    MM_REGION: RegionName.optional(),
    MM_ROLES: z
      .string()
      .default('ingest,relay')
      .transform((s) =>
        s
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
      )
      .pipe(z.array(NodeRole).min(1)),
    MM_HTTP_HOST: z.string().default('127.0.0.1'),
    MM_HTTP_PORT: port.default(8080),
    /** URL other nodes and clients use to reach this node; derived from host/port when unset. */
    MM_PUBLIC_URL: z.string().url().optional(),
    MM_LISTEN_IP: z.string().default('127.0.0.1'),
    MM_ANNOUNCED_ADDRESS: z.string().optional(),
    /**
     * Address other nodes send this node's region copies to (pipe transports).
     * Defaults to MM_ANNOUNCED_ADDRESS; set it when nodes reach each other over
     * a private network while viewers come in on the public address.
     */
    MM_MESH_ADDRESS: z.string().optional(),
    /** Worker i's WebRtcServer listens on UDP+TCP port MM_RTC_PORT + i. */
    MM_RTC_PORT: port.default(44400),
    MM_RTC_MIN_PORT: port.default(45000),
    MM_RTC_MAX_PORT: port.default(45999),
    /**
     * SO_RCVBUF/SO_SNDBUF of media sockets in bytes (0: kernel default). The
     * kernel caps it at net.core.rmem_max/wmem_max: raise those too (infra/).
     */
    MM_UDP_BUFFER_BYTES: z.coerce
      .number()
      .int()
      .min(0)
      .max(256 * 1024 * 1024)
      .default(4 * 1024 * 1024),
    MM_WORKERS: z.coerce.number().int().min(1).max(64).default(Math.max(1, os.availableParallelism())),
    /**
     * Viewers one mediasoup worker (one core) takes. Default VIEWERS_PER_WORKER
     * (200): the fan-out bench saturates one worker core of the project's build
     * (batched sends, OpenSSL SRTP) at ~260–300 viewers of a 1.4 Mbit/s program
     * (2 vCPU EPYC), so this keeps a quarter in hand for bursts, RTCP and HLS
     * packaging. Measure your machines with
     * `npm run bench -- --scenarios=fanout,workers` and set it. A node takes a viewer
     * while one of its workers is under this (placement and admission).
     */
    MM_CAPACITY_VIEWERS_PER_WORKER: z.coerce.number().int().min(1).max(100_000).optional(),
    /**
     * Viewers placement sends here before it prefers other relays of the
     * region, whatever the workers say (e.g. the NIC's share). Default:
     * MM_CAPACITY_VIEWERS_PER_WORKER × MM_WORKERS.
     */
    MM_CAPACITY_VIEWERS: z.coerce.number().int().min(0).optional(),
    /**
     * Rebalancing (ARCHITECTURE "Rebalancing"): at most this many of this relay's viewers are told to move
     * per second to a relay of the region under its share (a relay that just joined). Each move costs the
     * viewer a make-before-break switch (~0.1–0.2 s freeze); 0 turns rebalancing off.
     */
    MM_REBALANCE_MOVES_PER_SECOND: z.coerce.number().min(0).max(1000).default(5),
    /** A viewer that joined this relay less than this long ago is never moved (no viewer moves twice in a row). */
    MM_REBALANCE_HOLD_MS: z.coerce.number().int().min(0).default(30_000),
    /** A relay gives viewers only when above its share by this fraction of its capacity (0.1 = 10 %). */
    MM_REBALANCE_TOLERANCE: z.coerce.number().min(0).max(1).default(0.1),
    /** Spare capacity `mm_scale_needed_relays` plans for, as a share of the audience (0.25: 25 % more viewers). */
    MM_SCALE_HEADROOM: z.coerce.number().min(0).max(4).default(0.25),
    /** Price of a GB leaving this node (your provider's egress rate), for the ops cost figures. */
    MM_EGRESS_USD_PER_GB: z.coerce.number().min(0).default(0.05),
    /** Per-region prices of a GB leaving the region (`eu=0.02,asia=0.09`); others cost MM_EGRESS_USD_PER_GB. */
    MM_REGION_USD_PER_GB: RegionPrices,
    /**
     * A GB at the CDN you would otherwise buy, for the cost comparison. Default 0.085: CloudFront's list price
     * for the first 10 TB a month in North America and Europe.
     */
    MM_CDN_USD_PER_GB: UsdPerGb.default(0.085),
    /** `redis://`, `rediss://`, or `redis-sentinel://host:port[,host:port…]/<master name>` (infra/README.md). */
    REDIS_URL: z
      .string()
      .regex(
        /^(redis|rediss|redis-sentinel):\/\//,
        'REDIS_URL must start with redis://, rediss:// or redis-sentinel://',
      )
      .optional(),
    MM_CLUSTER: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .default('matchmesh'),
    MM_CLUSTER_SECRET: z.string().min(16).optional(),
    MM_TOKEN_SECRET: z.string().min(16).optional(),
    MM_TOKEN_SECRET_FILE: z.string().optional(),
    /**
     * Every node reloads the token signing keys (rotated in Redis, `matchmesh keys`) this often; the node
     * that rotates or retires a key also tells every other node at once, so this only bounds a missed message.
     */
    MM_KEYS_REFRESH_MS: z.coerce.number().int().min(1000).default(30_000),
    MM_WEB_DIST: z.string().optional(),
    /** Comma-separated STUN/TURN URLs announced in WHIP/WHEP Link headers. */
    MM_ICE_SERVERS: z.string().default(''),
    /** coturn's static-auth-secret: TURN URLs then get per-session REST-API credentials (infra/turn). */
    MM_TURN_SECRET: z.string().min(16).optional(),
    /** Lifetime of those credentials. */
    MM_TURN_TTL_S: z.coerce.number().int().min(60).max(86_400).default(3600),
    /** A region-copy claim lives this long without refresh (refreshed every third of it). */
    MM_CLAIM_TTL_MS: z.coerce.number().int().min(300).default(10_000),
    /** A relay keeps its region copy this long after its last viewer left. */
    MM_PIPE_LINGER_MS: z.coerce.number().int().min(0).default(30_000),
    /**
     * Playout delay asked of this node's WebRTC viewers (the browser's jitterBufferTarget, ms; 0: the
     * browser's own). On a relay at the far end of a long haul, about the haul's round trip: a packet
     * lost on the way is retransmitted across it before its frame is due, instead of freezing the
     * picture (bench longhaul: at 2 % random loss and 200 ms round trip, 11 freezes over 200 ms in 16 s
     * without, 2 with 400 ms).
     */
    // 'auto' (default): two round trips of the pipe bringing the region its copy when that is 50 ms or more
    // (a far region), the browser's own otherwise (packages/mesh playout.ts); a number fixes it for every stream.
    MM_VIEWER_PLAYOUT_DELAY_MS: z.union([z.literal('auto'), z.coerce.number().int().min(0).max(4000)]).default('auto'),
    /**
     * Pipe retransmissions (worker recipe patch 003): a pipe consumer does not retransmit a packet whose
     * media is older than this (ms) when a NACK for it arrives. 0 (default): mediasoup's behaviour (every
     * NACKed packet still in its 2 s buffer is sent again). 'auto': 1.5 round trips of the pipe + 50 ms
     * (far viewers hold two round trips: packages/sfu pipeRtxAge.ts). Off by default because the bench
     * measured it hurting: a video packet too late for its own frame is still the reference of the frames
     * after it, so refusing it left the far viewers waiting for a key frame (bench longhaul, README).
     */
    MM_PIPE_RTX_MAX_AGE_MS: z
      .string()
      .default('0')
      .refine(
        (v) => v === 'auto' || (/^\d+$/.test(v) && Number(v) <= 2000),
        'must be "auto", 0 (off) or a whole number of ms up to 2000 (the retransmission buffer keeps 2 s)',
      )
      .transform((v) => (v === 'auto' ? ('auto' as const) : Number(v))),
    MM_HEARTBEAT_MS: z.coerce.number().int().min(50).default(2000),
    /** Stable streams: the active feed (ingest copy or WHIP session) is dead after this much silence. */
    // 300 ms: a live feed sends audio every 20 ms and video every 33 ms, so 300 ms without a packet is a
    // failure; detection time is most of a silence switch's freeze (500 ms left kills at the 0.5 s bound).
    MM_SOURCE_SILENCE_MS: z.coerce.number().int().min(50).default(300),
    /** ...or when it has fallen this far (ms of media) behind the other copy of the same encoder. */
    MM_SOURCE_LAG_MS: z.coerce.number().int().min(20).default(150),
    /** A returning primary must deliver this long without a gap before traffic goes back to it. */
    MM_PRIMARY_RETURN_MS: z.coerce.number().int().min(0).default(5000),
    /** The stable producers (viewers' consumers) outlive the last feed by this much. */
    MM_STREAM_GRACE_MS: z.coerce.number().int().min(0).default(15_000),
    /**
     * Program video packets handed to the worker ahead of its fan-out (the feed pacer): a key frame's
     * burst no longer queues the audio, commentary and other streams behind it. 0 = unpaced.
     */
    MM_FEED_WINDOW: z.coerce.number().int().min(0).max(64).default(3),
    /**
     * At most one key-frame request per stream and layer goes upstream per interval (ms). The origin
     * agent honours each with a forced key frame: shorter = a joining viewer waits less after another
     * viewer's request, longer = fewer forced key frames (bitrate) in a join storm.
     */
    MM_KEYFRAME_REQUEST_INTERVAL_MS: z.coerce.number().int().min(50).max(5000).default(600),
    /** A publisher of the same stream that delivered media this recently is still publishing (409). */
    MM_TAKEOVER_SILENCE_MS: z.coerce.number().int().min(100).default(1000),
    /** Most simulcast layers a WHIP offer may send; an offer with more is refused (422). */
    MM_SIMULCAST_MAX_LAYERS: z.coerce.number().int().min(1).max(8).default(3),
    /**
     * A viewer's simulcast layer after a step down it did not ask for (LayerGovernor): held for
     * MM_LAYER_HOLD_MS, doubled by each failed climb up to MM_LAYER_HOLD_MAX_MS, at the lowest layer
     * ('lowest'), or ('below', the behaviour before issue 14's fix) one layer down on a burst of NACKs and
     * where the estimate fell.
     * The defaults are the sfu's DEFAULT_LAYER_GOVERNOR.
     */
    MM_LAYER_HOLD_MS: z.coerce.number().int().min(0).max(60_000).default(2000),
    MM_LAYER_HOLD_MAX_MS: z.coerce.number().int().min(0).max(60_000).default(4000),
    MM_LAYER_STEP: z.enum(['lowest', 'below']).default('lowest'),
    /** After a fall its estimate made, resume the climb mediasoup refuses for 10 s once the estimate carries it. */
    MM_LAYER_CLIMB_ASSIST: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),
    /** mediasoup worker log level and tags (debugging; worker logs go through the DEBUG=mediasoup* channel). */
    MM_WORKER_LOG_LEVEL: z.enum(['debug', 'warn', 'error', 'none']).default('warn'),
    MM_WORKER_LOG_TAGS: z
      .string()
      .default('')
      .transform((s) =>
        s
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      ),
    /** HLS: parent folder of the per-stream packaging folders (default: <tmp>/matchmesh-hls/<node id>). */
    MM_HLS_DIR: z.string().optional(),
    /** HLS rewind window kept on disk per stream, in minutes. */
    MM_HLS_WINDOW_MIN: z.coerce
      .number()
      .min(0.1)
      .max(24 * 60)
      .default(120),
    /** Cap on one stream's HLS folder; the window shrinks before the folder grows past it. */
    MM_HLS_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1024 * 1024)
      .default(4 * 1024 ** 3),
    /** Stop a stream's packager this long after its last HLS request. */
    MM_HLS_LINGER_MS: z.coerce.number().int().min(0).default(60_000),
    /**
     * Critical regions (`asia,oceania`): each one's region holder pulls every stream over two independent
     * paths — from the ingest and from a relay of another region — merged packet by packet (the dual path:
     * a loss or an outage on one path costs the viewers nothing; the region's copy costs twice the egress).
     * Every node of the cluster should carry the same list; only the listed regions' holders act on it.
     */
    MM_DUAL_PATH_REGIONS: z
      .string()
      .default('')
      .transform((s) =>
        s
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      )
      .pipe(
        z
          .array(
            z
              .string()
              .regex(
                /^[a-z0-9][a-z0-9-]{0,31}$/,
                'each region of MM_DUAL_PATH_REGIONS is a region name (lowercase letters, digits, "-"), comma-separated',
              ),
          )
          .refine((r) => new Set(r).size === r.length, 'MM_DUAL_PATH_REGIONS names a region twice'),
      ),
    /** Streams packaged as soon as they are live here, without waiting for a request ("*" = all). */
    MM_HLS_ALWAYS: z
      .string()
      .default('')
      .transform((s) =>
        s
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      ),
    MM_HLS_PART_MS: z.coerce.number().int().min(100).max(1000).default(200),
    MM_HLS_SEGMENT_MS: z.coerce.number().int().min(500).max(6000).default(1000),
    /** EXT-X-TARGETDURATION (s): no segment is longer, cut without a key frame if the GOP is longer. */
    MM_HLS_TARGET_DURATION: z.coerce.number().int().min(1).max(10).default(2),
    MM_HLS_AUDIO_KBPS: z.coerce.number().int().min(32).max(320).default(96),
    MM_FFMPEG_PATH: z.string().default('ffmpeg'),
    /** Commentary: the language viewers hear when they chose none, and of commentator tokens naming none. */
    MM_COMMENTARY_DEFAULT_LANG: LanguageTag.default(DEFAULT_COMMENTARY_LANGUAGE),
    /** Commentators one language's mix takes at once (GStreamer inputs per language). */
    MM_COMMENTARY_SLOTS: z.coerce.number().int().min(1).max(16).default(4),
    /** A language's track stays on air this long after its last commentator left (a reconnect keeps it). */
    MM_COMMENTARY_LINGER_MS: z.coerce.number().int().min(0).default(30_000),
    /** The mixed track's Opus bitrate (kbit/s). */
    MM_COMMENTARY_KBPS: z.coerce.number().int().min(16).max(128).default(48),
    MM_GST_LAUNCH_PATH: z.string().default('gst-launch-1.0'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Recent log lines (info and above) each node keeps in memory for `GET /api/v1/logs?session=`. */
    MM_LOG_RING_LINES: z.coerce.number().int().min(100).max(1_000_000).default(5000),
    /** Viewers' problem reports are kept this long in Redis. */
    MM_REPORT_TTL_HOURS: z.coerce
      .number()
      .min(0.01)
      .max(24 * 90)
      .default(72),
    /** Largest report body (the player sends ~60 one-second samples: ~15 KiB); bigger is 413. */
    MM_REPORT_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(4096)
      .max(1024 * 1024)
      .default(48 * 1024),
    /** Reports one player session may send per window, and one token subject (or address) across sessions. */
    MM_REPORT_SESSION_LIMIT: z.coerce.number().int().min(1).default(3),
    MM_REPORT_SUBJECT_LIMIT: z.coerce.number().int().min(1).default(20),
    MM_REPORT_WINDOW_S: z.coerce.number().int().min(1).default(600),
    /**
     * Lifetime of a session credential (POST /api/v1/session): what a leaked HLS URL or request is good for.
     * The watch page renews at two thirds of it.
     */
    MM_SESSION_TTL_S: z.coerce.number().int().min(5).max(86_400).default(600),
  })
  .superRefine((env, ctx) => {
    if (env.MM_ROLES.includes('relay') && !env.MM_REGION) {
      ctx.addIssue({
        code: 'custom',
        path: ['MM_REGION'],
        message: 'a relay must know its region: set MM_REGION (e.g. eu, asia; npm start uses "local")',
      });
    }
    if (env.MM_DUAL_PATH_REGIONS.includes(env.MM_REGION ?? 'local') && !env.MM_ROLES.includes('relay')) {
      ctx.addIssue({
        code: 'custom',
        path: ['MM_DUAL_PATH_REGIONS'],
        message: `region "${env.MM_REGION ?? 'local'}" is critical but this node is not a relay: only a relay holds a region's copy (add relay to MM_ROLES, or leave the region out)`,
      });
    }
  })
  .transform((env) => ({
    ...env,
    MM_REGION: env.MM_REGION ?? 'local',
    MM_NODE_ID: env.MM_NODE_ID ?? `${os.hostname()}-${env.MM_HTTP_PORT}`,
    MM_CAPACITY_VIEWERS_PER_WORKER: env.MM_CAPACITY_VIEWERS_PER_WORKER ?? VIEWERS_PER_WORKER,
    MM_CAPACITY_VIEWERS:
      env.MM_CAPACITY_VIEWERS ?? (env.MM_CAPACITY_VIEWERS_PER_WORKER ?? VIEWERS_PER_WORKER) * env.MM_WORKERS,
  }));

/**
 * Default viewer capacity of one worker (MM_CAPACITY_VIEWERS_PER_WORKER): the
 * measured saturation (~200 viewers of a 1.4 Mbit/s program per worker core,
 * `npm run bench -- --scenarios=fanout`) less a quarter of margin.
 */
export const VIEWERS_PER_WORKER = 200;
