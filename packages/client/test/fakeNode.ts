/**
 * Test helpers: a scripted signaling server speaking the `/ws` protocol with
 * mediasoup-client's fake parameters, a FakeHandler device that exposes its
 * handlers (to flip ICE state and inject DataChannel messages), and a minimal
 * MediaStream for node.
 */
import type { AddressInfo } from 'node:net';
import type { ScoreUpdate } from '@matchmesh/protocol';
import { FakeHandler, type types as ms, testFakeParameters } from 'mediasoup-client';
import { WebSocketServer, type WebSocket as WsSocket, WebSocket as WsWebSocket } from 'ws';
import type { WebSocketConstructor } from '../src/SignalingClient.ts';

export const WebSocket = WsWebSocket as unknown as WebSocketConstructor;

export type Request = { id: number; method: string; data?: Record<string, unknown> };
type Reply = { ok: true; data: unknown } | { ok: false; code: string; message?: string } | 'silent';

export function score(seq: number, points = seq, stream = 'match'): ScoreUpdate {
  return {
    stream,
    seq,
    mediaTime: seq * 1000,
    sentAt: 1_700_000_000_000 + seq,
    score: {
      players: [
        { name: 'Lee', frames: 1, points },
        { name: 'Ortiz', frames: 2, points: 0 },
      ],
      raceTo: 5,
      frame: 4,
      atTable: 0,
      event: `Pot ${seq}`,
    },
  };
}

export function consumerInfo(kind: 'audio' | 'video', source: 'program' | 'commentary' = 'program') {
  const p = testFakeParameters.generateConsumerRemoteParameters({
    codecMimeType: kind === 'audio' ? 'audio/opus' : 'video/VP8',
  });
  return { id: p.id, producerId: p.producerId, kind, rtpParameters: p.rtpParameters, source };
}

export type FakeNodeOptions = {
  snapshot?: ScoreUpdate | null;
  /** Consumers returned by each successive `consume` call (last entry repeats). */
  consumeRounds?: ReturnType<typeof consumerInfo>[][];
  /** Override any method's answer. */
  override?: (req: Request) => Reply | undefined;
  /** Answer a join carrying `recv` with the transport, score consumer and consumers made (a node since issue 20). */
  oneRoundTrip?: boolean;
};

export class FakeNode {
  readonly requests: Request[] = [];
  readonly sockets: WsSocket[] = [];
  url = '';
  #server: WebSocketServer | null = null;
  #consumeCalls = 0;

  constructor(readonly options: FakeNodeOptions = {}) {}

  async start(): Promise<this> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });
    this.#server = server;
    await new Promise<void>((resolve) => server.once('listening', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.on('connection', (socket) => {
      this.sockets.push(socket);
      socket.on('message', (raw) => {
        const req = JSON.parse(String(raw)) as Request;
        this.requests.push(req);
        const reply = this.options.override?.(req) ?? this.#answer(req);
        if (reply === 'silent') return;
        socket.send(
          JSON.stringify(
            reply.ok
              ? { id: req.id, ok: true, data: reply.data }
              : { id: req.id, ok: false, error: { code: reply.code, message: reply.message ?? reply.code } },
          ),
        );
      });
    });
    return this;
  }

  methods(): string[] {
    return this.requests.map((r) => r.method);
  }

  notify(notification: string, data?: unknown): void {
    for (const socket of this.sockets) socket.send(JSON.stringify(data ? { notification, data } : { notification }));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }

  #transport() {
    const t = testFakeParameters.generateTransportRemoteParameters();
    return { ...t, sctpParameters: t.sctpParameters ?? { port: 5000, OS: 1024, MIS: 1024, maxMessageSize: 262144 } };
  }

  #consumers() {
    const rounds = this.options.consumeRounds ?? [[consumerInfo('audio'), consumerInfo('video')]];
    return rounds[Math.min(this.#consumeCalls++, rounds.length - 1)] ?? [];
  }

  #scores() {
    const d = testFakeParameters.generateDataConsumerRemoteParameters();
    return { ...d, label: 'scores', protocol: 'json' };
  }

  #answer(req: Request): Reply {
    switch (req.method) {
      case 'join':
        return {
          ok: true,
          data: {
            routerRtpCapabilities: testFakeParameters.generateRouterRtpCapabilities(),
            nodeId: 'node-eu-1',
            region: 'eu',
            score: this.options.snapshot ?? null,
            ...(this.options.oneRoundTrip && req.data?.recv
              ? { recv: { transport: this.#transport(), consumers: this.#consumers(), scores: this.#scores() } }
              : {}),
          },
        };
      case 'createTransport':
        return { ok: true, data: this.#transport() };
      case 'consume':
        return { ok: true, data: { consumers: this.#consumers() } };
      case 'consumeData':
        return { ok: true, data: this.#scores() };
      default:
        return { ok: true, data: {} };
    }
  }
}

/** A FakeHandler device whose handlers and received DataChannels the test can reach. */
export function fakeDevice() {
  const base = FakeHandler.createFactory(testFakeParameters);
  const handlers: FakeHandler[] = [];
  const channels: { dispatchEvent(event: { type: string; data?: unknown }): boolean }[] = [];
  const handlerFactory: ms.HandlerFactory = {
    ...base,
    factory: (options) => {
      const handler = base.factory(options) as FakeHandler;
      handlers.push(handler);
      const receiveDataChannel = handler.receiveDataChannel.bind(handler);
      handler.receiveDataChannel = async (o) => {
        const result = await receiveDataChannel(o);
        channels.push(result.dataChannel as unknown as (typeof channels)[number]);
        return result;
      };
      return handler;
    },
  };
  return {
    options: { handlerFactory },
    handlers,
    channels,
    /** Delivers a DataChannel text message to the latest score channel. */
    send(message: unknown) {
      const data = typeof message === 'string' ? message : JSON.stringify(message);
      channels.at(-1)!.dispatchEvent({ type: 'message', data });
    },
    setConnectionState(state: ms.ConnectionState) {
      handlers.at(-1)!.setConnectionState(state);
    },
  };
}

/** Just enough MediaStream for the session in node. */
class FakeMediaStream {
  readonly #tracks = new Set<MediaStreamTrack>();
  addTrack(track: MediaStreamTrack) {
    this.#tracks.add(track);
  }
  removeTrack(track: MediaStreamTrack) {
    this.#tracks.delete(track);
  }
  getTracks() {
    return [...this.#tracks];
  }
  getAudioTracks() {
    return this.getTracks().filter((t) => t.kind === 'audio');
  }
  getVideoTracks() {
    return this.getTracks().filter((t) => t.kind === 'video');
  }
}

export function installMediaStream(): void {
  (globalThis as { MediaStream?: unknown }).MediaStream ??= FakeMediaStream;
}
