#!/usr/bin/env node
// Image build step: scripts/setup.mjs's npm / worker / build / web steps, without its
// apt step (the Dockerfile installs the build dependencies itself, and not the
// test tools setup.mjs also wants: chromium, redis-server, tcpdump) and
// without the dev secret (an image never carries a secret).
// Dependency-free until `npm ci` has run, like setup.mjs.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Where the runtime stages find the worker (MEDIASOUP_WORKER_BIN in the Dockerfile); --worker-bin=<path> to rehearse outside an image. */
const WORKER_BIN =
  process.argv.find((a) => a.startsWith('--worker-bin='))?.slice('--worker-bin='.length) ??
  '/opt/matchmesh/mediasoup-worker';
const step = process.argv[2] ?? 'all';

function run(cmd, args, env = process.env) {
  const res = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env });
  if (res.status !== 0) {
    console.error(`[image] FAILED: ${cmd} ${args.join(' ')} (exit ${res.status ?? res.signal})`);
    process.exit(1);
  }
}

function npmDependencies() {
  // Same as setup.mjs: with MEDIASOUP_WORKER_BIN set, mediasoup's postinstall
  // neither downloads a prebuilt worker from GitHub nor runs its pip build.
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    ...process.env,
    MEDIASOUP_WORKER_BIN: WORKER_BIN,
  });
}

async function worker() {
  const mediasoupDir = path.join(root, 'node_modules', 'mediasoup');
  const { ensureWorker } = await import('../../packages/sfu/worker-build/build-worker.mjs');
  // Builds against Debian's libraries and smoke-checks the binary (two
  // workers, SRTP pipe) before returning it.
  const built = await ensureWorker({ mediasoupDir, log: (m) => console.log(m) });
  // The Node library's side of the worker's patches (WHEP players' header-extension ids), as setup.mjs does.
  const { patchMediasoupNodeLib } = await import('../../packages/sfu/worker-build/node-lib.mjs');
  for (const line of patchMediasoupNodeLib({ mediasoupDir })) console.log(`[image] mediasoup node lib: ${line}`);
  mkdirSync(path.dirname(WORKER_BIN), { recursive: true });
  copyFileSync(built, WORKER_BIN);
  chmodSync(WORKER_BIN, 0o755);
  // Also where mediasoup looks by default (setup.mjs links it the same way),
  // pointing at the copy that the runtime stages carry, not at the build cache.
  const target = path.join(mediasoupDir, 'worker', 'out', 'Release', 'mediasoup-worker');
  mkdirSync(path.dirname(target), { recursive: true });
  try {
    lstatSync(target);
    rmSync(target);
  } catch {}
  symlinkSync(WORKER_BIN, target);
  console.log(`[image] worker ${WORKER_BIN} (from ${built})`);
}

/** The shipped programs' TypeScript to dist/*.js (and the workspaces they import), with the repo's tsc. */
function compile() {
  run(process.execPath, [
    path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-b',
    'apps/node',
    'apps/origin',
    'apps/cli',
    'infra',
  ]);
}

function webApp() {
  run('npm', ['run', 'build', '-w', '@matchmesh/web', '--silent']);
}

/** Last: drop devDependencies (typescript, tsx, vite, vitest …): the runtime stages run dist/*.js with plain node. */
function prune() {
  run('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error']);
}

const version = JSON.parse(readFileSync(path.join(root, 'packages/sfu/package.json'), 'utf8')).dependencies.mediasoup;
console.log(`[image] step ${step}, mediasoup ${version}`);
if (step === 'deps' || step === 'all') npmDependencies();
if (step === 'worker' || step === 'all') await worker();
if (step === 'build' || step === 'all') compile();
if (step === 'web' || step === 'all') webApp();
if (step === 'prune' || step === 'all') prune();
