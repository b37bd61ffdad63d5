import { token } from './node.ts';
import type { ManagedProcess } from './processes.ts';
import { startTsProcess } from './processes.ts';

/** Start the real origin agent (apps/origin) as its own process, publishing the test pattern. */
export async function startOrigin(
  ingestUrl: string,
  stream: string,
  env: Record<string, string> = {},
): Promise<ManagedProcess> {
  return startTsProcess('apps/origin/src/main.ts', {
    MM_INGEST_URL: ingestUrl,
    MM_STREAM: stream,
    MM_PUBLISH_TOKEN: await token('publisher', stream),
    MM_ORIGIN_API_PORT: '0',
    ...env,
  });
}
