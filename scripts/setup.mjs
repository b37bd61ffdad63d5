#!/usr/bin/env node
// Set-up that `npm start`, `npm test` and `npm run bench` run first.
// Dependency-free (node: builtins only) because it runs before node_modules
// exists. Idempotent, and fast when nothing changed: every step checks a
// cheap stamp before doing work.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, unlinkSync, writeFileSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCacheRoot, recipeHash } from '../packages/sfu/worker-build/build-worker.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
const log = (msg) => console.log(`[setup] ${msg}`);

/** Debian packages the project needs: worker build deps, its runtime libs, and the test/run tools. */
const DEBIAN_PACKAGES = [
  'build-essential', 'meson', 'ninja-build', 'pkg-config',
  'libuv1-dev', 'libssl-dev', 'libsrtp2-dev', 'libflatbuffers-dev', 'flatbuffers-compiler', 'libabsl-dev',
  'redis-server', 'ffmpeg', 'chromium', 'stress-ng',
  // bench: counts the bytes leaving the ingest's pipe ports (inter-region copies scenario).
  'tcpdump',
  // bench: `--perf` profiles the fan-out relay worker (perf record/script).
  'linux-perf',
  // e2e: a real Prometheus scrapes a running node and answers PromQL (test/e2e/prometheus.test.ts).
  'prometheus',
  // e2e: Redis made highly available — three sentinels promote a replica (test/e2e/redis-sentinel.test.ts).
  'redis-sentinel',
  // The origin agent's encoder (x264enc from ugly, rawvideoparse from base, rtph264pay/udpsink from good, driven
  // from python3: apps/origin/encoder/gst-encoder.py), and the e2e GStreamer WHIP publisher — webrtcbin (bad), opusenc
  // and the test sources (base), ICE (nice) (test/publishers/gst-whip.py, test/e2e/publishers.test.ts).
  'gstreamer1.0-plugins-base', 'gstreamer1.0-plugins-good', 'gstreamer1.0-plugins-bad', 'gstreamer1.0-plugins-ugly',
  'gstreamer1.0-nice', 'python3-gst-1.0', 'gir1.2-gst-plugins-bad-1.0',
  // the node: one commentary mix per language (gst-launch-1.0 with audiomixer, opus and rtp from base/good).
  'gstreamer1.0-tools',
];

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (res.status !== 0) {
    console.error(`[setup] FAILED: ${cmd} ${args.join(' ')} (exit ${res.status ?? res.signal})`);
    process.exit(1);
  }
}

function step(name, fn) {
  const t = Date.now();
  const result = fn();
  const finish = (r) => {
    const ms = Date.now() - t;
    if (ms > 500) log(`${name}: ${(ms / 1000).toFixed(1)} s`);
    return r;
  };
  return result instanceof Promise ? result.then(finish) : finish(result);
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    console.error(`[setup] Node ${process.versions.node} is too old: matchmesh needs Node >= 20.19`);
    process.exit(1);
  }
}

