import {
  ConsumeResponse,
  ConsumeTalkbackResponse,
  DataConsumerInfo,
  JoinResponse,
  ProduceResponse,
  RelayAlternative,
  RestartIceResponse,
  SetLanguageResponse,
  SIGNALING_PATH,
  SignalingErrorCode,
  type SignalingMethod,
  SignalingNotification,
  type SignalingRequests,
  TransportInfo,
  VideoLayersInfo,
  ViewDelayResponse,
} from '@matchmesh/protocol';
import { z } from 'zod';
import { TypedEmitter } from './emitter.ts';
import {
  SignalingClosedError,
  SignalingProtocolError,
  SignalingRequestError,
  SignalingTimeoutError,
} from './errors.ts';

/** What each method answers with, validated on arrival. */
const ResponseSchemas = {
  join: JoinResponse,
  createTransport: TransportInfo,
  connectTransport: z.unknown(),
  consume: ConsumeResponse,
  resumeConsumer: z.unknown(),
  consumeData: DataConsumerInfo,
  produce: ProduceResponse,
  restartIce: RestartIceResponse,
  setLayers: VideoLayersInfo,
  setLanguage: SetLanguageResponse,
  consumeTalkback: ConsumeTalkbackResponse,
  viewDelay: ViewDelayResponse,
} satisfies Record<SignalingMethod, z.ZodType>;

/** Request body as the caller writes it (schema defaults may be omitted). */
export type SignalingRequestInput<M extends SignalingMethod> = z.input<(typeof SignalingRequests)[M]>;
/** Validated response body of a method. */
export type SignalingResponseData<M extends SignalingMethod> = z.output<(typeof ResponseSchemas)[M]>;

/** Anything constructed like the browser's WebSocket (the `ws` package in node tests). */
export type WebSocketConstructor = new (url: string) => WebSocket;

export type SignalingClientOptions = {
  /** Defaults to globalThis.WebSocket; pass `ws`'s class in node. */
  WebSocket?: WebSocketConstructor;
  /** Default per-request timeout. */
  requestTimeoutMs?: number;
  /** How long connect() waits for the socket to open. */
  connectTimeoutMs?: number;
};

export type SignalingClientState = 'idle' | 'connecting' | 'open' | 'closed';

export type SignalingCloseInfo = {
  code: number;
  reason: string;
  /** True when close() was called locally. */
  byClient: boolean;
};

export type SignalingClientEvents = {
  open: [];
  notification: [SignalingNotification];
  close: [SignalingCloseInfo];
  /** Something the server sent that we could not use (never fatal). */
  warning: [Error];
};

