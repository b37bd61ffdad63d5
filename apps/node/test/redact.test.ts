import { Writable } from 'node:stream';
import Fastify from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { redactUrl, requestForLog } from '../src/http/redact.ts';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoidmlld2VyIn0.c2lnbmF0dXJl';

describe('tokens never reach the logs', () => {
  it('redacts ?token= and the LL-HLS token path segment, and nothing else', () => {
    expect(redactUrl(`/watch?stream=final&token=${JWT}&node=x`)).toBe('/watch?stream=final&token=[redacted]&node=x');
    expect(redactUrl(`/hls/final/index.m3u8?TOKEN=${JWT}`)).toBe('/hls/final/index.m3u8?TOKEN=[redacted]');
    expect(redactUrl(`/hls/final/t/${JWT}/r2/media.m3u8?_HLS_msn=3`)).toBe(
      '/hls/final/t/[redacted]/r2/media.m3u8?_HLS_msn=3',
    );
    expect(redactUrl('/api/v1/nodes')).toBe('/api/v1/nodes');
  });

  it("a node's request log line carries the redacted URL and no Authorization header", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink).child({ area: 'http' }, { serializers: { req: requestForLog } });
    const app = Fastify({ loggerInstance: logger as never });
    app.get('/hls/:stream/t/:token/:file', async () => 'ok');
    await app.inject({
      method: 'GET',
      url: `/hls/final/t/${JWT}/media.m3u8?token=${JWT}`,
      headers: { authorization: `Bearer ${JWT}` },
    });
    await app.close();
    const all = lines.join('');
    expect(all).toContain('/hls/final/t/[redacted]/media.m3u8?token=[redacted]');
    expect(all).not.toContain(JWT);
  });
});
