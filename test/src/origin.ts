import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { token } from './node.ts';
import type { ManagedProcess } from './processes.ts';
import { startProcess } from './processes.ts';

/** Start the real origin agent (apps/origin) as its own process, publishing the test pattern. */
export async function startOrigin(
  ingestUrl: string,
  stream: string,
  env: Record<string, string> = {},
): Promise<ManagedProcess> {
  return startProcess('apps/origin/dist/main.js', {
    MM_INGEST_URL: ingestUrl,
    MM_STREAM: stream,
    MM_PUBLISH_TOKEN: await token('publisher', stream),
    MM_ORIGIN_API_PORT: '0',
    // A fresh score journal per agent unless the test restarts one on purpose (same file).
    MM_SCORE_QUEUE_FILE: path.join(tmpdir(), `mm-scores-${stream}-${randomUUID()}.jsonl`),
    ...env,
  });
}
