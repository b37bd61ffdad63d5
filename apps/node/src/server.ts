import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import { WorkerPool } from '@matchmesh/sfu';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { types } from 'mediasoup';
import type { Logger as PinoLogger } from 'pino';
import { ClusterLink } from './cluster/ClusterLink.ts';
import { type Config, publicUrl } from './config.ts';
import { HlsService } from './hls/HlsService.ts';
import { registerHls } from './hls/routes.ts';
import { sendProblem } from './http/problem.ts';
import { useZodSchemas } from './http/schemas.ts';
import { mintIceServers } from './ice-servers.ts';
import { MediaService } from './media/MediaService.ts';
import { MeshService } from './mesh/MeshService.ts';
import { NodeMetrics } from './metrics.ts';
import { registerAdmin } from './routes/admin.ts';
import { registerEdges } from './routes/edges.ts';
import { registerHealth } from './routes/health.ts';
import { registerMetrics } from './routes/metrics.ts';
import { registerWebRtcHttp } from './routes/webrtc-http.ts';
import { SignalingServer } from './signaling/SignalingServer.ts';

export interface MatchmeshNode {
  app: FastifyInstance;
  media: MediaService;
  signaling: SignalingServer;
  config: Config;
  /** Base URL of the HTTP server once listening. */
  url: string;
  close(): Promise<void>;
}

/**
 * Wire a node: media (packages/sfu) and coordination (packages/cluster) know
 * nothing of each other; this is the one place that joins them to the HTTP
 * and WebSocket edge.
 */
