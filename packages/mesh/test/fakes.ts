import { EventEmitter } from 'node:events';
import { type ClaimResult, ClusterError, type RegionClaim, type RenewResult } from '@matchmesh/cluster';
import type { PipeLinkStats, PipeOpenResponse } from '@matchmesh/protocol';
import type { SourceRole, SwitchRecord } from '@matchmesh/sfu';
import type { z } from 'zod';
import type { MeshConfig } from '../src/config.ts';
import { Mesh } from '../src/mesh.ts';
import type {
  CommentaryChange,
  InboundPipe,
  Logger,
  MeshBus,
  MeshDirectory,
  MeshLiveness,
  MeshMedia,
  MeshStream,
  OutboundPipe,
  PipeOffer,
} from '../src/ports.ts';

/*
 * In-memory stand-ins for the bus, the directory, liveness and media, with
 * the same contracts as the real ones (NodeBus validates payloads and replies
 * with their schemas; the directory's leases are fenced by tokens), so the
 * mesh objects can be driven step by step without Redis or mediasoup.
 */

type Handler = { handler: (payload: unknown, ctx: { from: string }) => unknown; schema: z.ZodType };

/** The bus between all fake nodes of a test. */
export class FakeNetwork {
  readonly #nodes = new Map<string, Map<string, Handler>>();
  /** Every request sent: [from, to, method]. */
  readonly sent: [string, string, string][] = [];
  /** Nodes whose handlers never answer (a hung process): requests to them time out. */
  readonly hung = new Set<string>();
  /** Replies to rewrite before the caller parses them (a peer of another version). */
  tamper: ((method: string, reply: unknown) => unknown) | undefined;

  bus(nodeId: string): MeshBus {
    const handlers = new Map<string, Handler>();
    this.#nodes.set(nodeId, handlers);
    return {
      handle: (method, handler, schema) => {
        handlers.set(method, { handler: handler as Handler['handler'], schema });
        return () => handlers.delete(method);
      },
      request: async <T>(target: string, method: string, payload: unknown, reply: z.ZodType<T>): Promise<T> => {
        this.sent.push([nodeId, target, method]);
        const peer = this.#nodes.get(target);
        if (!peer) throw new ClusterError('unavailable', `node ${target} is not listening on the bus`);
        if (this.hung.has(target)) throw new ClusterError('timeout', `${method} to ${target} timed out`);
        const entry = peer.get(method);
        if (!entry) throw new ClusterError('not_found', `no handler for ${method}`);
        const input = entry.schema.safeParse(payload);
        if (!input.success) throw new ClusterError('bad_request', input.error.message);
        let result: unknown = (await entry.handler(input.data, { from: nodeId })) ?? null;
        if (this.tamper) result = this.tamper(method, result);
        const parsed = reply.safeParse(result);
        if (!parsed.success) throw new ClusterError('bad_reply', `${method} on ${target}: malformed reply`);
        return parsed.data;
      },
    };
  }

  /** The node left (its process exited): its bus subscription is gone. */
  leave(nodeId: string): void {
    this.#nodes.delete(nodeId);
  }

  count(method: string, to?: string): number {
    return this.sent.filter(([, t, m]) => m === method && (to === undefined || t === to)).length;
  }
}

/** StreamDirectory's contract in memory: atomic claims, fenced renew/release. */
export class FakeDirectory implements MeshDirectory {
  readonly ingest = new Map<string, { nodeId: string }>();
  readonly copies = new Map<string, { primary: string | null; backup: string | null }>();
  readonly claims = new Map<string, string>();
  readonly #fence = new Map<string, number>();
  readonly forgotten: string[] = [];
  /** Redis is down: every call rejects. */
  down = false;
  calls: Record<string, number> = {};

