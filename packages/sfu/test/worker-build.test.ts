import { existsSync } from 'node:fs';
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