function debianPackages() {
  const query = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...DEBIAN_PACKAGES], { encoding: 'utf8' });
  const installed = new Set(
    (query.stdout ?? '').split('\n').filter((l) => l.endsWith(' installed')).map((l) => l.split(' ')[0]),
  );
  const missing = DEBIAN_PACKAGES.filter((p) => !installed.has(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(`[setup] missing Debian packages: ${missing.join(' ')}\n[setup] run as root, or: sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], { env });
  run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env });
}

function devSecret() {
  const dir = path.join(root, '.matchmesh');
  const file = path.join(dir, 'secret');
  if (existsSync(file)) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  log(`generated a development token secret in ${path.relative(root, file)} (git-ignored)`);
}

function hashFiles(files) {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(f);
    h.update(existsSync(f) ? readFileSync(f) : '');
  }
  return h.digest('hex').slice(0, 16);
}

function workspaceManifests() {
  const lock = path.join(root, 'package-lock.json');
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  return [lock, path.join(root, 'package.json'), ...pkg.workspaces.map((w) => path.join(root, w, 'package.json'))];
}

function npmDependencies(workerBin) {
  const stampFile = path.join(root, 'node_modules', '.matchmesh-install');
  const stamp = hashFiles(workspaceManifests());
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  log('installing npm dependencies (npm ci)');
  // MEDIASOUP_WORKER_BIN in the install's environment makes mediasoup's
  // postinstall skip its GitHub download and its pip/invoke build.
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { env: { ...process.env, MEDIASOUP_WORKER_BIN: workerBin } });
  writeFileSync(stampFile, stamp);
}

async function mediasoupWorker() {
  const mediasoupDir = path.join(root, 'node_modules', 'mediasoup');
  const { ensureWorker } = await import('../packages/sfu/worker-build/build-worker.mjs');
  const bin = await ensureWorker({ mediasoupDir, log: (m) => console.log(m) });
  // The Node library's side of the worker's patches (WHEP players' header-extension ids).
  const { patchMediasoupNodeLib } = await import('../packages/sfu/worker-build/node-lib.mjs');
  for (const line of patchMediasoupNodeLib({ mediasoupDir })) log(`mediasoup node lib: ${line}`);
  // Also place it where mediasoup looks by default, so any process finds
  // the worker even when MEDIASOUP_WORKER_BIN is not in its environment.
  const target = path.join(mediasoupDir, 'worker', 'out', 'Release', 'mediasoup-worker');
  mkdirSync(path.dirname(target), { recursive: true });
  let current;
  try {
    current = lstatSync(target).isSymbolicLink() ? readlinkSync(target) : target;
  } catch {
    current = undefined;
  }
  if (current !== bin) {
    if (current) unlinkSync(target);
    symlinkSync(bin, target);
  }
  return bin;
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.endsWith('.tsbuildinfo')) continue;
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Every process runs compiled JavaScript: `tsc -b` compiles each workspace's src/ to its
 * dist/ (and checks the tests) through the root tsconfig.json's project references,
 * incrementally, so it is quick when nothing changed. A type error does not stop the
 * set-up (tsc still emits, so `npm start` runs); `npm test` fails on it.
 */
function build() {
  const t = Date.now();
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const res = spawnSync(process.execPath, [tsc, '-b'], { stdio: 'inherit', cwd: root });
  if (res.error || res.signal) {
    console.error(`[setup] FAILED: tsc -b (${res.error ?? res.signal})`);
    process.exit(1);
  }
  const s = ((Date.now() - t) / 1000).toFixed(1);
  log(`build (tsc -b): ${res.status === 0 ? '' : 'type errors above (JavaScript emitted anyway), '}${s} s`);
}

function webApp() {
  const dist = path.join(root, 'apps', 'web', 'dist', 'index.html');
  const sources = ['apps/web', 'packages/client', 'packages/protocol'].map((d) => newestMtime(path.join(root, d)));
  if (existsSync(dist) && statSync(dist).mtimeMs >= Math.max(...sources)) return;
  log('building the web app (vite)');
  run('npm', ['run', 'build', '-w', '@matchmesh/web', '--silent']);
}

checkNode();
step('debian packages', debianPackages);
step('dev secret', devSecret);
const mediasoupVersion = JSON.parse(readFileSync(path.join(root, 'packages/sfu/package.json'), 'utf8')).dependencies.mediasoup;
// Known before mediasoup is installed: the cache key is version + recipe hash.
const expectedBin = path.join(defaultCacheRoot(), `mediasoup-worker-${mediasoupVersion}-${recipeHash()}`, 'mediasoup-worker');
step('npm dependencies', () => npmDependencies(expectedBin));
const workerBin = await step('mediasoup worker', mediasoupWorker);
build();
step('web app', webApp);
writeFileSync(path.join(root, '.matchmesh', 'env'), `MEDIASOUP_WORKER_BIN=${workerBin}\n`);
log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s (worker: ${workerBin})`);
