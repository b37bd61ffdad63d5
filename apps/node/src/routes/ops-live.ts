import {
  EventsQuery,
  EventsResponse,
  LIVE_END_EVENT,
  LIVE_OPS_EVENT,
  LIVE_SNAPSHOT_EVENT,
  type OpsEvent,
  type OpsSnapshot,
  type TokenKeys,
  TokenQuery,
  verifyToken,
} from '@matchmesh/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authorize, bearerToken } from '../http/auth.ts';
import { HttpProblem } from '../http/problem.ts';
import { problemResponses } from '../http/schemas.ts';

/** What the routes need of the cluster's events feed (packages/cluster EventLog). */
export interface EventsPort {
  recent(limit: number): Promise<OpsEvent[]>;
  follow(listener: (event: OpsEvent) => void): { stop(): void; ready: Promise<void> };
}

/** Redis stream ids (`<ms>-<seq>`) in order. */
function after(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am > bm || (am === bm && as > bs);
}

/** Bytes a live stream may have waiting for its client before the node ends it ("client too slow"). */
const MAX_UNSENT_BYTES = 1 << 20;
/** How long an ended stream's last bytes may take to leave before its socket is cut. */
const END_GRACE_MS = 500;

/** Events the stream opens with, so a page that just opened sees the recent history without a second call. */
const OPENING_EVENTS = 50;

export interface OpsLiveDeps {
  tokenSecret: TokenKeys;
  /** Resolved per request: the cluster link is built before the routes, started after. */
  events: () => EventsPort;
  /** The cluster as the admin routes describe it, read with the caller's (admin) token. */
  snapshot: (token: string) => Promise<OpsSnapshot>;
  /** How often a snapshot is pushed. Default 2000 ms. */
  snapshotEveryMs?: number;
}

/**
 * The events feed (`GET /api/v1/events`) and the live stream of the ops
 * console (`GET /api/v1/live`, server-sent events: a snapshot every ~2 s and
 * each event as it is appended). Admin token on both; on the stream it comes
 * as `?token=` (EventSource cannot set headers), and it is checked before a
 * byte of the stream is written: 401/403 are ordinary problem answers.
 */
export async function registerOpsLive(app: FastifyInstance, deps: OpsLiveDeps): Promise<void> {
  app.addHook('onRequest', async (request) => {
    await authorize(deps.tokenSecret, request, 'admin', '*');
  });
  const r = app.withTypeProvider<ZodTypeProvider>();
  const open = new Set<(reason: string) => void>();
  // Open streams would keep the server from closing: end them first, saying why.
  app.addHook('preClose', async () => {
    for (const end of [...open]) end('node closing');
  });

  r.get(
    '/api/v1/events',
    { schema: { querystring: EventsQuery, response: { 200: EventsResponse, ...problemResponses } } },
    async (request) => {
      try {
        return { events: await deps.events().recent(request.query.limit) };
      } catch (err) {
        throw new HttpProblem(503, 'Service Unavailable', `events feed unavailable: ${(err as Error).message}`, {
          'Retry-After': '5',
        });
      }
    },
  );

  r.get(
    '/api/v1/live',
    {
      schema: {
        querystring: TokenQuery,
        response: {
          200: {
            description:
              'Server-sent events: `ops-event` (OpsEvent) for the last 50 events, then for each one as it is ' +
              'appended; `snapshot` (OpsSnapshot) every ~2 s; `end` (a reason) before the node ends the stream.',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const token = bearerToken(request)!;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        // The socket ends with the stream: a closing node must not wait for an idle keep-alive to time out.
        connection: 'close',
        // A reverse proxy must pass each message on at once.
        'x-accel-buffering': 'no',
      });
      res.write(': matchmesh ops live\n\n');
      const send = (event: string, data: unknown) => {
        if (res.writableEnded) return;
        // A client that stopped reading would have the node buffer its snapshots without end.
        if (res.writableLength > MAX_UNSENT_BYTES) return end('client too slow');
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };

      let timer: NodeJS.Timeout | undefined;
      let ended = false;
      const end = (reason: string | null) => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        following.stop();
        open.delete(end);
        if (reason && res.writableLength <= MAX_UNSENT_BYTES) {
          res.write(`event: ${LIVE_END_EVENT}\ndata: ${JSON.stringify(reason)}\n\n`);
        }
        // The socket goes with the stream once its last bytes are out — or a moment later from a client
        // that is not reading: a closing node must not wait on it.
        const cut = setTimeout(() => res.destroy(), END_GRACE_MS);
        res.end(() => {
          clearTimeout(cut);
          res.destroy();
        });
      };
      open.add(end);
      // History first, then live, each event once: live ones are held until the history is out,
      // and what the history already carried is dropped by id.
      let lastSent: string | null = null;
      let held: OpsEvent[] | null = [];
      const sendEvent = (event: OpsEvent) => {
        if (lastSent && !after(event.id, lastSent)) return;
        lastSent = event.id;
        send(LIVE_OPS_EVENT, event);
      };
      const following = deps.events().follow((event) => (held ? held.push(event) : sendEvent(event)));
      res.on('close', () => end(null));
      void following.ready
        .then(() => deps.events().recent(OPENING_EVENTS))
        .catch(() => [] as OpsEvent[])
        .then((history) => {
          for (const event of [...history, ...(held ?? [])]) sendEvent(event);
          held = null;
        });

      const push = async () => {
        // The token was good when the stream opened; it must stay good for as long as it runs.
        const valid = await verifyToken(deps.tokenSecret, token).then(
          () => true,
          () => false,
        );
        if (!valid) return end('token expired');
        try {
          const snapshot = await deps.snapshot(token);
          if (!ended) send(LIVE_SNAPSHOT_EVENT, snapshot);
        } catch (err) {
          request.log.debug({ err: (err as Error).message }, 'ops snapshot skipped');
        }
        if (!ended) timer = setTimeout(() => void push(), deps.snapshotEveryMs ?? 2000);
      };
      void push();
      return reply;
    },
  );
}
