import {
  BoothResponse,
  ClusterPipes,
  CostResetResponse,
  CostResponse,
  DrainResponse,
  DrainStatus,
  EventsResponse,
  KeysResponse,
  LogsResponse,
  type NodeRecord,
  NodesResponse,
  type OpsEvent,
  OpsEvent as OpsEventSchema,
  OpsSnapshot,
  PipesResponse,
  Problem,
  ProgramResponse,
  PublishersDropResponse,
  ReportDetail,
  type ReportSummary,
  ReportsResponse,
  RetireKeyResponse,
  RotateKeyResponse,
  ScaleAdviceResponse,
  type StreamSummary,
  StreamsResponse,
} from '@matchmesh/protocol';
import type { z } from 'zod';
import { readSse } from './sse.ts';

/**
 * Any failure talking to the node; the CLI prints `message` on one line and
 * exits with a code for its kind (`status`: the HTTP status when the node
 * answered; `unreachable`: it did not answer at all).
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly status?: number,
    readonly unreachable = false,
  ) {
    super(message);
  }
}

/** What the live stream carries, parsed: a snapshot, an event, or the node's reason for ending it. */
export type LiveMessage =
  | { type: 'snapshot'; snapshot: OpsSnapshot }
  | { type: 'event'; event: OpsEvent }
  | { type: 'end'; reason: string };

