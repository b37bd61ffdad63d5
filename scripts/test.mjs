#!/usr/bin/env node
// `npm test` after set-up: typecheck every workspace, then the whole vitest
// suite (unit, then end-to-end with real redis-server, mediasoup workers,
// ffmpeg and Chromium). Extra arguments go to vitest.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
for (const line of readFileSync(path.join(root, '.matchmesh', 'env'), 'utf8').split('\n')) {
  const [k, ...v] = line.split('=');
  if (k && v.length > 0) env[k] = v.join('=');
}

function run(label, cmd, args) {
  const t = Date.now();
  console.log(`[test] ${label}`);
  const res = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env });
  console.log(`[test] ${label}: ${res.status === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  if (res.status !== 0) process.exit(res.status ?? 1);
}

const extra = process.argv.slice(2);
if (extra.length === 0) {
  run('typecheck (tsc -b)', 'node', [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
  // Layering (.dependency-cruiser.cjs): which package may import which.
  run('layering', 'node', [
    path.join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs'),
    ...['packages', 'apps', '--config', '.dependency-cruiser.cjs'],
  ]);
  // Unit tests first, then end-to-end alone: in one vitest run the two projects run side by side, and the
  // unit tests' real mediasoup workers then load the 2 cores under the e2e tests' freeze and latency bounds.
  run('vitest (unit)', 'npx', ['vitest', 'run', '--project', 'unit']);
  // One e2e file at a time (the project's fileParallelism setting is not honoured inside `projects`).
  run('vitest (e2e)', 'npx', ['vitest', 'run', '--project', 'e2e', '--no-file-parallelism']);
} else {
  run('vitest', 'npx', ['vitest', 'run', ...extra]);
}
