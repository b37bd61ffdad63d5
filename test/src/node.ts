import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Role, signToken } from '@matchmesh/protocol';
import { type ManagedProcess, REPO_ROOT, startProcess, waitForMessage } from './processes.ts';

export function tokenSecret(): string {
  return process.env.MM_TOKEN_SECRET ?? readFileSync(path.join(REPO_ROOT, '.matchmesh', 'secret'), 'utf8').trim();
}

export function token(role: Role, stream: string, ttl: string | number = '1h'): Promise<string> {
  return signToken(tokenSecret(), { role, stream, ttl });
}

/** A commentator token for `stream`'s booth in `lang` (BCP 47). */
export function commentatorToken(stream: string, lang: string): Promise<string> {
  return signToken(tokenSecret(), { role: 'commentator', stream, lang, ttl: '1h' });
}

export interface TestNode extends ManagedProcess {
  url: string;
  nodeId: string;
  /** UDP+TCP port of the first worker's WebRtcServer (worker i: rtcPort + i). */
  rtcPort: number;
}

/**
 * Start a real node process (apps/node) on free ports. Each node gets its own
 * WebRtcServer port block so several can run side by side; the block is
 * chosen at random and another one is tried when something else on the
 * machine (a parallel test run) already holds it.
 */
export async function startNode(redisUrl: string, env: Record<string, string> = {}): Promise<TestNode> {
  for (let attempt = 1; ; attempt++) {
    // Below the kernel's ephemeral range (32768+) so outgoing sockets never take them.
    const block = 20000 + Math.floor(Math.random() * 250) * 50;
    const proc = startProcess('apps/node/dist/main.js', {
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
    try {
      const msg = await waitForMessage<{ type: string; url: string; nodeId: string }>(proc, 'listening');
      return { ...proc, url: msg.url, nodeId: msg.nodeId, rtcPort: Number(env.MM_RTC_PORT ?? block) };
    } catch (err) {
      if (attempt >= 5 || !proc.output().includes('address already in use')) throw err;
    }
  }
}
