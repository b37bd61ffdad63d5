import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a dependency-free .mjs script without type declarations
import { ensureWorker, workerCachePath } from '../worker-build/build-worker.mjs';

/** The same package the set-up builds from (npm workspaces hoist it to the root). */
const mediasoupDir = path.resolve(import.meta.dirname, '../../../node_modules/mediasoup');

/**
 * The set-up builds the worker once per (mediasoup version, recipe) and then
 * reuses it. `npm test` has already run the set-up, so here the cache must
 * answer without a single build step.
 */
describe('worker build cache', () => {
  it('reuses the cached worker: no build step runs the second time', async () => {
    const lines: string[] = [];
    const bin: string = await ensureWorker({ mediasoupDir, log: (line: string) => lines.push(line) });
    expect(bin).toBe(workerCachePath({ mediasoupDir }));
    expect(existsSync(bin)).toBe(true);
    expect(process.env.MEDIASOUP_WORKER_BIN).toBe(bin);
    expect(lines).toEqual([]);
  });
});

/**
 * The recipe's patches to mediasoup's worker sources (recipe/patches/) must
 * apply to the mediasoup version installed, or the next worker build stops.
 * A dry run against the installed sources: fast, changes nothing.
 */
describe('worker build recipe patches', () => {
  const patchesDir = path.resolve(import.meta.dirname, '../worker-build/recipe/patches');
  const patches = readdirSync(patchesDir).filter((f) => f.endsWith('.patch'));

  it('ships the send-batching patch', () => {
    expect(patches).toContain('001-udp-send-batching.patch');
  });

  it.each(patches)('%s applies to the installed mediasoup worker sources', (name) => {
    const res = spawnSync(
      'patch',
      [
        '--dry-run',
        '-p1',
        '--batch',
        '--forward',
        '-d',
        path.join(mediasoupDir, 'worker'),
        '-i',
        path.join(patchesDir, name),
      ],
      { encoding: 'utf8' },
    );
    expect(res.stdout + res.stderr).not.toMatch(/FAILED|malformed|Reversed|can't find file/);
    expect(res.status).toBe(0);
  });
});
