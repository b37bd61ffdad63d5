import type { AddressInfo } from 'node:net';
import type { SignalingNotification } from '@matchmesh/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocketServer, WebSocket as WsWebSocket } from 'ws';
import {
  SignalingClosedError,
  SignalingProtocolError,
  SignalingRequestError,
  SignalingTimeoutError,
} from '../src/errors.ts';
import { SignalingClient, signalingUrl, type WebSocketConstructor } from '../src/SignalingClient.ts';

const WebSocket = WsWebSocket as unknown as WebSocketConstructor;

type Request = { id: number; method: string; data?: unknown };

const JOINED = {
  routerRtpCapabilities: { codecs: [], headerExtensions: [] },
  nodeId: 'node-1',
  region: 'eu',
  score: null,
};

/** A scripted signaling server: `reply` decides what each request gets. */
let server: WebSocketServer;
let url: string;
let received: Request[];
let sockets: import('ws').WebSocket[];
let reply: (req: Request, send: (msg: unknown) => void) => void;

beforeEach(async () => {
  received = [];
  sockets = [];
  reply = (req, send) => send({ id: req.id, ok: true, data: {} });
  server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
  server.on('connection', (socket) => {
    sockets.push(socket);
    socket.on('message', (raw) => {
      const req = JSON.parse(String(raw)) as Request;
      received.push(req);
      reply(req, (msg) => socket.send(typeof msg === 'string' ? msg : JSON.stringify(msg)));
    });
  });
});

