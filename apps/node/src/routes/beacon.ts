import {
  FallbackBeacon,
  FallbackBeaconResponse,
  type NewOpsEvent,
  TokenError,
  type TokenKeys,
  verifyToken,
} from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { authorize, bearerToken } from '../http/auth.ts';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';

export interface BeaconDeps {
  tokenSecret: TokenKeys;
  nodeId: string;
  region: string;
  /** The events feed (never throws). */
  record: (event: NewOpsEvent) => Promise<void>;
  /** One beacon per viewer (token + address) per this long. Default 10 s. */
  perViewerMs?: number;
  /** At most this many beacons a minute on this node, whoever sends them. Default 60. */
  perMinute?: number;
}

/**
 * `POST /beacon/fallback`: a viewer's player tells its node it fell back from
 * WebRTC to HLS, and why, so ops see it in the events feed. Viewer token for
 * the stream; a small body; rate-limited per viewer and per node (429), so a
 * page in a loop, or a crowd falling back together, writes a bounded number
 * of events.
 */
export async function registerBeacon(app: FastifyInstance, deps: BeaconDeps): Promise<void> {
  const perViewerMs = deps.perViewerMs ?? 10_000;
  const perMinute = deps.perMinute ?? 60;
  const lastByViewer = new Map<string, number>();
  let minute = { start: 0, count: 0 };

  app.withTypeProvider<ZodTypeProvider>().post(
    '/beacon/fallback',
    {
      bodyLimit: 2048,
      schema: { body: FallbackBeacon, response: { 200: FallbackBeaconResponse, ...problemResponses } },
      // The token is checked before the body: without one, nothing else is looked at.
      onRequest: async (request) => {
        try {
          await verifyToken(deps.tokenSecret, bearerToken(request));
        } catch (err) {
          const reason = err instanceof TokenError ? err.message : 'token is invalid';
          throw new HttpProblem(401, 'Unauthorized', reason, { 'WWW-Authenticate': 'Bearer' });
        }
      },
    },
    async (request) => {
      const { stream, reason, from, node } = request.body;
      await authorize(deps.tokenSecret, request, ['viewer', 'commentator'], stream);
      const now = Date.now();
      const viewer = `${bearerToken(request)}|${request.ip}`;
      const last = lastByViewer.get(viewer);
      if (last !== undefined && now - last < perViewerMs) {
        const wait = Math.ceil((perViewerMs - (now - last)) / 1000);
        throw new HttpProblem(429, 'Too Many Requests', 'one fallback report per viewer at a time', {
          'Retry-After': String(wait),
        });
      }
      if (now - minute.start >= 60_000) minute = { start: now, count: 0 };
      if (minute.count >= perMinute) {
        throw new HttpProblem(429, 'Too Many Requests', 'too many fallback reports on this node', {
          'Retry-After': String(Math.ceil((minute.start + 60_000 - now) / 1000)),
        });
      }
      minute.count++;
      // Forget viewers whose window passed, so the map stays as small as the current crowd.
      if (lastByViewer.size > 10_000) {
        for (const [key, at] of lastByViewer) if (now - at >= perViewerMs) lastByViewer.delete(key);
      }
      lastByViewer.set(viewer, now);
      const where = node && node !== deps.nodeId ? ` (playing from ${node})` : '';
      await deps.record({
        kind: 'fallback',
        nodeId: deps.nodeId,
        region: deps.region,
        stream,
        detail: `${from ?? 'webrtc'} → hls: ${reason}${where}`.slice(0, 500),
      });
      return { recorded: true };
    },
  );
}
