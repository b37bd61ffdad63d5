import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Role, signToken } from '@matchmesh/protocol';
import { type ManagedProcess, REPO_ROOT, startTsProcess, waitForMessage } from './processes.ts';

export function tokenSecret(): string {
  return (
    process.env.MM_TOKEN_SECRET ?? readFileSync(path.join(REPO_ROOT, '.matchmesh', 'secret'), 'utf8').trim()
  );
}

export function token(role: Role, stream: string, ttl: string | number = '1h'): Promise<string> {
  return signToken(tokenSecret(), { role, stream, ttl });
}

export interface TestNode extends ManagedProcess {
  url: string;
  nodeId: string;
}

let portCounter = 0;

/**
 * Start a real node process (apps/node) on free ports. Each node in a test
 * run gets its own WebRtcServer port block so several can run side by side.
 */
export async function startNode(redisUrl: string, env: Record<string, string> = {}): Promise<TestNode> {
  // Blocks are picked from the pid, so test files running at the same time
  // (other workers, other checkouts) can still collide: take the next block then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNodeOnce(redisUrl, env);
    } catch (err) {
      if (attempt >= 4 || !/address already in use/.test(String(err))) throw err;
    }
  }
}

async function startNodeOnce(redisUrl: string, env: Record<string, string>): Promise<TestNode> {
  const block = 46000 + ((process.pid * 7 + portCounter++ * 13) % 150) * 50;
  const proc = startTsProcess('apps/node/src/main.ts', {
    MM_HTTP_PORT: '0',
    MM_WORKERS: '1',
    MM_RTC_PORT: String(block),
    MM_RTC_MIN_PORT: String(block + 1),
    MM_RTC_MAX_PORT: String(block + 49),
    MM_TOKEN_SECRET: tokenSecret(),
    REDIS_URL: redisUrl,
    MM_HEARTBEAT_MS: '500',
    MM_REGION: 'local',
    ...env,
  });
  const msg = await waitForMessage<{ type: string; url: string; nodeId: string }>(proc, 'listening');
  return { ...proc, url: msg.url, nodeId: msg.nodeId };
}