type Pending = {
  method: string;
  resolve: (data: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
};

const WS_OPEN = 1;

/** http(s)://host[:port][/prefix] → ws(s)://host[:port][/prefix]/ws. ws(s) URLs are kept as given. */
export function signalingUrl(nodeUrl: string): string {
  const url = new URL(nodeUrl);
  if (url.protocol === 'ws:' || url.protocol === 'wss:') return url.toString();
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else throw new TypeError(`node URL must be http(s) or ws(s): ${nodeUrl}`);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${SIGNALING_PATH}`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/**
 * WebSocket signaling: `request(method, data)` sends `{id, method, data}` and
 * resolves with the validated `data` of the matching response, or rejects with
 * a SignalingRequestError (server said no), SignalingTimeoutError,
 * SignalingClosedError or SignalingProtocolError. Server notifications are
 * emitted as 'notification'.
 */
export class SignalingClient extends TypedEmitter<SignalingClientEvents> {
  readonly url: string;
  readonly #WebSocket: WebSocketConstructor;
  readonly #requestTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #socket: WebSocket | null = null;
  #state: SignalingClientState = 'idle';
  #nextId = 1;
  #closing = false;

  constructor(url: string, options: SignalingClientOptions = {}) {
    super();
    this.url = url;
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) throw new TypeError('no WebSocket implementation: pass options.WebSocket');
    this.#WebSocket = Ctor;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  get state(): SignalingClientState {
    return this.#state;
  }

  /** Number of requests awaiting a response. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Opens the socket. Rejects with SignalingClosedError if it cannot. */
  connect(): Promise<void> {
    if (this.#state !== 'idle') {
      return Promise.reject(new SignalingClosedError(`connect() called in state ${this.#state}`));
    }
    this.#state = 'connecting';
    return new Promise<void>((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new this.#WebSocket(this.url);
      } catch (error) {
        this.#state = 'closed';
        reject(new SignalingClosedError(`cannot open ${this.url}: ${(error as Error).message}`));
        return;
      }
      this.#socket = socket;
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => {
        settle(new SignalingClosedError(`${this.url}: not open after ${this.#connectTimeoutMs} ms`));
        this.close(4000, 'connect timeout');
      }, this.#connectTimeoutMs);

      socket.addEventListener('open', () => {
        if (this.#state !== 'connecting') return;
        this.#state = 'open';
        settle();
        this.emit('open');
      });
      socket.addEventListener('message', (event: MessageEvent) => this.#onMessage(event.data));
      // 'error' is always followed by 'close', which does the work.
      socket.addEventListener('error', () => {});
      socket.addEventListener('close', (event: CloseEvent) => {
        const wasOpen = this.#state === 'open';
        settle(new SignalingClosedError(`${this.url}: closed before open (${event.code})`, event.code));
        this.#teardown(event.code, event.reason || (wasOpen ? 'connection closed' : 'connection failed'));
      });
    });
  }

  /** Sends a request and resolves with its validated response data. */
  request<M extends SignalingMethod>(
    method: M,
    data: SignalingRequestInput<M>,
    options: { timeoutMs?: number } = {},
  ): Promise<SignalingResponseData<M>> {
    const socket = this.#socket;
    if (this.#state !== 'open' || !socket || socket.readyState !== WS_OPEN) {
      return Promise.reject(new SignalingClosedError(`${method}: signaling is ${this.#state}`));
    }
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new SignalingTimeoutError(method, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, { method, resolve, reject, timer });
      try {
        socket.send(JSON.stringify({ id, method, data }));
      } catch (error) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new SignalingClosedError(`${method}: send failed: ${(error as Error).message}`));
      }
    }).then((raw) => {
      const parsed = ResponseSchemas[method].safeParse(raw);
      if (!parsed.success) throw new SignalingProtocolError(method, parsed.error.message);
      return parsed.data as SignalingResponseData<M>;
    });
  }

  /** Closes the socket; pending requests reject with SignalingClosedError. Idempotent. */
  close(code = 1000, reason = 'client closed'): void {
    if (this.#state === 'closed') return;
    this.#closing = true;
    const socket = this.#socket;
    if (socket && socket.readyState <= WS_OPEN) {
      try {
        socket.close(code, reason);
      } catch {
        socket.close();
      }
    }
    this.#teardown(code, reason);
  }

  #teardown(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      this.#pending.delete(id);
      pending.reject(new SignalingClosedError(`${pending.method}: signaling closed (${reason})`, code));
    }
    this.emit('close', { code, reason, byClient: this.#closing });
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== 'string') {
      this.emit('warning', new Error('ignoring binary signaling message'));
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(raw);
    } catch {
      this.emit('warning', new Error('ignoring non-JSON signaling message'));
      return;
    }
    if (typeof msg !== 'object' || msg === null) {
      this.emit('warning', new Error('ignoring non-object signaling message'));
      return;
    }
    if ('notification' in msg) {
      const parsed = SignalingNotification.safeParse(msg);
      if (parsed.success) this.emit('notification', parsed.data);
      else this.emit('warning', new Error(`ignoring unknown notification: ${raw.slice(0, 200)}`));
      return;
    }
    const { id, ok } = msg as { id?: unknown; ok?: unknown };
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!pending) {
      this.emit('warning', new Error(`response to no pending request: ${raw.slice(0, 200)}`));
      return;
    }
    this.#pending.delete(id as number);
    clearTimeout(pending.timer);
    if (ok === true) {
      pending.resolve((msg as { data?: unknown }).data);
      return;
    }
    const error = (msg as { error?: { code?: unknown; message?: unknown; alternative?: unknown } }).error;
    // A code this client does not know (a newer node) reads as 'internal': retried elsewhere, never fatal.
    const code = SignalingErrorCode.safeParse(error?.code);
    const alternative = error?.alternative === undefined ? undefined : RelayAlternative.safeParse(error.alternative);
    pending.reject(
      new SignalingRequestError(
        pending.method,
        code.success ? code.data : 'internal',
        typeof error?.message === 'string' ? error.message : 'request failed',
        alternative?.success ? alternative.data : undefined,
      ),
    );
  }
}