export interface AdminClientOptions {
  /** Node base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Admin bearer token. */
  token: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Result of a call: the validated value plus the raw body (for --json). */
export interface ApiResult<T> {
  value: T;
  raw: unknown;
}

/** Client of a node's admin HTTP API (`/api/v1/...`). */
export class AdminClient {
  private readonly base: URL;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(options: AdminClientOptions) {
    try {
      this.base = new URL(options.url);
    } catch {
      throw new ApiError(`invalid node URL ${JSON.stringify(options.url)}`);
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new ApiError(`node URL must be http(s): ${options.url}`);
    }
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  async nodes(): Promise<ApiResult<NodeRecord[]>> {
    const r = await this.call('GET', '/api/v1/nodes', NodesResponse);
    return { value: r.value.nodes, raw: r.raw };
  }

  async streams(): Promise<ApiResult<StreamSummary[]>> {
    const r = await this.call('GET', '/api/v1/streams', StreamsResponse);
    return { value: r.value.streams, raw: r.raw };
  }

  async scaleAdvice(headroom: number, region?: string): Promise<ApiResult<ScaleAdviceResponse>> {
    const only = region ? `&region=${encodeURIComponent(region)}` : '';
    return this.call('GET', `/api/v1/scale-advice?headroom=${headroom}${only}`, ScaleAdviceResponse);
  }

  /** The night's cost per region (GET /api/v1/cost). */
  async cost(): Promise<ApiResult<CostResponse>> {
    return this.call('GET', '/api/v1/cost', CostResponse);
  }

  /** A new night: the cost counters start again (POST /api/v1/cost/reset). */
  async resetCost(): Promise<ApiResult<CostResetResponse>> {
    return this.call('POST', '/api/v1/cost/reset', CostResetResponse);
  }

  async booth(stream: string): Promise<ApiResult<BoothResponse>> {
    return this.call('GET', `/api/v1/streams/${encodeURIComponent(stream)}/booth`, BoothResponse);
  }

  async program(stream: string): Promise<ApiResult<ProgramResponse>> {
    return this.call('GET', `/api/v1/streams/${encodeURIComponent(stream)}/program`, ProgramResponse);
  }

  async pipes(): Promise<ApiResult<z.output<typeof PipesResponse>>> {
    return this.call('GET', '/api/v1/pipes', PipesResponse);
  }

  /** Every node's pipes (GET /api/v1/pipes?scope=cluster: the node asks the others over the node bus). */
  async clusterPipes(): Promise<ApiResult<ClusterPipes>> {
    return this.call('GET', '/api/v1/pipes?scope=cluster', ClusterPipes);
  }

  async dropPublishers(stream: string): Promise<ApiResult<z.output<typeof PublishersDropResponse>>> {
    return this.call('POST', `/api/v1/streams/${encodeURIComponent(stream)}/publishers/drop`, PublishersDropResponse);
  }

  async events(limit: number): Promise<ApiResult<EventsResponse>> {
    return this.call('GET', `/api/v1/events?limit=${limit}`, EventsResponse);
  }

  /** `GET /api/v1/cost`, or null when the node has no such route (404). */
  async costIfAny(): Promise<CostResponse | null> {
    return this.call('GET', '/api/v1/cost', CostResponse).then(
      (r) => r.value,
      (err) => ifMissing(err),
    );
  }

  /** `GET /api/v1/reports`, or null when the node has no such route (404). */
  async reportsIfAny(): Promise<ReportsResponse | null> {
    return this.call('GET', '/api/v1/reports', ReportsResponse).then(
      (r) => r.value,
      (err) => ifMissing(err),
    );
  }

  /**
   * The live stream (`GET /api/v1/live`): the last events, then each new one,
   * and a snapshot every ~2 s, until `signal` aborts or the node ends it.
   * Messages that fail their schema are skipped (a newer node may add some).
   */
  async *live(signal: AbortSignal): AsyncGenerator<LiveMessage> {
    const url = this.url('/api/v1/live');
    url.searchParams.set('token', this.token);
    let res: Response;
    try {
      res = await this.fetch(url, { headers: { accept: 'text/event-stream' }, signal });
    } catch (err) {
      if (signal.aborted) return;
      throw new ApiError(
        `cannot reach node at ${this.base.origin}: ${networkReason(err, this.timeoutMs)}`,
        undefined,
        true,
      );
    }
    if (!res.ok || !res.body) throw await this.failure('GET', url, res);
    try {
      for await (const m of readSse(res.body)) {
        const data = safeJson(m.data);
        if (m.event === 'snapshot') {
          const parsed = OpsSnapshot.safeParse(data);
          if (parsed.success) yield { type: 'snapshot', snapshot: parsed.data };
        } else if (m.event === 'ops-event') {
          const parsed = OpsEventSchema.safeParse(data);
          if (parsed.success) yield { type: 'event', event: parsed.data };
        } else if (m.event === 'end') {
          yield { type: 'end', reason: String(data) };
          return;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw new ApiError(`live stream from ${this.base.origin} broke: ${(err as Error).message}`, undefined, true);
    }
    if (!signal.aborted) throw new ApiError(`node at ${this.base.origin} closed the live stream`, undefined, true);
  }

  async drain(nodeId: string, draining = true, force = false): Promise<ApiResult<DrainResponse>> {
    const path = `/api/v1/nodes/${encodeURIComponent(nodeId)}/drain`;
    return this.call('POST', path, DrainResponse, { draining, force });
  }

  /** What a draining node still holds, and whether that is nothing (`empty`). */
  async drainStatus(nodeId: string): Promise<ApiResult<DrainStatus>> {
    return this.call('GET', `/api/v1/nodes/${encodeURIComponent(nodeId)}/drain`, DrainStatus);
  }

  async keys(): Promise<ApiResult<KeysResponse>> {
    return this.call('GET', '/api/v1/keys', KeysResponse);
  }

  async rotateKey(): Promise<ApiResult<RotateKeyResponse>> {
    return this.call('POST', '/api/v1/keys/rotate', RotateKeyResponse);
  }

  async retireKey(kid: string): Promise<ApiResult<RetireKeyResponse>> {
    return this.call('POST', `/api/v1/keys/${encodeURIComponent(kid)}/retire`, RetireKeyResponse);
  }

  async reports(limit = 100): Promise<ApiResult<ReportSummary[]>> {
    const r = await this.call('GET', `/api/v1/reports?limit=${limit}`, ReportsResponse);
    return { value: r.value.reports, raw: r.raw };
  }

  async report(id: string): Promise<ApiResult<ReportDetail>> {
    return this.call('GET', `/api/v1/reports/${encodeURIComponent(id)}`, ReportDetail);
  }

  /** A session's log lines on this node (a report's `logs.url` names the node). */
  async logs(session: string): Promise<ApiResult<LogsResponse>> {
    return this.call('GET', `/api/v1/logs?session=${encodeURIComponent(session)}`, LogsResponse);
  }

  private async call<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<ApiResult<z.output<S>>> {
    const url = this.url(path);
    let res: Response;
    try {
      res = await this.fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new ApiError(
        `cannot reach node at ${this.base.origin}: ${networkReason(err, this.timeoutMs)}`,
        undefined,
        true,
      );
    }
    if (!res.ok) throw await this.failure(method, url, res);
    const text = await res.text().catch(() => '');
    const json = safeJson(text);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiError(
        `unexpected answer to ${method} ${url.pathname}: ${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid body'}`,
      );
    }
    return { value: parsed.data, raw: json };
  }

  /** Keep a path prefix if the node sits behind one (http://host/mm/ + api/v1/...). */
  private url(path: string): URL {
    return new URL(path.slice(1), this.base.href.endsWith('/') ? this.base : `${this.base.href}/`);
  }

  /** A non-2xx answer as an ApiError: the problem's detail on one line. */
  private async failure(method: string, url: URL, res: Response): Promise<ApiError> {
    const text = await res.text().catch(() => '');
    const problem = Problem.safeParse(safeJson(text));
    const detail = problem.success ? (problem.data.detail ?? problem.data.title) : text.slice(0, 200).trim();
    return new ApiError(
      `${method} ${url.pathname} → ${res.status} ${res.statusText}${detail ? `: ${detail}` : ''}`,
      res.status,
    );
  }
}

function safeJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** A route the node does not have (yet): null; anything else is still an error. */
function ifMissing(err: unknown): null {
  if (err instanceof ApiError && err.status === 404) return null;
  throw err;
}

/** fetch() hides the interesting part in err.cause.code. */
function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the node running?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return cause?.message ?? (err instanceof Error ? err.message : String(err));
  }
}
