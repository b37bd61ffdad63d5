import { acceptPipeTunnel, PIPE_TUNNEL_PATH } from '@matchmesh/mesh';
import { type TokenKeys, TokenQuery } from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { authorize } from '../http/auth.ts';
import { problemResponses } from '../http/schemas.ts';

/**
 * The upstream's end of a pipe over TCP (packages/mesh pipe-tunnel.ts): a
 * WebSocket a downstream node opens, with a node-role token, when UDP between
 * the two is blocked. Each binary message is one datagram of the pipe.
 */
export async function registerPipeTunnel(
  app: FastifyInstance,
  o: { tokenSecret: TokenKeys; listenIp: string; log: { warn(obj: object, msg: string): void } },
): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    PIPE_TUNNEL_PATH,
    {
      websocket: true,
      // Before the upgrade: a caller without a node token gets a 401/403 problem, never a socket.
      onRequest: async (request) => {
        await authorize(o.tokenSecret, request, 'node', '*');
      },
      schema: { querystring: TokenQuery, response: problemResponses },
    },
    (socket) => {
      acceptPipeTunnel(socket, o.listenIp).catch((err: unknown) => {
        o.log.warn({ err: String(err) }, 'pipe tunnel not set up');
        socket.close();
      });
    },
  );
}
