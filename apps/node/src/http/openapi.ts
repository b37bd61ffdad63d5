import fastifySwagger from '@fastify/swagger';
import type { TokenKeys } from '@matchmesh/protocol';
import fastifyApiReference from '@scalar/fastify-api-reference';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { type ZodType, z } from 'zod';
import { authorize } from './auth.ts';

/** Where the document and its reading page are served (admin token: header or `?token=`). */
export const OPENAPI_PATH = '/api/v1/openapi.json';
export const DOCS_PATH = '/api/v1/docs';

/**
 * Collect every route's zod schemas into an OpenAPI 3.1 document
 * (`@fastify/swagger`, schemas converted by fastify-type-provider-zod).
 * Register on the root instance before any route: routes added earlier are
 * not in the document.
 */
export async function collectOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'matchmesh node',
        version,
        description:
          'One node of a matchmesh mesh: WHIP ingest and WHEP playback (RFC 9725), LL-HLS, the edges a player ' +
          'picks a relay from, and the ops API. Every route but /healthz and /readyz needs a signed token with its ' +
          'role, as `Authorization: Bearer <token>` or `?token=`. Errors are RFC 9457 problem details. Viewer and ' +
          'commentator signaling runs over the WebSocket at /ws (packages/protocol signaling.ts), not described here.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
    transform: withContentBodies,
  });
}

type ContentBody = { content: Record<string, { schema: ZodType }> };
const isContentBody = (body: unknown): body is ContentBody =>
  typeof body === 'object' && body !== null && 'content' in body && typeof body.content === 'object';

/**
 * fastify-type-provider-zod's transform, plus request bodies declared per
 * content type (`{ content: { 'application/sdp': { schema } } }`: WHIP/WHEP's
 * SDP text), which it converts for responses only.
 */
const withContentBodies: typeof jsonSchemaTransform = (document) => {
  const body = document.schema?.body;
  if (!isContentBody(body)) return jsonSchemaTransform(document);
  const { schema, url } = jsonSchemaTransform({ ...document, schema: { ...document.schema, body: undefined } });
  const content = Object.fromEntries(
    Object.entries(body.content).map(([type, { schema: zod }]) => {
      const { $schema: _, ...json } = z.toJSONSchema(zod, { io: 'input' });
      return [type, { schema: json }];
    }),
  );
  return { schema: { ...schema, body: { content } }, url };
};

/** Scalar's own routes (its script; its page and document copies, kept behind the admin token). */
const SCALAR_PREFIX = '/api/v1/docs-assets';

/**
 * Serve the document at /api/v1/openapi.json and a reference page at
 * /api/v1/docs (Scalar, its script served by the node: no CDN). Both need an
 * admin token (`?token=` in a browser); the page carries the document inline,
 * so nothing it loads needs the token, and the script is public (no data).
 */
export async function serveOpenApi(app: FastifyInstance, tokenSecret: TokenKeys): Promise<void> {
  const admin = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    await authorize(tokenSecret, request, 'admin', '*');
  };
  app.get(OPENAPI_PATH, { onRequest: admin, schema: { hide: true } }, async () => app.swagger());
  app.get(DOCS_PATH, { onRequest: admin, schema: { hide: true } }, async (_request, reply) => {
    // Inline JSON in a script: '<' escaped so no string in the document can close the tag.
    const doc = JSON.stringify(app.swagger()).replace(/</g, '\\u003c');
    return reply
      .type('text/html; charset=utf-8')
      .send(
        `<!doctype html><html><head><meta charset="utf-8"/><title>matchmesh node API</title></head>` +
          `<body><div id="app"></div><script src="${SCALAR_PREFIX}/js/scalar.js"></script>` +
          `<script>Scalar.createApiReference('#app', { content: ${doc} })</script></body></html>`,
      );
  });
  await app.register(fastifyApiReference, {
    routePrefix: SCALAR_PREFIX,
    hooks: {
      onRequest: async (request, reply) => {
        if (request.url.split('?')[0]!.startsWith(`${SCALAR_PREFIX}/js/`)) return;
        await admin(request, reply);
      },
    },
    logLevel: 'warn',
  });
}
