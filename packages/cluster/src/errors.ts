/**
 * Every failure this package hands back to a caller is a ClusterError with a
 * small, stable code, so the node can map it to an HTTP status (unavailable →
 * 503, timeout → 504, not_found → 404, bad_request → 400) without string
 * matching on ioredis messages. `bad_reply`: a peer answered a bus request
 * with something that fails the reply's schema (a failed request, like a
 * timeout, not a crash).
 */
export type ClusterErrorCode = 'timeout' | 'not_found' | 'unavailable' | 'bad_request' | 'bad_reply' | 'internal';

export const CLUSTER_ERROR_CODES: readonly ClusterErrorCode[] = [
  'timeout',
  'not_found',
  'unavailable',
  'bad_request',
  // On the wire too: a handler that made a request of its own may pass this code on.
  'bad_reply',
  'internal',
];

export class ClusterError extends Error {
  override readonly name = 'ClusterError';
  readonly code: ClusterErrorCode;

  constructor(code: ClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Message of anything thrown, for logs and wrapped errors. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
