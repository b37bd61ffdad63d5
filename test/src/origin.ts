import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { token } from './node.ts';
import type { ManagedProcess } from './processes.ts';
import { startProcess } from './processes.ts';

/**
 * The e2e rig's picture: the test pattern drawn at 640x360 (strips and all, so
 * every frame-number reader works unchanged) at a matching bitrate. A quarter
 * of 720p's pixels: the encoder and each Chromium decoder cost a fraction of
 * what they did, so the machine's own load disturbs the timing bounds less.
 * A test about resolution passes MM_VIDEO_SIZE / MM_VIDEO_BITRATE_KBPS itself.
 */
export const E2E_VIDEO = { MM_VIDEO_SIZE: '640x360', MM_VIDEO_BITRATE_KBPS: '600' } as const;

/**
 * The rig publishes one layer (no simulcast): three encodes per origin would
 * load the 2-core CI machine under every other test's timing bounds. A test
 * about the ladder passes MM_LADDER itself (CI_LADDER).
 */
export const E2E_LADDER = { MM_LADDER: 'off' } as const;

/** The ladder tests publish on 2 cores: the default's shape (three layers, aligned key frames), a quarter of its pixels at most. */
export const CI_LADDER = '640x360@30:600,320x180@30:300,160x90@30:150';

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
    ...E2E_VIDEO,
    ...E2E_LADDER,
    // A fresh score journal per agent unless the test restarts one on purpose (same file).
    MM_SCORE_QUEUE_FILE: path.join(tmpdir(), `mm-scores-${stream}-${randomUUID()}.jsonl`),
    ...env,
  });
}
