import { alternativeRelay, CostLedger, PeerLiveness, relayAlternative, scaleAdvice } from '@matchmesh/cluster';
import { HlsService } from '@matchmesh/hls';
import { Mesh, type MeshConfig, PlayoutAdvisor, sfuMedia } from '@matchmesh/mesh';
import { type NodeRecord, signToken } from '@matchmesh/protocol';
import { MediaService, PIPE_RTX_MAX_AGE_AUTO, type StreamRouter, type WorkerLogTag, WorkerPool } from '@matchmesh/sfu';
import type { FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { z } from 'zod';
import { ClusterLink, type NodeLoad } from './cluster/ClusterLink.ts';
import { DepartureWatch } from './cluster/DepartureWatch.ts';
import { IngestAnnouncer } from './cluster/IngestAnnouncer.ts';
import { type NodeConfig, publicUrl } from './config.ts';
import { NodeCost } from './cost/NodeCost.ts';
import { createHttpApp } from './http/app.ts';
import { mintIceServers } from './ice-servers.ts';
import { LogRing } from './logs/LogRing.ts';
import { NodeMetrics } from './metrics.ts';
import { SignalingServer } from './signaling/SignalingServer.ts';
import { AdmissionPolicy } from './wiring/AdmissionPolicy.ts';
import { cachedFor } from './wiring/cachedFor.ts';
import { wireClusterPipes } from './wiring/clusterPipes.ts';
import { DRAIN_HLS_WINDOW_MS, DRAIN_NUDGE, DrainWatch } from './wiring/drain.ts';
import { registerEdge } from './wiring/edge.ts';
import { HlsPlayers } from './wiring/HlsPlayers.ts';
import { LocalAudience } from './wiring/LocalAudience.ts';
import { Rebalancer } from './wiring/Rebalancer.ts';
import { StreamResolver } from './wiring/StreamResolver.ts';
import { wireSigningKeys } from './wiring/signingKeys.ts';
import { advisedPlayout, fixedPlayout } from './wiring/viewerPlayout.ts';

export interface MatchmeshNode {
  app: FastifyInstance;
  media: MediaService;
  signaling: SignalingServer;
  config: NodeConfig;
  /** Base URL of the HTTP server once listening. */
  url: string;
  close(): Promise<void>;
}

/**
 * Wire a node: media (packages/sfu, packages/hls) and coordination
 * (packages/cluster) know nothing of each other; this is the one place that
 * builds them, joins them, and puts the HTTP and WebSocket edge in front.
 * Everything is built before the server listens; only the cluster
 * registration waits for the bound URL.
 */
export async function startNode(
  config: NodeConfig,
  logger: PinoLogger,
  // main.ts feeds the logger into it (logs/LogRing.ts); a node started otherwise keeps an empty one.
  logRing: LogRing = new LogRing(1),
): Promise<MatchmeshNode> {
  const { node, rtc } = config;
  const area = (name: string): PinoLogger => logger.child({ area: name });

  // Media.
  const pool = await WorkerPool.create({
    size: rtc.workers,
    listenIp: rtc.listenIp,
    announcedAddress: rtc.announcedAddress,
    basePort: rtc.basePort,
    rtcMinPort: rtc.minPort,
    rtcMaxPort: rtc.maxPort,
    socketBufferBytes: rtc.socketBufferBytes,
    viewersPerWorker: config.cluster.capacityViewersPerWorker,
    logLevel: rtc.workerLogLevel,
    // The worker rejects an unknown tag at start, with its name.
    logTags: rtc.workerLogTags as WorkerLogTag[],
    logger: area('sfu'),
    pipeRtxMaxAge:
      rtc.pipeRtxMaxAgeMs === 'auto'
        ? PIPE_RTX_MAX_AGE_AUTO
        : rtc.pipeRtxMaxAgeMs > 0
          ? { fixedMs: rtc.pipeRtxMaxAgeMs, rttFactor: 0 }
          : undefined,
  });
  // A fan-out router (a stream's viewers on another worker) lingers like a region copy.
  const media = new MediaService(pool, area('media'), {
    ...config.program,
    fanoutLingerMs: config.mesh.pipeLingerMs,
    commentary: config.commentary,
    layerGovernor: config.layerGovernor,
  });
  // Before the edge opens: a watch page's bootstrap carries them even while no stream exists yet.
  await media.loadCapabilities();

  // Coordination, and the mesh that joins media across nodes.
  const cluster = new ClusterLink(node, config.cluster, logger);
  // Token signing keys (MM_TOKEN_SECRET is k0; rotated ones come from Redis): verifies every token, signs the node's own.
  const keys = wireSigningKeys(cluster, config, area('keys'));
  await keys.ring.start();
  const tokenKeys = keys.ring;
  const audience = new LocalAudience();
  // The night's cost: this node's bytes to viewers and other regions, added into the cluster's ledger.
  const ledger = new CostLedger({ redis: cluster.redis, cluster: config.cluster.name, logger: area('cost') });
  const cost = new NodeCost({
    region: node.region,
    egress: pool.egress,
    ledger,
    prices: config.cost,
    flushMs: config.cluster.heartbeatMs,
    log: area('cost'),
  });
  const meshConfig: MeshConfig = {
    nodeId: node.id,
    region: node.region,
    claimTtlMs: config.mesh.claimTtlMs,
    lingerMs: config.mesh.pipeLingerMs,
    heartbeatMs: config.mesh.sweepMs,
    listenIp: config.mesh.pipe.ip,
    announcedAddress: config.mesh.pipe.announcedAddress,
    portRange: config.mesh.pipe.portRange,
    socketBufferBytes: config.mesh.pipe.socketBufferBytes,
    dualPath: config.mesh.dualPathRegions.includes(node.region),
  };
  const meshLog = area('mesh');
  const mesh = new Mesh<StreamRouter>({
    config: meshConfig,
    bus: cluster.bus,
    directory: cluster.directory,
    // A peer silent (no heartbeat) but still connected for a whole claim TTL
    // is dead: by then its own claims would have lapsed anyway.
    liveness: new PeerLiveness({
      redis: cluster.redis,
      cluster: config.cluster.name,
      graceMs: config.mesh.claimTtlMs,
      logger: meshLog,
    }),
    // Pipes go over a TCP tunnel (the upstream's HTTP port) from an upstream whose UDP pipe carried nothing.
    media: sfuMedia(media, meshConfig, {
      urlOf: async (nodeId) => (await cluster.registry.get(nodeId))?.url,
      token: () => signToken(tokenKeys, { role: 'node', stream: '*', sub: node.id, ttl: '5m' }),
    }),
    logger: meshLog,
    // Viewers and HLS packagers of a stream here keep the region's copy alive.
    localViewers: (stream) => audience.count(stream),
    // A critical region's holder picks its second path's upstream among the other regions' relays.
    peers: {
      list: () => cluster.registry.list(),
      regionHolder: (stream, region) => cluster.directory.getRegionHolder(stream, region),
    },
  });

  // Every node's pipes for ops (GET /api/v1/pipes?scope=cluster, /ops, `matchmesh pipes`), over the node bus.
  const clusterPipes = wireClusterPipes(cluster, node, () => mesh.linkReport(), area('ops'));

  // Viewers' playout delay: fixed, or following the round trip of the pipe that brings each stream here.
  const delay = rtc.viewerPlayoutDelayMs;
  const advisor = delay === 'auto' ? new PlayoutAdvisor({ upstreamRttMs: (s) => mesh.upstreamRttMs(s) }) : undefined;
  const playout = delay === 'auto' ? advisedPlayout(advisor!) : fixedPlayout(delay);

  // The rules every consumer shares.
  const admission = new AdmissionPolicy(cluster, node.roles, pool, (stream) => media.stream(stream)?.live === true);
  const streams = new StreamResolver(media, mesh, {
    relay: node.roles.includes('relay'),
    log: area('streams'),
    // A region copy here: an MM_HLS_ALWAYS stream is recorded from now on (rewind works on this relay too).
    held: (stream) => hls.published(stream),
  });
  const iceServers = (user: string) => mintIceServers(rtc.ice, user);

  // Consumers of streams.
  const signaling = new SignalingServer({
    tokenSecret: tokenKeys,
    iceServers,
    playout,
    nodeId: node.id,
    region: node.region,
    log: area('signaling'),
    defaultLanguage: config.commentary.defaultLanguage,
    admissionBlocked: (role, stream) => admission.join(role, stream),
    resolveStream: (stream, log) => streams.resolve(stream, log),
    hasRoom: () => pool.hasRoom(),
    seat: (stream, role) => media.seat(stream, { commentator: role === 'commentator' }),
    // A join storm against a full node reads the registry once a second, not once per refusal.
    alternativeRelay: cachedFor(1000, async () => {
      const best = alternativeRelay(await cluster.registry.list(), { region: node.region, excludeNodeId: node.id });
      return best ? relayAlternative(best) : undefined;
    }),
  });
  const hls = new HlsService({
    ...config.hls,
    log: area('hls'),
    resolveStream: (stream) => streams.bestEffort(stream),
  });
  media.on('published', (stream) => hls.published(stream));
  // The events feed: every switch of a stream's program here (ingest: primary ↔ backup; relay: the copies).
  media.on('created', (router) =>
    router.program.on('switched', (record) => {
      const to = router.program.status().sources.find((s) => s.id === record.to)?.label ?? record.to;
      void cluster.events.append({
        kind: 'source-switch',
        nodeId: node.id,
        region: node.region,
        stream: router.stream,
        detail: `→ ${to}: ${record.reason}`.slice(0, 500),
      });
    }),
  );
  const hlsPlayers = new HlsPlayers();
  // Another relay of the region with room (read at most once a second): where a draining node's HLS players go.
  const otherRelay = cachedFor(1000, async () =>
    alternativeRelay(await cluster.registry.list(), { region: node.region, excludeNodeId: node.id }),
  );
  // What this node still holds while it drains, reported in its heartbeat; "empty" goes into the events feed.
  const drainWatch = new DrainWatch(
    {
      webrtcViewers: () => signaling.peers.size,
      whepViewers: () => media.whep.size,
      hlsPlayers: () => hlsPlayers.recent(DRAIN_HLS_WINDOW_MS),
      downstreamRelays: () => mesh.downstreamNodes(),
      publishers: () => media.whip.size,
    },
    node,
    (event) => void cluster.events.append(event),
  );
  audience.add((stream) => [...signaling.peers].filter((p) => p.stream?.stream === stream).length);
  audience.add((stream) => (hls.active(stream) ? 1 : 0));
  const metrics = new NodeMetrics(media, signaling, () => mesh, { node: node.id, region: node.region }, cost, {
    advice: cachedFor(1000, async () => scaleAdvice(await cluster.registry.list(), config.scaling.headroom)),
  });
  // This node's record with its load now (the registry's copy is up to a heartbeat old): probes and rebalancing.
  const liveRecord = (): NodeRecord | null => {
    const record = cluster.registry.record;
    if (!record) return null;
    const load = { ...record.load, viewers: signaling.peers.size + media.whep.size, workers: media.workerLoads() };
    return { ...record, load };
  };

  // The HTTP and WebSocket edge.
  const app = await createHttpApp(logger);
  // Its routes, each beside its schema (wiring/edge.ts).
  const edge = await registerEdge(app, {
    config,
    logger,
    logRing,
    area,
    pool,
    media,
    cluster,
    keys,
    mesh,
    clusterPipes,
    admission,
    streams,
    iceServers,
    signaling,
    hls,
    hlsPlayers,
    cost,
    ledger,
    metrics,
    drainWatch,
    otherRelay,
    liveRecord,
  });

  // Listen, then join the cluster under the bound URL.
  await app.listen({ host: config.http.host, port: config.http.port });
  const address = app.server.address();
  const url = publicUrl(config.http, typeof address === 'object' && address ? address.port : config.http.port);
  await cluster.start(
    url,
    rtc.announcedAddress ?? rtc.listenIp,
    () => ({
      ...currentLoad(media, signaling, cost),
      streamHlsPlayers: hlsPlayers.counts(),
    }),
    () => drainWatch.report(),
  );
  cluster.bus.handle(
    DRAIN_NUDGE,
    async () => {
      await cluster.registry.heartbeatNow();
      return {};
    },
    z.object({}),
  );
  cost.start();
  const departures = new DepartureWatch(cluster, node.id, 2 * config.cluster.heartbeatMs, area('cluster'));
  departures.start();
  mesh.start();
  const ingests = new IngestAnnouncer(media, cluster.directory, node.id, area('cluster'));
  // Redis came back empty (or this is a fresh registration): say again what
  // this node holds, so the directory is right without anyone restarting.
  cluster.registry.on('registered', () => {
    ingests.announceAll();
    void mesh.reclaim();
  });
  // Drained by ops (through any node's admin API), in the order of ARCHITECTURE.md "Drains": viewers are
  // told to move (new joins are refused meanwhile), the region leases go and downstream relays are told
  // to pull from another holder, and an ingest hands its publishers to another ingest. HLS players learn
  // it from the HLS answers (routes/hls.ts). Undrained: the node takes work again.
  cluster.registry.on('draining', (draining) => {
    drainWatch.reset();
    void mesh.drain(draining).catch((err) => logger.warn({ err: String(err) }, 'mesh drain failed'));
    if (!draining) return;
    signaling.broadcastDrain('node draining');
    void handOverPublishers();
  });
  /** A draining ingest closes its publishers' sessions; their reconnect is redirected (307) to another ingest. */
  const handOverPublishers = async (): Promise<void> => {
    if (media.whip.size === 0) return;
    const nodes = await cluster.registry.list().catch(() => []);
    const other = nodes.find((n) => n.roles.includes('ingest') && !n.draining && n.id !== node.id);
    if (!other) {
      logger.warn('draining ingest: no other ingest to hand the publishers to; they stay');
      return;
    }
    for (const session of [...media.whip.values()]) session.close(`node draining: publisher handed to ${other.id}`);
    logger.info({ to: other.id }, 'draining ingest: publishers told to reconnect to another ingest');
  };
  ingests.start();
  // A relay above its share of the region tells some viewers to move to one under it (a relay that joined).
  const rebalancer = new Rebalancer(
    {
      nodeId: node.id,
      region: node.region,
      list: () => cluster.registry.list(),
      self: liveRecord,
      viewers: () => [...signaling.peers].filter((p) => p.role === 'viewer' && p.joinedAt !== undefined),
      onMove: () => metrics.rebalanceMoves.inc(),
      log: area('rebalance'),
    },
    { ...config.scaling, intervalMs: config.cluster.heartbeatMs },
  );
  rebalancer.start();
  logger.info({ url, nodeId: node.id, region: node.region, workers: pool.workers.length }, 'node listening');

  return {
    app,
    media,
    signaling,
    config,
    url,
    async close() {
      rebalancer.close();
      departures.close();
      await app.close();
      await hls.close();
      advisor?.close();
      mesh.close();
      // Before the workers go: their last bytes are sampled and added to the ledger.
      await cost.close();
      await ledger.close();
      media.close();
      await keys.close();
      await edge.close();
      await cluster.close();
    },
  };
}

/**
 * A viewer told to move counts as leaving for this long: a make-before-break
 * move takes about a second (2–3 s on a loaded machine); one still here after
 * this could not move and counts as staying.
 */
const LEAVING_WINDOW_MS = 10_000;

/** What the node reports in its heartbeat: viewers per stream, egress and its cost, worker CPU. */
function currentLoad(media: MediaService, signaling: SignalingServer, cost: NodeCost): NodeLoad {
  // Priced bytes only (viewers over WebRTC and HLS, region copies to other regions), at the region's price.
  const egress = cost.egress();
  const streamViewers: Record<string, number> = {};
  for (const peer of signaling.peers) {
    const s = peer.stream?.stream;
    if (s) streamViewers[s] = (streamViewers[s] ?? 0) + 1;
  }
  for (const session of media.whep.values()) {
    streamViewers[session.stream] = (streamViewers[session.stream] ?? 0) + 1;
  }
  const now = Date.now();
  return {
    viewers: signaling.peers.size + media.whep.size,
    leaving: [...signaling.peers].filter((p) => p.leaving(now, LEAVING_WINDOW_MS)).length,
    streams: media.streams.size,
    bitrateOut: media.pool.egress.bitrateOut,
    workerCpu: media.pool.lastCpuRatio,
    egressBytes: egress.bytes,
    egressCostUsd: egress.usd,
    streamViewers,
    workers: media.workerLoads(),
  };
}
