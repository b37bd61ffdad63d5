import { readFileSync } from 'node:fs';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { collectOpenApi } from './openapi.ts';
import { sendProblem } from './problem.ts';
import { requestForLog } from './redact.ts';
import { useZodSchemas } from './schemas.ts';

/** The node package's version, for the OpenAPI document. */
const NODE_VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * The node's Fastify instance before any route: limits, the WebSocket plugin,
 * and the one error mapping (every failure leaves as application/problem+json).
 */
export async function createHttpApp(logger: PinoLogger): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    // Request logs only at warn and above: a busy node serves many joins.
    // Tokens never reach the logs: request URLs are logged with ?token= and HLS token segments redacted.
    loggerInstance: logger.child(
      { area: 'http' },
      { level: 'warn', serializers: { req: requestForLog } },
    ) as unknown as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    // HLS carries the viewer token (a JWT, ~300 chars) as a path segment.
    routerOptions: { maxParamLength: 2048 },
  });
  // Zod route schemas, and the one error handler that turns every failure into problem+json.
  useZodSchemas(app);
  // Before any route: each route's schemas go into the OpenAPI document (served by serveOpenApi).
  await collectOpenApi(app, NODE_VERSION);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 404, 'Not Found', `no route for ${request.method} ${request.url.split('?')[0]}`),
  );
  // The socket takes frames up to 256 KiB; the signaling server answers anything
  // over 64 KiB with a typed error, so only an absurd frame closes a socket.
  await app.register(fastifyWebsocket, { options: { maxPayload: 256 * 1024 } });
  return app;
}
