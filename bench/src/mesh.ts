// Real processes for the scenarios that measure the node as shipped: a
// redis-server, node processes (apps/node) and the origin agent (apps/origin),
// started with the e2e suite's own helpers so the bench and the tests run the
// mesh the same way. Everything started here is stopped by close().
import { readFileSync } from 'node:fs';
import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import { startNode, type TestNode, token } from '../../test/src/node.ts';
import { startOrigin } from '../../test/src/origin.ts';
import type { ManagedProcess } from '../../test/src/processes.ts';
import { TestSignaling } from '../../test/src/signaling.ts';
import { assertLoopbackUrl } from './loopback.ts';
import { sleep } from './stats.ts';

export { type TestNode, TestSignaling, token };

export class Mesh {
  redis!: RedisServer;
  readonly nodes: TestNode[] = [];
  readonly origins: ManagedProcess[] = [];

  static async start(): Promise<Mesh> {
    const mesh = new Mesh();
    mesh.redis = await startRedisServer();
    return mesh;
  }

  async node(env: Record<string, string>): Promise<TestNode> {
    const n = await startNode(this.redis.url, env);
    assertLoopbackUrl(n.url);
    this.nodes.push(n);
    return n;
  }

  async origin(ingest: TestNode, stream: string, env: Record<string, string> = {}): Promise<ManagedProcess> {
    // The production picture (the origin's defaults), not the e2e rig's small one: the bench
    // measures what a real match costs.
    const o = await startOrigin(ingest.url, stream, {
      MM_VIDEO_SIZE: '1280x720',
      MM_VIDEO_BITRATE_KBPS: '1500',
      ...env,
    });
    this.origins.push(o);
    return o;
  }

  /** Wait until the cluster lists an ingest for `stream` and a viewer can join it on `node`. */
  async waitLive(node: TestNode, stream: string, timeoutMs = 60_000): Promise<number> {
    const t0 = Date.now();
    const adminToken = await token('admin', '*');
    const viewerToken = await token('viewer', stream);
    while (Date.now() - t0 < timeoutMs) {
      const res = await fetch(`${node.url}/api/v1/streams`, {
        headers: { Authorization: `Bearer ${adminToken}` },
      });
      const body = (await res.json()) as { streams?: Array<{ stream: string; ingest: unknown }> };
      if (body.streams?.some((s) => s.stream === stream && s.ingest)) {
        const c = await TestSignaling.connect(node.url);
        try {
          if ((await c.request('join', { stream, token: viewerToken })).ok) return Date.now() - t0;
        } finally {
          c.close();
        }
      }
      await sleep(250);
    }
    throw new Error(`stream ${stream} did not go live on ${node.url} within ${timeoutMs} ms`);
  }

  async close(): Promise<void> {
    for (const o of this.origins.splice(0)) await o.stop();
    for (const n of this.nodes.splice(0).reverse()) await n.stop();
    await this.redis?.stop();
  }
}

/** pids of a process's direct children (the node's mediasoup workers). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