export async function startNode(config: Config, logger: PinoLogger): Promise<MatchmeshNode> {
  const pool = await WorkerPool.create({
    size: config.MM_WORKERS,
    listenIp: config.MM_LISTEN_IP,
    announcedAddress: config.MM_ANNOUNCED_ADDRESS,
    basePort: config.MM_RTC_PORT,
    rtcMinPort: config.MM_RTC_MIN_PORT,
    rtcMaxPort: config.MM_RTC_MAX_PORT,
    socketBufferBytes: config.MM_UDP_BUFFER_BYTES,
    logLevel: config.MM_WORKER_LOG_LEVEL,
    logTags: config.MM_WORKER_LOG_TAGS as types.WorkerLogTag[],
    logger: logger.child({ room: 'sfu' }),
  });
  const media = new MediaService(pool, logger.child({ room: 'media' }), {
    program: {
      silenceMs: config.MM_SOURCE_SILENCE_MS,
      lagMs: config.MM_SOURCE_LAG_MS,
      returnAfterMs: config.MM_PRIMARY_RETURN_MS,
      graceMs: config.MM_STREAM_GRACE_MS,
    },
    takeoverSilenceMs: config.MM_TAKEOVER_SILENCE_MS,
  });

  const app: FastifyInstance = Fastify({
    // Request logs only at warn and above: a busy node serves many joins.
    loggerInstance: logger.child({ room: 'http' }, { level: 'warn' }) as unknown as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    // HLS carries the viewer token (a JWT, ~300 chars) as a path segment.
    routerOptions: { maxParamLength: 2048 },
  });
  // Zod route schemas, and the one error handler that turns every failure into problem+json.
  useZodSchemas(app);
  const iceConfig = {
    urls: config.MM_ICE_SERVERS.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    turnSecret: config.MM_TURN_SECRET,
    ttlSeconds: config.MM_TURN_TTL_S,
  };
  const iceServers = (user: string) => mintIceServers(iceConfig, user);

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 404, 'Not Found', `no route for ${request.method} ${request.url.split('?')[0]}`),
  );

  const signaling = new SignalingServer({
    media,
    tokenSecret: config.tokenSecret,
    iceServers,
    nodeId: config.MM_NODE_ID,
    region: config.MM_REGION,
    log: logger.child({ room: 'signaling' }),
    admissionBlocked: (role) => {
      if (!cluster?.healthy) return 'cluster coordination (Redis) is unavailable; retry shortly';
      // Commentators talk where the program enters (the ingest: least delay, and their
      // voice is piped to the regions from there); viewers need a relay.
      if (!config.MM_ROLES.includes('relay') && role !== 'commentator') {
        return 'this node does not serve viewers (no relay role)';
      }
      if (cluster.registry.record?.draining) return 'this node is draining; join another relay of the region';
      return undefined;
    },
    resolveStream: async (stream) => (mesh ? mesh.resolveStream(stream) : media.stream(stream)),
  });
  let cluster: ClusterLink | undefined;
  let mesh: MeshService | undefined;

  // The socket takes frames up to 256 KiB; the signaling server answers anything
  // over 64 KiB with a typed error, so only an absurd frame closes a socket.
  await app.register(fastifyWebsocket, { options: { maxPayload: 256 * 1024 } });
  await registerHealth(app, {
    notReadyReasons: () => [
      ...(pool.workers.length === 0 ? ['no mediasoup worker'] : []),
      ...(cluster?.healthy ? [] : ['redis unavailable']),
    ],
  });
  await app.register(async (scope) => {
    await registerWebRtcHttp(scope, {
      prefix: 'whip',
      role: 'publisher',
      tokenSecret: config.tokenSecret,
      iceServers,
      // A token with the `backup` claim publishes the stream's redundant feed.
      open: (stream, offer, claims) => media.publish(stream, offer, claims.backup ? 'backup' : 'primary'),
      find: (id) => media.whip.get(id),
    });
  });
  await app.register(async (scope) => {
    await registerWebRtcHttp(scope, {
      prefix: 'whep',
      role: ['viewer', 'commentator'],
      tokenSecret: config.tokenSecret,
      iceServers,
      admissionBlocked: () =>
        cluster?.healthy ? undefined : 'cluster coordination (Redis) is unavailable; retry shortly',
      open: async (stream, offer) => {
        // A relay may not hold the stream yet: bring the region's copy first.
        if (config.MM_ROLES.includes('relay')) await mesh?.resolveStream(stream).catch(() => undefined);
        return media.play(stream, offer);
      },
      find: (id) => media.whep.get(id),
    });
  });
  await app.register(async (scope) => signaling.register(scope));
  const hls = new HlsService({
    rootDir:
      config.MM_HLS_DIR ?? path.join(os.tmpdir(), 'matchmesh-hls', config.MM_NODE_ID.replace(/[^A-Za-z0-9_-]/g, '_')),
    lingerMs: config.MM_HLS_LINGER_MS,
    always: config.MM_HLS_ALWAYS,
    ffmpegPath: config.MM_FFMPEG_PATH,
    partMs: config.MM_HLS_PART_MS,
    segmentMs: config.MM_HLS_SEGMENT_MS,
    targetDuration: config.MM_HLS_TARGET_DURATION,
    windowMinutes: config.MM_HLS_WINDOW_MIN,
    maxBytes: config.MM_HLS_MAX_BYTES,
    audioBitrateKbps: config.MM_HLS_AUDIO_KBPS,
    log: logger.child({ room: 'hls' }),
    // Like WHEP: a relay brings the region's copy first; an ingest serves its own.
    resolveStream: async (stream) => {
      if (mesh && config.MM_ROLES.includes('relay'))
        return mesh.resolveStream(stream).catch(() => media.stream(stream));
      return media.stream(stream);
    },
  });
  media.on('published', (stream) => hls.published(stream));
  await app.register(async (scope) =>
    registerHls(scope, { hls, tokenSecret: config.tokenSecret, startWaitMs: 10_000 }),
  );
  const metrics = new NodeMetrics(media, signaling, () => mesh, { node: config.MM_NODE_ID, region: config.MM_REGION });
  await registerMetrics(app, metrics, config.tokenSecret);
  await registerEdges(app, {
    tokenSecret: config.tokenSecret,
    region: config.MM_REGION,
    latestScore: (stream) => media.stream(stream)?.latestScore ?? null,
    cluster: () => {
      if (!cluster) throw new Error('cluster link not started');
      return cluster;
    },
  });
  await app.register(async (scope) =>
    registerAdmin(scope, {
      tokenSecret: config.tokenSecret,
      cluster: () => {
        if (!cluster) throw new Error('cluster link not started');
        return cluster;
      },
      media,
      signaling,
      mesh: () => mesh,
      nodeId: config.MM_NODE_ID,
    }),
  );

  const webDist = config.MM_WEB_DIST ?? path.join(config.repoRoot, 'apps/web/dist');
  if (existsSync(webDist)) {
    await app.register(fastifyStatic, { root: webDist, wildcard: false });
    // Client-side routes of the single-page app.
    for (const route of ['/watch', '/commentate', '/ops']) {
      app.get(route, (_req, reply) => reply.sendFile('index.html'));
    }
  } else {
    logger.warn({ webDist }, 'web app not built; "/" will 404 (npm run build -w @matchmesh/web)');
  }

  await app.listen({ host: config.MM_HTTP_HOST, port: config.MM_HTTP_PORT });
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : config.MM_HTTP_PORT;
  const url = publicUrl(config, boundPort);
  cluster = await ClusterLink.start(
    config,
    url,
    () => currentLoad(media, signaling, config.MM_EGRESS_USD_PER_GB),
    logger,
  );
  const link = cluster;
  mesh = new MeshService({
    media,
    cluster,
    config,
    logger,
    // An HLS packager counts as a viewer: it keeps the region's copy alive.
    localViewers: (stream) =>
      [...signaling.peers].filter((p) => p.stream?.stream === stream).length + (hls.active(stream) ? 1 : 0),
  });
  mesh.start();
  // Redis came back empty (or this is a fresh registration): say again what
  // this node holds, so the directory is right without anyone restarting.
  const announceHoldings = (): void => {
    for (const session of media.whip.values()) {
      if (session.role === 'primary') {
        void link.directory.setIngest(session.stream.stream, config.MM_NODE_ID, { role: 'primary' }).catch(() => {});
      }
      void link.directory.setIngestCopy(session.stream.stream, config.MM_NODE_ID, session.role).catch(() => {});
    }
    void mesh?.reclaim();
  };
  cluster.registry.on('registered', announceHoldings);
  // Drained by ops (through any node's admin API): tell every viewer here to
  // move to another relay of the region; new joins are refused meanwhile.
  cluster.registry.on('draining', (draining) => {
    if (draining) signaling.broadcastDrain('node draining');
  });
  media.on('published', (stream, role) => {
    // The primary is the active ingest; a backup is listed as a copy relays pull next to it.
    if (role === 'primary') void link.directory.setIngest(stream, config.MM_NODE_ID, { role }).catch(() => {});
    void link.directory.setIngestCopy(stream, config.MM_NODE_ID, role).catch(() => {});
  });
  media.on('unpublished', (stream, role) => {
    // A replacement session of the same origin may already be up (reconnect): keep the entry then.
    if ([...media.whip.values()].some((s) => s.stream.stream === stream && s.role === role)) return;
    void link.directory.removeIngestCopy(stream, config.MM_NODE_ID, role).catch(() => {});
    if (role === 'primary') void link.directory.removeIngest(stream, config.MM_NODE_ID).catch(() => {});
  });
  logger.info(
    { url, nodeId: config.MM_NODE_ID, region: config.MM_REGION, workers: pool.workers.length },
    'node listening',
  );

  return {
    app,
    media,
    signaling,
    config,
    url,
    async close() {
      await app.close();
      await hls.close();
      mesh?.close();
      media.close();
      await cluster?.close();
    },
  };
}

function currentLoad(media: MediaService, signaling: SignalingServer, usdPerGb: number): ClusterLoad {
  const bytes = Object.values(media.pool.egress.totalBytes).reduce((a, b) => a + b, 0);
  const streamViewers: Record<string, number> = {};
  for (const peer of signaling.peers) {
    const s = peer.stream?.stream;
    if (s) streamViewers[s] = (streamViewers[s] ?? 0) + 1;
  }
  for (const session of media.whep.values()) {
    streamViewers[session.stream] = (streamViewers[session.stream] ?? 0) + 1;
  }
  return {
    viewers: signaling.peers.size + media.whep.size,
    streams: media.streams.size,
    bitrateOut: media.pool.egress.bitrateOut,
    workerCpu: media.pool.lastCpuRatio,
    egressBytes: bytes,
    egressCostUsd: (bytes / 1e9) * usdPerGb,
    streamViewers,
  };
}

type ClusterLoad = ReturnType<Parameters<typeof ClusterLink.start>[2]>;
