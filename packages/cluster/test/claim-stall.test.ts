import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StreamDirectory } from '../src/directory.ts';
import { PeerLiveness } from '../src/liveness.ts';
import { NodeRegistry } from '../src/registry.ts';
import { type RedisServer, startRedisServer } from '../src/testing/index.ts';
import { uniqueCluster } from './helpers.ts';

/*
 * "One copy per region" when the region's holder stalls. The holder runs in a
 * child process that the test freezes with SIGSTOP. The test plays the other
 * relay of the region, with the rule packages/mesh's RegionCopies.take
 * applies: take over (forget the holder, claim the region) only when
 * PeerLiveness says the holder is dead, and otherwise keep asking for the
 * claim, as a joining relay would.
 */

const HEARTBEAT_MS = 100; // record TTL 300 ms: the registry's "death timeout"
const TTL_MS = 2_000; // region lease, and the liveness grace

type Msg = { type: string; at?: number; token?: number; winner?: string; won?: boolean; retaken?: boolean };

let redis: RedisServer;
const children: ChildProcess[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
});
afterAll(async () => {
  await redis.stop();
});

async function startHolder(cluster: string, id: string) {
  const child = fork(path.join(import.meta.dirname, 'fixtures/lease-holder.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      CLUSTER: cluster,
      NODE_ID: id,
      TTL_MS: String(TTL_MS),
      HEARTBEAT_MS: String(HEARTBEAT_MS),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  // Before the child claims: its first lease runs until at least this + TTL.
  const forkedAt = Date.now();
  const messages: Msg[] = [];
  child.on('message', (m) => messages.push(m as Msg));
  const [first] = (await once(child, 'message')) as [Msg];
  expect(first).toMatchObject({ type: 'claimed', won: true });
  return { child, messages, token: first.token!, forkedAt };
}

/** The other relay of the region: one round of RegionCopies.take's take-over rule; returns the holder it sees. */
async function contend(directory: StreamDirectory, liveness: PeerLiveness, holder: string, me: string) {
  if (await liveness.isDead(holder)) await directory.forgetNode(holder);
  return (await directory.claimRegionCopy('match', 'eu', me, TTL_MS)).winner;
}

/**
 * SIGSTOP the holder just after one of its renewals is answered, so the freeze
 * lands between renewals. Frozen at a random point, it could stop after taking
 * a renewal's timestamp but before sending it; it would then send that renewal
 * on waking, stamped before the freeze, and the test could not tell "the first
 * renewal after waking" from one made before it.
 */
async function freezeBetweenRenewals(holder: { child: ChildProcess }): Promise<number> {
  await new Promise<void>((resolve) => {
    const onMessage = (m: Msg) => {
      if (m.type !== 'renewed') return;
      holder.child.off('message', onMessage);
      resolve();
    };
    holder.child.on('message', onMessage);
  });
  holder.child.kill('SIGSTOP');
  return Date.now();
}

async function observe(ms: number, fn: () => Promise<void>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await fn();
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('region lease under a stalled holder', () => {
  it('a holder frozen past its death timeout but within its lease keeps the region: nobody else pulls a copy', async () => {
    const cluster = uniqueCluster('stall');
    const directory = new StreamDirectory({ redis: redis.url, cluster });
    const registry = new NodeRegistry({ redis: redis.url, cluster });
    const liveness = new PeerLiveness({ redis: redis.url, cluster, graceMs: TTL_MS });
    try {
      const a = await startHolder(cluster, 'eu-1');
      const stoppedAt = await freezeBetweenRenewals(a);
      let recordLapsed = false;
      const seen = new Set<string>();
      // 1.2 s frozen: four times the registry TTL, well inside the 2 s lease.
      await observe(1_200, async () => {
        if (!(await registry.list()).some((n) => n.id === 'eu-1')) recordLapsed = true;
        seen.add(await contend(directory, liveness, 'eu-1', 'eu-2'));
      });
      // Stamped before the signal: the woken child may run (and stamp its first renewal) before
      // this process reads the clock again, on another core, within the same millisecond or the next.
      const resumedAt = Date.now();
      a.child.kill('SIGCONT');
      // The old rule ("missing from the registry = dead") would have handed eu-2 the region here.
      expect(recordLapsed).toBe(true);
      expect([...seen]).toEqual(['eu-1']);
      console.log(`stalled holder: frozen ${resumedAt - stoppedAt} ms, record lapsed, lease kept`);
      // Awake, it renews the same lease (same fencing token), and the region is still its.
      await expect
        .poll(() => a.messages.some((m) => m.type === 'renewed' && m.at! >= resumedAt), { timeout: 10_000 })
        .toBe(true);
      const after = a.messages.filter((m) => m.at !== undefined && m.at >= resumedAt);
      expect(after.every((m) => m.type === 'renewed' && m.token === a.token && !m.retaken)).toBe(true);
      expect(await directory.getRegionHolder('match', 'eu')).toBe('eu-1');
      expect(await liveness.isDead('eu-1')).toBe(false);
    } finally {
      await Promise.all([directory.close(), registry.close(), liveness.close()]);
    }
  });

  it('a holder frozen past the grace is replaced, and on waking finds the new holder and steps down', async () => {
    const cluster = uniqueCluster('stall');
    const directory = new StreamDirectory({ redis: redis.url, cluster });
    const liveness = new PeerLiveness({ redis: redis.url, cluster, graceMs: TTL_MS });
    try {
      const a = await startHolder(cluster, 'eu-1');
      const stoppedAt = await freezeBetweenRenewals(a);
      const holders: [number, string][] = [];
      await observe(3_000, async () => {
        // Stamped once the claim has answered: the claim ran at Redis somewhere within the probe, so the
        // probe's end is the time it may be compared with the lease's end. (Stamped at the probe's start, a
        // claim that went out 22 ms before the lease's end and ran after it failed the check at load 15.)
        const winner = await contend(directory, liveness, 'eu-1', 'eu-2');
        holders.push([Date.now() - stoppedAt, winner]);
      });
      // One holder at a time, the switch once, and not before the frozen holder's lease ran out:
      // its last renewal before the freeze (or its claim) + TTL. The lease runs from that renewal,
      // not from the freeze — the holder renews every TTL/3, so it may lapse up to TTL/3 after it.
      const switchAt = holders.find(([, h]) => h === 'eu-2')?.[0];
      expect(switchAt).toBeDefined();
      const renewals = a.messages.filter((m) => m.type === 'renewed' && m.at! < stoppedAt).map((m) => m.at!);
      const leaseFrom = Math.max(a.forkedAt, ...renewals);
      console.log(
        `frozen holder: replaced ${switchAt} ms into the freeze, ${stoppedAt + switchAt! - leaseFrom} ms after its last renewal (lease ${TTL_MS} ms)`,
      );
      expect(stoppedAt + switchAt!).toBeGreaterThanOrEqual(leaseFrom + TTL_MS);
      expect(holders.every(([t, h]) => h === (t < switchAt! ? 'eu-1' : 'eu-2'))).toBe(true);
      const newToken = (await directory.claimRegionCopy('match', 'eu', 'eu-2', TTL_MS)).claim.token;
      expect(newToken).toBeGreaterThan(a.token);

      // Stamped before the signal: the woken child may run (and stamp its first renewal) before
      // this process reads the clock again, on another core, within the same millisecond or the next.
      const resumedAt = Date.now();
      a.child.kill('SIGCONT');
      // Its first renewal after waking tells it eu-2 holds the region: it steps down, never renews again.
      // (The wait is for the behaviour, not a time bound: a woken process on a loaded machine may take
      // more than expect.poll's default second to run its overdue renewal and report over IPC.)
      await expect.poll(() => a.messages.some((m) => m.type === 'stepped-down'), { timeout: 10_000 }).toBe(true);
      const after = a.messages.filter((m) => m.at !== undefined && m.at >= resumedAt);
      expect(after[0]).toMatchObject({ type: 'stepped-down', winner: 'eu-2' });
      expect(after.filter((m) => m.type === 'renewed')).toEqual([]);
      expect(await directory.getRegionHolder('match', 'eu')).toBe('eu-2');
      console.log(`stalled holder: replaced ${switchAt} ms into a 3 s freeze, stepped down on waking`);
    } finally {
      await Promise.all([directory.close(), liveness.close()]);
    }
  });

  it('a holder that really dies is replaced as soon as its record lapses', async () => {
    const cluster = uniqueCluster('stall');
    const directory = new StreamDirectory({ redis: redis.url, cluster });
    const liveness = new PeerLiveness({ redis: redis.url, cluster, graceMs: TTL_MS });
    try {
      const a = await startHolder(cluster, 'eu-1');
      const killedAt = Date.now();
      a.child.kill('SIGKILL');
      let winner = 'eu-1';
      while (winner === 'eu-1' && Date.now() - killedAt < 5_000) {
        winner = await contend(directory, liveness, 'eu-1', 'eu-2');
        await new Promise((r) => setTimeout(r, 50));
      }
      const tookMs = Date.now() - killedAt;
      console.log(`dead holder: replaced ${tookMs} ms after SIGKILL`);
      expect(winner).toBe('eu-2');
      // The record TTL (3 heartbeats) plus a poll, far below the grace: a closed bus subscription is proof of death.
      expect(tookMs).toBeLessThan(TTL_MS);
    } finally {
      await Promise.all([directory.close(), liveness.close()]);
    }
  });
});
