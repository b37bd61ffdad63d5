/**
 * A URL as logs may keep it: the bearer token a player cannot send as a
 * header (`?token=…`, and the `/hls/<stream>/t/<token>/` path segment LL-HLS
 * players repeat on every request) replaced by `[redacted]`. A token in a log
 * is a token anyone reading the logs can use until it expires.
 */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]').replace(/(\/hls\/[^/?#]+\/t\/)[^/?#]+/g, '$1[redacted]');
}

/** pino serializer for Fastify's request objects: method and redacted URL, never headers (Authorization). */
export function requestForLog(req: { method?: string; url?: string; id?: unknown }): Record<string, unknown> {
  return { method: req.method, url: req.url === undefined ? undefined : redactUrl(req.url), id: req.id };
}