  #call(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
    if (this.down) throw new ClusterError('unavailable', 'redis down');
  }

  publish(stream: string, primary: string, backup: string | null = null): void {
    this.ingest.set(stream, { nodeId: primary });
    this.copies.set(stream, { primary, backup });
  }

  /** Someone else won the lease meanwhile (we were stalled past the TTL). */
  steal(stream: string, region: string, nodeId: string): void {
    const key = `${stream}:${region}`;
    this.claims.set(key, nodeId);
    this.#fence.set(key, (this.#fence.get(key) ?? 0) + 1);
  }

  holder(stream: string, region: string): string | undefined {
    return this.claims.get(`${stream}:${region}`);
  }

  async getIngest(stream: string) {
    this.#call('getIngest');
    return this.ingest.get(stream) ?? null;
  }
  async getIngestCopies(stream: string) {
    this.#call('getIngestCopies');
    return this.copies.get(stream) ?? { primary: null, backup: null };
  }
  async setIngest(stream: string, nodeId: string): Promise<void> {
    this.#call('setIngest');
    this.ingest.set(stream, { nodeId });
  }
  async claimRegionCopy(stream: string, region: string, nodeId: string, ttlMs: number): Promise<ClaimResult> {
    this.#call('claimRegionCopy');
    const key = `${stream}:${region}`;
    if (!this.claims.has(key)) {
      this.claims.set(key, nodeId);
      this.#fence.set(key, (this.#fence.get(key) ?? 0) + 1);
    }
    const winner = this.claims.get(key)!;
    const won = winner === nodeId;
    return { winner, won, claim: { stream, region, nodeId, ttlMs, token: won ? this.#fence.get(key)! : 0 } };
  }
  async renew(claim: RegionClaim): Promise<RenewResult> {
    this.#call('renew');
    const key = `${claim.stream}:${claim.region}`;
    const cur = this.claims.get(key);
    const fence = this.#fence.get(key) ?? 0;
    if (cur === claim.nodeId && fence === claim.token) return { held: true, retaken: false, claim };
    if (cur === undefined) {
      this.claims.set(key, claim.nodeId);
      this.#fence.set(key, fence + 1);
      return { held: true, retaken: true, claim: { ...claim, token: fence + 1 } };
    }
    return { held: false, winner: cur };
  }
  async release(claim: RegionClaim): Promise<boolean> {
    this.#call('release');
    const key = `${claim.stream}:${claim.region}`;
    if (this.claims.get(key) !== claim.nodeId || this.#fence.get(key) !== claim.token) return false;
    this.claims.delete(key);
    return true;
  }
  async forgetNode(nodeId: string): Promise<unknown> {
    this.#call('forgetNode');
    this.forgotten.push(nodeId);
    for (const [k, v] of this.claims) if (v === nodeId) this.claims.delete(k);
    for (const [k, v] of this.ingest) if (v.nodeId === nodeId) this.ingest.delete(k);
    return {};
  }
}

/** PeerLiveness's verdict, set by the test: `dead` are dead, everyone else alive (or merely suspect). */
export class FakeLiveness implements MeshLiveness {
  readonly deadNodes = new Set<string>();
  down = false;
  asked: string[][] = [];
  async dead(ids: Iterable<string>): Promise<Set<string>> {
    const list = [...ids];
    this.asked.push(list);
    if (this.down) throw new ClusterError('unavailable', 'redis down');
    return new Set(list.filter((id) => this.deadNodes.has(id)));
  }
  async isDead(id: string): Promise<boolean> {
    return (await this.dead([id])).has(id);
  }
  async close(): Promise<void> {}
}

class FakeProgram extends EventEmitter<{ switched: [SwitchRecord] }> {
  fed = true;
  /** Source ids that went silent. */
  readonly silent = new Set<string>();
  sourceAlive(id: string): boolean {
    return !this.silent.has(id);
  }
}

export class FakeStream implements MeshStream {
  readonly program = new FakeProgram();
  live = true;
  closed = false;
  constructor(readonly stream: string) {}
  close(): void {
    this.closed = true;
    this.live = false;
  }
}

export class FakeInbound extends EventEmitter<{ close: [string] }> implements InboundPipe {
  pipeId: string | undefined;
  closed = false;
  closeReason: string | undefined;
  readonly commentary: CommentaryChange[] = [];
  path: 'udp' | 'tcp' = 'udp';
  openedAt = Date.now();
  constructor(
    readonly stream: FakeStream,
    readonly role: SourceRole,
    readonly upstream: string,
    /** The dual path's merge this pipe is a path of (MeshMedia.openInbound options). */
    readonly merge: { merge?: string; secondary?: boolean } | undefined = undefined,
  ) {
    super();
  }
  async applyCommentary(change: CommentaryChange): Promise<void> {
    this.commentary.push(change);
  }
  /** What a test says the path did (a fake has no media). */
  link: PipeLinkStats = { packets: 0, nacked: 0, retransmitted: 0, lost: 0 };
  async linkStats(): Promise<PipeLinkStats> {
    return this.link;
  }
  /** What reached our end (a test sets it; a fake pipe "receives" nothing by itself). */
  bytes = 0;
  async bytesReceived(): Promise<number> {
    return this.bytes;
  }
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.emit('close', reason);
  }
}

let pipeSeq = 0;

export class FakeOutbound
  extends EventEmitter<{ close: [string]; commentary: [CommentaryChange] }>
  implements OutboundPipe
{
  readonly pipeId = `p${++pipeSeq}`;
  readonly answer: PipeOpenResponse;
  closed = false;
  closeReason: string | undefined;
  constructor(
    readonly stream: string,
    readonly peer: { nodeId: string; region: string },
    readonly offer: PipeOffer,
  ) {
    super();
    this.answer = { ip: '10.0.0.1', port: 40000 + pipeSeq, pipeId: this.pipeId, producers: [], scores: null };
  }
  /** What a test says the path did (a fake has no media). */
  link: PipeLinkStats = { packets: 0, nacked: 0, retransmitted: 0, lost: 0, rttMs: 200 };
  async linkStats(): Promise<PipeLinkStats> {
    return this.link;
  }
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.emit('close', reason);
  }
}

