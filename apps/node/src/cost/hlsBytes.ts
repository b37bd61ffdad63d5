import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** Per connection: how far its bytesWritten has already been counted. */
const counted = new WeakMap<Socket, number>();
const startedAt = new WeakMap<object, number>();

/**
 * Count the bytes every response of `scope` puts on the wire — headers and
 * body, as the socket wrote them — and hand them to `onBytes`. The socket's
 * own counter is read when the request arrives and when its response is done;
 * a per-connection mark makes sure no byte is counted twice (pipelined
 * requests) and that other responses on the same keep-alive connection are
 * not counted as these.
 */
export function countResponseBytes(scope: FastifyInstance, onBytes: (bytes: number) => void): void {
  scope.addHook('onRequest', async (request) => {
    startedAt.set(request.raw, request.raw.socket?.bytesWritten ?? 0);
  });
  scope.addHook('onResponse', async (request) => {
    const socket = request.raw.socket;
    if (!socket) return;
    const from = Math.max(startedAt.get(request.raw) ?? socket.bytesWritten, counted.get(socket) ?? 0);
    const now = socket.bytesWritten;
    counted.set(socket, now);
    if (now > from) onBytes(now - from);
  });
}
