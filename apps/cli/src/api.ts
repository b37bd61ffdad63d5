import {
  CostResetResponse,
  CostResponse,
  DrainResponse,
  KeysResponse,
  LogsResponse,
  type NodeRecord,
  NodesResponse,
  Problem,
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

/** Any failure talking to the node; the CLI prints `message` on one line and exits 1. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

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

  async scaleAdvice(headroom: number): Promise<ApiResult<ScaleAdviceResponse>> {
    return this.call('GET', `/api/v1/scale-advice?headroom=${headroom}`, ScaleAdviceResponse);
  }

  /** The night's cost per region (GET /api/v1/cost). */
  async cost(): Promise<ApiResult<CostResponse>> {
    return this.call('GET', '/api/v1/cost', CostResponse);
  }

  /** A new night: the cost counters start again (POST /api/v1/cost/reset). */
  async resetCost(): Promise<ApiResult<CostResetResponse>> {
    return this.call('POST', '/api/v1/cost/reset', CostResetResponse);
  }

  async drain(nodeId: string, draining = true): Promise<ApiResult<DrainResponse>> {
    const path = `/api/v1/nodes/${encodeURIComponent(nodeId)}/drain`;
    return this.call('POST', path, DrainResponse, { draining });
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
    // Keep a path prefix if the node sits behind one (http://host/mm/ + api/v1/...).
    const url = new URL(path.slice(1), this.base.href.endsWith('/') ? this.base : `${this.base.href}/`);
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
      throw new ApiError(`cannot reach node at ${this.base.origin}: ${networkReason(err, this.timeoutMs)}`);
    }
    const text = await res.text().catch(() => '');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const problem = Problem.safeParse(json);
      const detail = problem.success ? (problem.data.detail ?? problem.data.title) : text.slice(0, 200).trim();
      throw new ApiError(
        `${method} ${url.pathname} → ${res.status} ${res.statusText}${detail ? `: ${detail}` : ''}`,
        res.status,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiError(
        `unexpected answer to ${method} ${url.pathname}: ${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid body'}`,
      );
    }
    return { value: parsed.data, raw: json };
  }
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