/** One node's streams and pipes. */
export class FakeMedia implements MeshMedia<FakeStream> {
  readonly streams = new Map<string, FakeStream>();
  readonly inbound: FakeInbound[] = [];
  readonly outbound: FakeOutbound[] = [];

  /** A stream published here (the ingest). */
  publish(id: string): FakeStream {
    const s = new FakeStream(id);
    this.streams.set(id, s);
    return s;
  }
  stream(id: string): FakeStream | undefined {
    const s = this.streams.get(id);
    return s && !s.closed ? s : undefined;
  }
  async getOrCreateStream(id: string): Promise<FakeStream> {
    const existing = this.stream(id);
    if (existing) return existing;
    // A relay's new router has no source until a pipe connects: neither live nor fed.
    const s = new FakeStream(id);
    s.live = false;
    s.program.fed = false;
    this.streams.set(id, s);
    return s;
  }
  async openInbound(
    stream: MeshStream,
    role: SourceRole,
    upstream: string,
    ask: (offer: PipeOffer) => Promise<PipeOpenResponse>,
    options?: { merge?: string; secondary?: boolean },
  ): Promise<InboundPipe> {
    const pipe = new FakeInbound(stream as FakeStream, role, upstream, options);
    const answer = await ask({ ip: '10.0.0.2', port: 41000 + this.inbound.length });
    pipe.pipeId = answer.pipeId;
    const fake = stream as FakeStream;
    fake.live = true;
    fake.program.fed = true;
    this.inbound.push(pipe);
    // Like the stable program: fed while some pipe of the stream is open (then held for a grace time).
    pipe.once('close', () => {
      fake.program.fed = this.inbound.some((p) => p.stream === fake && !p.closed);
    });
    return pipe;
  }
  async openOutbound(
    stream: MeshStream,
    offer: PipeOffer,
    peer: { nodeId: string; region: string },
  ): Promise<OutboundPipe> {
    const pipe = new FakeOutbound(stream.stream, peer, offer);
    this.outbound.push(pipe);
    return pipe;
  }
}

/** A logger that keeps what it was told. */
export function memoryLogger() {
  const lines: { level: string; obj: unknown; msg: string | undefined }[] = [];
  const at = (level: string) => (obj: unknown, msg?: string) => {
    lines.push({ level, obj, msg: typeof obj === 'string' ? obj : msg });
  };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines, messages: (level: string) => lines.filter((l) => l.level === level).map((l) => l.msg) };
}

export interface TestNode {
  id: string;
  region: string;
  mesh: Mesh<FakeStream>;
  media: FakeMedia;
  viewers: Map<string, number>;
  log: ReturnType<typeof memoryLogger>;
}

/** A cluster of fake nodes on one network, directory and liveness. */
export class FakeCluster {
  readonly network = new FakeNetwork();
  readonly directory = new FakeDirectory();
  readonly liveness = new FakeLiveness();
  readonly nodes: TestNode[] = [];

  node(id: string, region = 'eu', config: Partial<MeshConfig> = {}): TestNode {
    const media = new FakeMedia();
    const viewers = new Map<string, number>();
    const log = memoryLogger();
    const mesh = new Mesh<FakeStream>({
      config: {
        nodeId: id,
        region,
        claimTtlMs: 6000,
        lingerMs: 10_000,
        heartbeatMs: 1000,
        listenIp: '127.0.0.1',
        portRange: { min: 40000, max: 49999 },
        socketBufferBytes: 0,
        ...config,
      },
      bus: this.network.bus(id),
      directory: this.directory,
      liveness: this.liveness,
      media,
      logger: log.logger,
      localViewers: (stream) => viewers.get(stream) ?? 0,
      // Nodes named ingest-* are ingests, the others relays.
      peers: {
        list: async () =>
          this.nodes.map((n) => ({
            id: n.id,
            region: n.region,
            roles: n.id.startsWith('ingest') ? ['ingest'] : ['relay'],
          })),
        regionHolder: async (stream, r) => this.directory.holder(stream, r) ?? null,
      },
    });
    mesh.start();
    const node = { id, region, mesh, media, viewers, log };
    this.nodes.push(node);
    return node;
  }

  close(): void {
    for (const n of this.nodes) n.mesh.close();
  }
}
