import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import { type CostLedger, OnceTokenStore, ReportStore } from '@matchmesh/cluster';
import type { HlsService } from '@matchmesh/hls';
import type { Mesh } from '@matchmesh/mesh';
import {
  canonicalLanguage,
  formatScorePosition,
  LAST_SCORE_HEADER,
  type NodeRecord,
  VENUE_ONLY,
} from '@matchmesh/protocol';
import type { MediaService, StreamRouter, WorkerPool } from '@matchmesh/sfu';
import type { FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { z } from 'zod';
import type { ClusterLink } from '../cluster/ClusterLink.ts';
import type { NodeConfig } from '../config.ts';
import { countResponseBytes } from '../cost/hlsBytes.ts';
import type { NodeCost } from '../cost/NodeCost.ts';
import { serveOpenApi } from '../http/openapi.ts';
import type { mintIceServers } from '../ice-servers.ts';
import type { LogRing } from '../logs/LogRing.ts';
import type { NodeMetrics } from '../metrics.ts';
import { registerAdmin } from '../routes/admin.ts';
import { registerBeacon } from '../routes/beacon.ts';
import { registerCost } from '../routes/cost.ts';
import { edgesOf, registerEdges } from '../routes/edges.ts';
import { registerHealth } from '../routes/health.ts';
import { registerHls } from '../routes/hls.ts';
import { registerKeys } from '../routes/keys.ts';
import { registerMetrics } from '../routes/metrics.ts';
import { registerOpsLive } from '../routes/ops-live.ts';
import { registerPipeTunnel } from '../routes/pipe-tunnel.ts';
import { registerReports } from '../routes/reports.ts';
import { registerScores } from '../routes/scores.ts';
import { registerSession } from '../routes/session.ts';
import { registerWebRtcHttp } from '../routes/webrtc-http.ts';
import type { SignalingServer } from '../signaling/SignalingServer.ts';
import type { AdmissionPolicy } from './AdmissionPolicy.ts';
import type { wireClusterPipes } from './clusterPipes.ts';
import { DRAIN_NUDGE, type DrainWatch } from './drain.ts';
import type { HlsPlayers } from './HlsPlayers.ts';
import { opsSnapshot } from './opsSnapshot.ts';
import type { StreamResolver } from './StreamResolver.ts';
import type { SigningKeys } from './signingKeys.ts';

/** The parts of a node its HTTP and WebSocket edge translates to (built by server.ts). */
export interface EdgeParts {
  config: NodeConfig;
  logger: PinoLogger;
  logRing: LogRing;
  area: (name: string) => PinoLogger;
  pool: WorkerPool;
  media: MediaService;
  cluster: ClusterLink;
  keys: SigningKeys;
  mesh: Mesh<StreamRouter>;
  clusterPipes: ReturnType<typeof wireClusterPipes>;
  admission: AdmissionPolicy;
  streams: StreamResolver;
  iceServers: (user: string) => ReturnType<typeof mintIceServers>;
  signaling: SignalingServer;
  hls: HlsService;
  hlsPlayers: HlsPlayers;
  cost: NodeCost;
  ledger: CostLedger;
  metrics: NodeMetrics;
  drainWatch: DrainWatch;
  /** Another relay of the region with room: where a draining node's HLS players go. */
  otherRelay: () => Promise<NodeRecord | null | undefined>;
  /** This node's record with its load now. */
  liveRecord: () => NodeRecord | null;
}

/**
 * The node's HTTP and WebSocket edge: every route, each registered beside its
 * schema (routes/), given the calls it translates to. No route builds a part
 * of the node; server.ts builds them all first. Returns what the edge owns
 * and must close (the report and single-use token stores).
 */
export async function registerEdge(app: FastifyInstance, parts: EdgeParts): Promise<{ close(): Promise<void> }> {
  const { config, logger, logRing, area, pool, media, cluster, keys, mesh, clusterPipes, admission, streams } = parts;
  const { iceServers, signaling, hls, hlsPlayers, cost, ledger, metrics, drainWatch, otherRelay, liveRecord } = parts;
  const { node } = config;
  const tokenKeys = keys.ring;
  await registerHealth(app, {
    notReadyReasons: () => [
      ...(pool.workers.length === 0 ? ['no mediasoup worker'] : []),
      ...(cluster.healthy ? [] : ['redis unavailable']),
    ],
  });
  await app.register(async (scope) => {
    await registerWebRtcHttp(scope, {
      prefix: 'whip',
      role: 'publisher',
      tokenSecret: tokenKeys,
      iceServers,
      // A token with the `backup` claim publishes the stream's redundant feed.
      open: (stream, offer, claims) => media.publish(stream, offer, claims.backup ? 'backup' : 'primary'),
      find: (stream, id) => {
        const session = media.whip.get(id);
        return session?.stream.stream === stream ? session : undefined;
      },
      // A relay-only node sends a new publisher to an ingest of the cluster (307), or says none is up (503).
      // A draining ingest sends even the stream's own publisher (reconnecting after the drain closed its
      // session) to another ingest; with none to send it to, it keeps the stream it feeds.
      elsewhere: async (stream) => {
        const draining = cluster.registry.record?.draining === true;
        if (node.roles.includes('ingest') && !draining) return null;
        const nodes = await cluster.registry.list().catch(() => []);
        const ingest =
          nodes.find((n) => n.roles.includes('ingest') && !n.draining && n.id !== node.id && n.url) ?? undefined;
        if (!ingest && node.roles.includes('ingest') && media.stream(stream)?.live) return null;
        return ingest?.url;
      },
      // Where the stream's scores stand here: an origin agent starting without a journal continues after it.
      answerHeaders: (stream): Record<string, string> => {
        const router = media.stream(stream);
        return router ? { [LAST_SCORE_HEADER]: formatScorePosition(router.scores.position) } : {};
      },
    });
  });
  await app.register(async (scope) => {
    await registerWebRtcHttp(scope, {
      prefix: 'whep',
      role: ['viewer', 'commentator'],
      tokenSecret: tokenKeys,
      iceServers,
      admissionBlocked: (stream) => admission.whep(stream),
      open: async (stream, offer, _claims, query) => {
        // A relay may not hold the stream yet: bring the region's copy first.
        await streams.bestEffort(stream);
        const lang =
          query.lang === undefined ? undefined : query.lang === VENUE_ONLY ? null : canonicalLanguage(query.lang);
        return media.play(stream, offer, { lang, defaultLanguage: config.commentary.defaultLanguage });
      },
      find: (stream, id) => {
        const session = media.whep.get(id);
        return session?.stream === stream ? session : undefined;
      },
    });
  });
  await app.register(async (scope) => signaling.register(scope));
  await app.register(async (scope) =>
    registerPipeTunnel(scope, {
      tokenSecret: tokenKeys,
      listenIp: config.mesh.pipe.ip,
      log: area('mesh'),
    }),
  );
  await app.register(async (scope) => {
    hlsPlayers.watch(scope);
    // HLS bytes to players are egress like WebRTC's (the workers never see them).
    countResponseBytes(scope, (bytes) => cost.countHls(bytes));
    await registerHls(scope, {
      hls,
      tokenSecret: tokenKeys,
      startWaitMs: 10_000,
      drainingTo: async () =>
        cluster.registry.record?.draining && node.roles.includes('relay') ? (await otherRelay())?.url : undefined,
    });
  });
  await app.register(async (scope) =>
    registerScores(scope, { tokenSecret: tokenKeys, publishedHere: (s) => media.publishedHere(s) }),
  );
  await registerMetrics(app, metrics, tokenKeys);
  const edgesDeps = {
    region: node.region,
    nodeId: node.id,
    latestScore: (stream: string) => media.stream(stream)?.latestScore ?? null,
    liveRecord,
    rtpCapabilities: () => media.routerCapabilities(),
    cluster: () => cluster,
  };
  await registerEdges(app, { tokenSecret: tokenKeys, ...edgesDeps });
  await app.register(async (scope) =>
    registerAdmin(scope, {
      tokenSecret: tokenKeys,
      cluster: () => cluster,
      media,
      signaling,
      mesh: () => mesh,
      nodeId: node.id,
      clusterPipes,
      recordEvent: (event) => cluster.events.append(event),
      localDrain: () => drainWatch.remaining(),
      // The drained node learns at once instead of at its next heartbeat.
      nudge: (id) =>
        id === node.id
          ? cluster.registry.heartbeatNow()
          : cluster.bus
              .request(id, DRAIN_NUDGE, {}, z.object({}), { timeoutMs: 1000 })
              .then(() => undefined)
              .catch(() => undefined),
    }),
  );
  await app.register(async (scope) =>
    registerOpsLive(scope, {
      tokenSecret: tokenKeys,
      events: () => cluster.events,
      snapshot: opsSnapshot(app, node.id),
    }),
  );
  await app.register(async (scope) =>
    registerBeacon(scope, {
      tokenSecret: tokenKeys,
      nodeId: node.id,
      region: node.region,
      record: (event) => cluster.events.append(event),
    }),
  );
  await app.register(async (scope) =>
    registerKeys(scope, {
      tokenSecret: tokenKeys,
      store: keys.store,
      reloadEverywhere: () => keys.reloadEverywhere(),
      nodeId: node.id,
      region: node.region,
      onKeyChange: (event) => void cluster.events.append(event),
    }),
  );
  await app.register(async (scope) =>
    registerCost(scope, {
      tokenSecret: tokenKeys,
      ledger,
      prices: config.cost,
      flushLocal: () => cost.flush(),
    }),
  );
  const reports = new ReportStore({
    redis: cluster.redis,
    cluster: config.cluster.name,
    ttlMs: config.reports.ttlMs,
    logger: area('reports'),
  });
  await registerReports(app, {
    tokenSecret: tokenKeys,
    store: () => reports,
    limits: config.reports,
    nodeId: node.id,
    nodeUrl: async (id) => (await cluster.registry.get(id))?.url,
    ring: logRing,
    log: area('reports'),
    // The events feed says a viewer reported a problem (its words, cut to the feed's 500 characters).
    onReport: (r) =>
      void cluster.events.append({
        kind: 'report',
        nodeId: r.nodeId,
        region: r.region,
        stream: r.stream,
        detail: `${r.path}: ${r.text}`.slice(0, 500),
      }),
  });
  // Viewers' and commentators' URL tokens → short-lived session credentials (single-use tokens recorded in Redis).
  const onceTokens = new OnceTokenStore({
    redis: cluster.redis,
    cluster: config.cluster.name,
    logger: area('session'),
  });
  await registerSession(app, {
    tokenSecret: tokenKeys,
    onceTokens: () => onceTokens,
    ttlS: config.session.ttlS,
    nodeId: node.id,
    log: area('session'),
    // The watch page's first request also brings what its player needs to join (placement, score, codecs).
    bootstrap: (stream) => edgesOf(edgesDeps, stream),
  });
  await serveOpenApi(app, tokenKeys);
  await serveWebApp(app, config.http.webDist, logger);

  return {
    async close() {
      await reports.close();
      await onceTokens.close();
    },
  };
}

/** The single-page web app, when it is built. */
async function serveWebApp(app: FastifyInstance, webDist: string, logger: PinoLogger): Promise<void> {
  if (!existsSync(webDist)) {
    logger.warn({ webDist }, 'web app not built; "/" will 404 (npm run build -w @matchmesh/web)');
    return;
  }
  await app.register(fastifyStatic, { root: webDist, wildcard: false });
  // Client-side routes of the single-page app.
  for (const route of ['/watch', '/commentate', '/ops']) {
    app.get(route, (_req, reply) => reply.sendFile('index.html'));
  }
}
