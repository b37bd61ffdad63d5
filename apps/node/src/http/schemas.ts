import { Problem } from '@matchmesh/protocol';
import type { FastifyInstance, FastifySchemaValidationError } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { problemErrorHandler } from './problem.ts';

/**
 * Routes declare their params, query, body and responses as zod schemas
 * (from @matchmesh/protocol): requests are checked by the same definitions
 * clients are typed against, answers are encoded by them, and an OpenAPI
 * document can be generated from the routes. Call once, on the root
 * instance, before any route is added.
 */
export function useZodSchemas(app: FastifyInstance): void {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setSchemaErrorFormatter(formatValidationError);
  app.setErrorHandler(problemErrorHandler);
}

/** Every error answer of a route: RFC 9457 problem details. */
export const problemResponses = { '4xx': Problem, '5xx': Problem } as const;

/**
 * The detail of a 400 for a failed schema: each failing field by its place in
 * the request (`params.stream`, `query._HLS_msn`, `body.draining`) and why.
 */
export const formatValidationError: SchemaErrorFormatter = (errors: FastifySchemaValidationError[], dataVar) => {
  const part = dataVar === 'querystring' ? 'query' : dataVar;
  const fields = errors.map((e) => {
    const field = (e.instancePath ?? '').split('/').filter(Boolean).join('.');
    return `${field ? `${part}.${field}` : part}: ${e.message ?? 'invalid'}`;
  });
  return new Error(fields.join('; '));
};

/** Fastify exports the type of a schema error formatter only through this method. */
type SchemaErrorFormatter = Parameters<FastifyInstance['setSchemaErrorFormatter']>[0];