afterEach(async () => {
  for (const socket of sockets) socket.terminate();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function connected(options: { requestTimeoutMs?: number } = {}): Promise<SignalingClient> {
  const client = new SignalingClient(url, { WebSocket, ...options });
  await client.connect();
  return client;
}

describe('signalingUrl', () => {
  it('derives the ws URL from the node base URL', () => {
    expect(signalingUrl('http://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/ws');
    expect(signalingUrl('https://eu1.example.com/')).toBe('wss://eu1.example.com/ws');
    expect(signalingUrl('https://example.com/mesh/?x=1#y')).toBe('wss://example.com/mesh/ws');
    expect(signalingUrl('ws://10.0.0.1:9000/ws')).toBe('ws://10.0.0.1:9000/ws');
    expect(() => signalingUrl('ftp://example.com')).toThrow(TypeError);
  });
});

describe('SignalingClient', () => {
  it('sends {id, method, data} and resolves with the validated response data', async () => {
    reply = (req, send) => send({ id: req.id, ok: true, data: req.method === 'join' ? JOINED : {} });
    const client = await connected();
    expect(client.state).toBe('open');
    const joined = await client.request('join', { stream: 'match', token: 'a-token-of-length' });
    expect(joined).toEqual(JOINED);
    await client.request('resumeConsumer', { consumerId: 'c1' });
    expect(received).toEqual([
      { id: 1, method: 'join', data: { stream: 'match', token: 'a-token-of-length' } },
      { id: 2, method: 'resumeConsumer', data: { consumerId: 'c1' } },
    ]);
    expect(client.pendingCount).toBe(0);
    client.close();
  });

  it('matches responses to requests by id, whatever the order', async () => {
    const held: Array<() => void> = [];
    reply = (req, send) => {
      held.push(() => send({ id: req.id, ok: true, data: { id: `p-${(req.data as { kind: string }).kind}` } }));
      if (held.length === 2) for (const release of held.reverse()) release();
    };
    const client = await connected();
    const [audio, video] = await Promise.all([
      client.request('produce', { transportId: 't', kind: 'audio', rtpParameters: { codecs: [] } }),
      client.request('produce', { transportId: 't', kind: 'video', rtpParameters: { codecs: [] } }),
    ]);
    expect(audio).toEqual({ id: 'p-audio' });
    expect(video).toEqual({ id: 'p-video' });
    client.close();
  });

  it('maps {ok:false} to SignalingRequestError with the protocol code', async () => {
    reply = (req, send) => send({ id: req.id, ok: false, error: { code: 'not_joined', message: 'join first' } });
    const client = await connected();
    const error = await client.request('consume', { transportId: 't', rtpCapabilities: {} }).catch((e) => e);
    expect(error).toBeInstanceOf(SignalingRequestError);
    expect(error).toMatchObject({ code: 'not_joined', method: 'consume' });
    expect(error.message).toContain('join first');
    client.close();
  });

  it("maps 'full' with its alternative relay; a malformed alternative is dropped, not fatal", async () => {
    const alternative = { nodeId: 'relay-eu-2', url: 'http://127.0.0.1:8081', region: 'eu' };
    let alt: unknown = alternative;
    reply = (req, send) =>
      send({ id: req.id, ok: false, error: { code: 'full', message: 'every worker is full', alternative: alt } });
    const client = await connected();
    const join = { stream: 'match', token: 'a-token-of-length' };
    const error = await client.request('join', join).catch((e) => e);
    expect(error).toBeInstanceOf(SignalingRequestError);
    expect(error).toMatchObject({ code: 'full', method: 'join', alternative });
    alt = { nodeId: 'x', url: 'not a url' };
    const second = await client.request('join', join).catch((e) => e);
    expect(second).toMatchObject({ code: 'full' });
    expect(second.alternative).toBeUndefined();
    client.close();
  });

  it("maps an unknown error code to 'internal'", async () => {
    reply = (req, send) => send({ id: req.id, ok: false, error: { code: 'teapot', message: 'short and stout' } });
    const client = await connected();
    const error = await client.request('resumeConsumer', { consumerId: 'c' }).catch((e) => e);
    expect(error).toBeInstanceOf(SignalingRequestError);
    expect(error).toMatchObject({ code: 'internal' });
    client.close();
  });

  it('rejects a response that does not match the schema with SignalingProtocolError', async () => {
    reply = (req, send) => send({ id: req.id, ok: true, data: { nodeId: 'n' } });
    const client = await connected();
    const error = await client.request('join', { stream: 'match', token: 'a-token-of-length' }).catch((e) => e);
    expect(error).toBeInstanceOf(SignalingProtocolError);
    client.close();
  });

  it('times out a request that gets no response, and ignores the late answer', async () => {
    const late: Array<() => void> = [];
    reply = (req, send) => late.push(() => send({ id: req.id, ok: true, data: {} }));
    const client = await connected({ requestTimeoutMs: 100 });
    const warnings: Error[] = [];
    client.on('warning', (w) => warnings.push(w));
    const started = Date.now();
    const error = await client.request('resumeConsumer', { consumerId: 'c' }).catch((e) => e);
    expect(error).toBeInstanceOf(SignalingTimeoutError);
    expect(error).toMatchObject({ method: 'resumeConsumer', timeoutMs: 100 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(client.pendingCount).toBe(0);

    // Per-request override.
    const quick = await client.request('resumeConsumer', { consumerId: 'c' }, { timeoutMs: 20 }).catch((e) => e);
    expect(quick).toMatchObject({ timeoutMs: 20 });

    late.shift()!();
    await new Promise((r) => setTimeout(r, 50));
    expect(warnings.some((w) => /no pending request/.test(w.message))).toBe(true);
    client.close();
  });

  it('emits validated notifications and warns about unknown ones', async () => {
    const client = await connected();
    const notifications: SignalingNotification[] = [];
    const warnings: Error[] = [];
    client.on('notification', (n) => notifications.push(n));
    client.on('warning', (w) => warnings.push(w));
    const socket = sockets[0]!;
    socket.send(JSON.stringify({ notification: 'newProducers' }));
    socket.send(JSON.stringify({ notification: 'consumerClosed', data: { consumerId: 'c9' } }));
    socket.send(JSON.stringify({ notification: 'bogus' }));
    socket.send('not json');
    socket.send(JSON.stringify({ notification: 'drain', data: { reason: 'deploy' } }));
    await expect.poll(() => notifications.length).toBe(3);
    expect(notifications).toEqual([
      { notification: 'newProducers' },
      { notification: 'consumerClosed', data: { consumerId: 'c9' } },
      { notification: 'drain', data: { reason: 'deploy' } },
    ]);
    expect(warnings).toHaveLength(2);
    client.close();
  });

  it('rejects pending requests with SignalingClosedError when the server closes', async () => {
    reply = () => {};
    const client = await connected();
    const closes: unknown[] = [];
    client.on('close', (info) => closes.push(info));
    const pending = client.request('resumeConsumer', { consumerId: 'c' }).catch((e) => e);
    await expect.poll(() => received.length).toBe(1);
    sockets[0]!.close(4001, 'bye');
    const error = await pending;
    expect(error).toBeInstanceOf(SignalingClosedError);
    expect(closes).toEqual([{ code: 4001, reason: 'bye', byClient: false }]);
    expect(client.state).toBe('closed');
    await expect(client.request('resumeConsumer', { consumerId: 'c' })).rejects.toBeInstanceOf(SignalingClosedError);
  });

  it('close() rejects pending requests and reports byClient', async () => {
    reply = () => {};
    const client = await connected();
    const closes: unknown[] = [];
    client.on('close', (info) => closes.push(info));
    const pending = client.request('resumeConsumer', { consumerId: 'c' });
    client.close();
    client.close();
    await expect(pending).rejects.toBeInstanceOf(SignalingClosedError);
    expect(closes).toEqual([{ code: 1000, reason: 'client closed', byClient: true }]);
  });

  it('rejects requests before connect() and connect() to a dead port', async () => {
    const client = new SignalingClient(url, { WebSocket });
    await expect(client.request('resumeConsumer', { consumerId: 'c' })).rejects.toBeInstanceOf(SignalingClosedError);
    const dead = new SignalingClient('ws://127.0.0.1:1/ws', { WebSocket });
    await expect(dead.connect()).rejects.toBeInstanceOf(SignalingClosedError);
    expect(dead.state).toBe('closed');
  });

  it('requires a WebSocket implementation', () => {
    const saved = (globalThis as { WebSocket?: unknown }).WebSocket;
    (globalThis as { WebSocket?: unknown }).WebSocket = undefined;
    try {
      expect(() => new SignalingClient(url)).toThrow(/WebSocket/);
    } finally {
      (globalThis as { WebSocket?: unknown }).WebSocket = saved;
    }
  });
});
