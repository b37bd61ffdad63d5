import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { type RedisServer, startRedisServer } from './redis-server.ts';

/**
 * Redis as ops run it when it must not be a single point of failure: a
 * primary, a replica and three Debian `redis-sentinel` processes (quorum 2),
 * all real processes on free ports. Tests kill the primary and watch the
 * sentinels promote the replica; the mesh reaches it through its
 * `redis-sentinel://` REDIS_URL.
 */
export interface SentinelGroup {
  /** `redis-sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/<master>`: what a node's REDIS_URL says. */
  readonly url: string;
  readonly masterName: string;
  /** The sentinels' current answer for the primary's port. */
  primaryPort(): Promise<number>;
  /** SIGKILL the process that is primary now (a crash, not a handover). */
  killPrimary(): Promise<void>;
  /** Resolves with the time the sentinels name a primary other than `oldPort`. */
  waitForPromotion(oldPort: number, timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

export interface SentinelGroupOptions {
  masterName?: string;
  /** How long the primary must be silent before a sentinel calls it down. Default 1000 ms. */
  downAfterMs?: number;
  /** Default 10 s: how long until the group is ready (sentinels know each other and the replica). */
  readyTimeoutMs?: number;
}

export async function startSentinelGroup(options: SentinelGroupOptions = {}): Promise<SentinelGroup> {
  const masterName = options.masterName ?? 'mm';
  const downAfterMs = options.downAfterMs ?? 1000;
  const servers: RedisServer[] = [];
  const stopAll = async () => {
    for (const s of servers.reverse()) await s.stop();
  };
  try {
    // Redis waits 5 s by default before a full sync, hoping more replicas join; a promoted replica must not.
    const noSyncDelay = ['--repl-diskless-sync-delay', '0'];
    const primary = await startRedisServer({ extraArgs: noSyncDelay });
    servers.push(primary);
    const replica = await startRedisServer({
      extraArgs: [...noSyncDelay, '--replicaof', primary.host, String(primary.port)],
    });
    servers.push(replica);
    const sentinels: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      // A sentinel rewrites its config file (what it learned of the group), so each has its own folder.
      const dir = await mkdtemp(path.join(tmpdir(), 'mm-sentinel-'));
      const configFile = path.join(dir, 'sentinel.conf');
      await writeFile(
        configFile,
        [
          `sentinel monitor ${masterName} ${primary.host} ${primary.port} 2`,
          `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
          `sentinel failover-timeout ${masterName} 10000`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const sentinel = await startRedisServer({ bin: 'redis-sentinel', configFile, dataDir: dir });
      sentinels.push(sentinel);
      servers.push(sentinel);
    }
    const url = `redis-sentinel://${sentinels.map((s) => `${s.host}:${s.port}`).join(',')}/${masterName}`;
    const ask = async <T>(fn: (client: Redis) => Promise<T>): Promise<T> => {
      // Any sentinel that answers will do: the one a test asks may be the one being restarted.
      let lastError: unknown;
      for (const s of sentinels) {
        const client = new Redis(s.port, s.host, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        try {
          await client.connect();
          return await fn(client);
        } catch (err) {
          lastError = err;
        } finally {
          client.disconnect();
        }
      }
      throw lastError;
    };
    const primaryPort = async () =>
      Number(((await ask((c) => c.call('SENTINEL', 'get-master-addr-by-name', masterName))) as string[])[1]);

    // Ready when the replica holds a copy (its link to the primary is up), and every sentinel knows the two others
    // (they agree on a failover) and the replica (something to promote). They learn both from the primary within
    // a few seconds; this waits for it, not a fixed time.
    const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
    const replicaClient = new Redis(replica.port, replica.host, { maxRetriesPerRequest: 0 });
    try {
      while (!(await replicaClient.info('replication')).includes('master_link_status:up')) {
        if (Date.now() > deadline) throw new Error('the replica did not sync with the primary');
        await delay(50);
      }
    } finally {
      replicaClient.disconnect();
    }
    for (const s of sentinels) {
      const client = new Redis(s.port, s.host, { maxRetriesPerRequest: 0 });
      try {
        for (;;) {
          const peers = (await client.call('SENTINEL', 'sentinels', masterName)) as unknown[];
          const replicas = (await client.call('SENTINEL', 'replicas', masterName)) as string[][];
          const online = replicas.filter((r) => {
            const flags = r[r.indexOf('flags') + 1] ?? '';
            return !flags.includes('down') && !flags.includes('disconnected');
          });
          if (peers.length >= 2 && online.length >= 1) break;
          if (Date.now() > deadline) {
            throw new Error(`sentinel ${s.port}: knows ${peers.length} sentinels and ${online.length} replicas`);
          }
          await delay(100);
        }
      } finally {
        client.disconnect();
      }
    }

    // Promotions as the sentinels announce them (`+switch-master <name> <old ip> <old port> <new ip> <new port>`).
    const switches = new Redis(sentinels[0]!.port, sentinels[0]!.host);
    await switches.subscribe('+switch-master');
    const promotedTo = new Map<number, number>();
    const waiters = new Set<() => void>();
    switches.on('message', (_channel: string, message: string) => {
      const [name, , oldPort] = message.split(' ');
      if (name !== masterName) return;
      promotedTo.set(Number(oldPort), Date.now());
      for (const wake of waiters) wake();
    });

    return {
      url,
      masterName,
      primaryPort,
      async killPrimary() {
        const port = await primaryPort();
        const server = servers.find((s) => s.port === port);
        if (!server) throw new Error(`no server of this group on port ${port}`);
        await server.kill();
      },
      waitForPromotion(oldPort, timeoutMs = 20_000) {
        return new Promise<number>((resolve, reject) => {
          const check = () => {
            const at = promotedTo.get(oldPort);
            if (at === undefined) return;
            done();
            resolve(at);
          };
          const timer = setTimeout(() => {
            done();
            reject(new Error(`the sentinels promoted no replica of ${oldPort} within ${timeoutMs} ms`));
          }, timeoutMs);
          const done = () => {
            clearTimeout(timer);
            waiters.delete(check);
          };
          waiters.add(check);
          check();
        });
      },
      async stop() {
        switches.disconnect();
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
