// Builds mediasoup's C++ worker (`mediasoup-worker`) from the sources shipped
// inside the mediasoup npm package, against Debian's system libraries, and
// caches the binary per (mediasoup version, recipe hash).
//
// Dependency-free: only node: builtins. See README.md next to this file.
//
//   import { ensureWorker } from './build-worker.mjs';
//   const bin = await ensureWorker({ mediasoupDir: 'node_modules/mediasoup' });
//   // then run mediasoup with MEDIASOUP_WORKER_BIN=bin (or workerBin: bin)

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF_PATH = fileURLToPath(import.meta.url);
const HERE = path.dirname(SELF_PATH);
const RECIPE_DIR = path.join(HERE, 'recipe');
const PATCHES_DIR = path.join(RECIPE_DIR, 'patches');
const SMOKE_SCRIPT = path.join(HERE, 'smoke-check.cjs');
// Required by the smoke check: recipe patch 003's retransmission age bound.
const SMOKE_RTX_AGE = path.join(HERE, 'smoke-rtx-age.cjs');
const BIN_NAME = 'mediasoup-worker';

// Wraps in worker/subprojects/ that a Linux `mediasoup-worker` build never
// configures (they stay untouched and are never downloaded).
const UNUSED_WRAPS = new Map([
  ['wingetopt', 'Windows only'],
  ['catch2', 'worker unit tests only'],
]);

// mediasoup demands a newer meson than Debian bookworm's 1.0.1; 1.1.0 is known
// to be relaxable (no 1.1-only feature is used by the worker build).
const MESON_RELAX = { known: '1.1.0', relaxTo: '1.0.0' };

// Tools and pkg-config modules needed, with the Debian package providing them.
const REQUIRED_TOOLS = [
  ['meson', 'meson'],
  ['ninja', 'ninja-build'],
  ['pkg-config', 'pkg-config'],
  ['flatc', 'flatbuffers-compiler'],
  ['cc', 'build-essential'],
  ['c++', 'build-essential'],
  ['ar', 'build-essential (binutils)'],
  ['patch', 'patch'],
];
const REQUIRED_PKG_CONFIG = [
  ['libuv', 'libuv1-dev'],
  ['libssl', 'libssl-dev'],
  ['libcrypto', 'libssl-dev'],
  ['libsrtp2', 'libsrtp2-dev'],
  ['flatbuffers', 'libflatbuffers-dev'],
  ['absl_flat_hash_map', 'libabsl-dev'],
  ['absl_strings', 'libabsl-dev'],
];

const LOG_TAIL_LINES = 40;
const PROGRESS_EVERY_MS = 10_000;
const SMOKE_TIMEOUT_MS = 60_000;

export function defaultCacheRoot() {
  return path.join(os.homedir(), '.cache', 'matchmesh');
}

/* ------------------------------------------------------------------------ */
/* Pure helpers                                                              */
/* ------------------------------------------------------------------------ */

function listFilesRecursive(dir, base = dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFilesRecursive(full, base));
    else if (entry.isFile()) out.push(path.relative(base, full).split(path.sep).join('/'));
  }
  return out;
}

/**
 * Short sha256 over every file in recipe/ plus this module and the smoke
 * check (sorted relative paths + contents). Any change invalidates the cache.
 */
export function recipeHash() {
  const hash = createHash('sha256');
  const files = listFilesRecursive(RECIPE_DIR)
    .map((rel) => ({ rel: `recipe/${rel}`, abs: path.join(RECIPE_DIR, ...rel.split('/')) }))
    .concat([SELF_PATH, SMOKE_SCRIPT, SMOKE_RTX_AGE].map((abs) => ({ rel: path.basename(abs), abs })))
    .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  for (const { rel, abs } of files) {
    hash.update(rel);
    hash.update('\0');
    hash.update(fs.readFileSync(abs));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 12);
}

function readMediasoupVersion(mediasoupDir) {
  const pkgPath = path.join(mediasoupDir, 'package.json');
  let pkg;
  try {
    pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
  } catch (error) {
    throw new Error(`[worker] cannot read ${pkgPath} (is mediasoupDir a mediasoup package?): ${error.message}`);
  }
  if (pkg.name !== 'mediasoup' || typeof pkg.version !== 'string' || !/^[0-9A-Za-z.+-]+$/.test(pkg.version)) {
    throw new Error(`[worker] ${pkgPath} is not a mediasoup package.json (name=${pkg.name}, version=${pkg.version})`);
  }
  return pkg.version;
}

function cacheKey({ mediasoupDir }) {
  return `${BIN_NAME}-${readMediasoupVersion(path.resolve(mediasoupDir))}-${recipeHash()}`;
}

/** Absolute path where the binary for this mediasoup version + recipe lives. No building. */
export function workerCachePath({ mediasoupDir, cacheRoot = defaultCacheRoot() } = {}) {
  if (!mediasoupDir) throw new TypeError('workerCachePath: mediasoupDir is required');
  return path.join(path.resolve(cacheRoot), cacheKey({ mediasoupDir }), BIN_NAME);
}

function isExecutableFile(p) {
  try {
    const st = fs.statSync(p);
    if (!st.isFile() || st.size === 0) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function shellQuote(arg) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${String(arg).replace(/'/g, `'\\''`)}'`;
}

function formatCommand(cmd, args, cwd) {
  return `${cwd ? `(cd ${shellQuote(cwd)} && ` : ''}${[cmd, ...args].map(shellQuote).join(' ')}${cwd ? ')' : ''}`;
}

function compareVersions(a, b) {
  const pa = a.split('.').map((n) => parseInt(n, 10) || 0);
  const pb = b.split('.').map((n) => parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function formatDuration(ms) {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function pidAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/* ------------------------------------------------------------------------ */
/* Pre-flight checks                                                         */
/* ------------------------------------------------------------------------ */

function recipeStandInDirs() {
  const dir = path.join(RECIPE_DIR, 'subprojects');
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/**
 * The recipe only knows stand-ins for specific wrap `directory` names. If the
 * mediasoup version pins different ones, refuse (never try a download).
 */
function verifyWraps(workerDir, version) {
  const subDir = path.join(workerDir, 'subprojects');
  const wrapFiles = fs
    .readdirSync(subDir)
    .filter((f) => f.endsWith('.wrap'))
    .sort();
  const needed = new Map(); // directory -> wrap file
  for (const file of wrapFiles) {
    const name = file.slice(0, -'.wrap'.length);
    if (UNUSED_WRAPS.has(name)) continue;
    const text = fs.readFileSync(path.join(subDir, file), 'utf8');
    const m = /^\s*directory\s*=\s*(\S+)\s*$/m.exec(text);
    if (!m) {
      throw new Error(
        `[worker] worker/subprojects/${file} of mediasoup ${version} has no "directory =" line; ` +
          `the matchmesh worker-build recipe must be updated for this mediasoup version.`,
      );
    }
    needed.set(m[1], file);
  }
  const have = new Set(recipeStandInDirs());
  const missing = [...needed].filter(([dir]) => !have.has(dir)).map(([dir, file]) => `${file} -> ${dir}`);
  const stale = [...have].filter((dir) => !needed.has(dir));
  if (missing.length || stale.length) {
    throw new Error(
      `[worker] mediasoup ${version} pins subprojects the matchmesh recipe does not know.\n` +
        (missing.length ? `  wraps without a stand-in in recipe/subprojects/: ${missing.join(', ')}\n` : '') +
        (stale.length ? `  recipe stand-ins no wrap asks for: ${stale.join(', ')}\n` : '') +
        `  The recipe (packages/sfu/worker-build/recipe/) must be updated for this mediasoup version ` +
        `(rename/adapt the stand-in directories and re-check worker/meson.build); nothing is downloaded.`,
    );
  }
}

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    if (isExecutableFile(p)) return p;
  }
  return null;
}

function checkPrerequisites() {
  const problems = [];
  const packages = new Set();
  for (const [tool, pkg] of REQUIRED_TOOLS) {
    if (!which(tool)) {
      problems.push(`program "${tool}" not found (Debian package: ${pkg})`);
      packages.add(pkg.split(' ')[0]);
    }
  }
  if (which('pkg-config')) {
    for (const [mod, pkg] of REQUIRED_PKG_CONFIG) {
      const r = spawnSync('pkg-config', ['--exists', mod], { stdio: 'ignore' });
      if (r.status !== 0) {
        problems.push(`pkg-config module "${mod}" not found (Debian package: ${pkg})`);
        packages.add(pkg);
      }
    }
  }
  if (problems.length) {
    throw new Error(
      `[worker] cannot build mediasoup-worker, missing prerequisites:\n  - ${problems.join('\n  - ')}\n` +
        `  Install with: apt-get install -y ${[...packages].join(' ')}`,
    );
  }
  const mesonVersion = spawnSync('meson', ['--version'], { encoding: 'utf8' }).stdout?.trim() || '0';
  return { mesonVersion };
}

/* ------------------------------------------------------------------------ */
/* Source preparation                                                        */
/* ------------------------------------------------------------------------ */

function patchMesonVersion(workerDir, mesonVersion, originalPath) {
  const file = path.join(workerDir, 'meson.build');
  const text = fs.readFileSync(file, 'utf8');
  const re = /^(\s*meson_version\s*:\s*)'>=\s*([0-9][0-9.]*)'(\s*,?\s*)$/m;
  const m = re.exec(text);
  if (!m) {
    throw new Error(
      `[worker] could not find the "meson_version: '>= X'" line in ${originalPath ?? file}; ` +
        `the matchmesh worker-build recipe must be updated for this mediasoup version.`,
    );
  }
  const required = m[2];
  if (compareVersions(mesonVersion, required) >= 0)
    return `meson ${mesonVersion} satisfies '>= ${required}', not patched`;
  if (required !== MESON_RELAX.known) {
    throw new Error(
      `[worker] mediasoup now requires meson >= ${required} (installed: ${mesonVersion}); the recipe only knows ` +
        `that '>= ${MESON_RELAX.known}' can be relaxed. Update the recipe (or install a newer meson).`,
    );
  }
  fs.writeFileSync(file, text.replace(re, `$1'>= ${MESON_RELAX.relaxTo}'$3`));
  return `relaxed meson_version '>= ${required}' -> '>= ${MESON_RELAX.relaxTo}'`;
}

/**
 * mediasoup's DTLS BIO callback answers every "after" notification except
 * plain writes with 1 instead of the operation's own result
 * (`operationType == BIO_CB_RETURN` compares against a flag that is always
 * OR-ed with the operation). With the OpenSSL mediasoup bundles (built
 * without kTLS) nothing asks; Debian's OpenSSL is built with kTLS and asks
 * the BIO `BIO_get_ktls_send()` while allocating the DTLS write buffer,
 * gets 1, skips the allocation, and the worker crashes writing the
 * ServerHello. Testing the flag with `&` returns the real result.
 */
const DTLS_BIO_FIX = {
  file: 'src/RTC/DtlsTransport.cpp',
  from: '(operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1',
  to: '((operationType & BIO_CB_RETURN) != 0) ? static_cast<long>(ret) : 1',
};

function patchDtlsBioCallback(workerDir) {
  const file = path.join(workerDir, DTLS_BIO_FIX.file);
  const text = fs.readFileSync(file, 'utf8');
  if (text.includes(DTLS_BIO_FIX.to)) return 'DTLS BIO callback already returns real results';
  if (!text.includes(DTLS_BIO_FIX.from)) {
    throw new Error(
      `[worker] could not find the DTLS BIO callback return expression in ${DTLS_BIO_FIX.file}; ` +
        'the matchmesh worker-build recipe must be updated for this mediasoup version.',
    );
  }
  fs.writeFileSync(file, text.replace(DTLS_BIO_FIX.from, DTLS_BIO_FIX.to));
  return 'patched the DTLS BIO callback to return real results (kTLS-enabled OpenSSL)';
}

function prepareSources(mediasoupDir, srcDir) {
  const from = path.join(mediasoupDir, 'worker');
  // Skip any build output a package might carry.
  const skip = new Set(['out', 'prebuild', 'node_modules', '.cache']);
  fs.cpSync(from, srcDir, {
    recursive: true,
    filter: (src) => {
      const rel = path.relative(from, src);
      return !(rel && !rel.includes(path.sep) && skip.has(rel));
    },
  });
  // Overlay the recipe; a stand-in dir replaces anything of the same name.
  for (const dir of recipeStandInDirs()) {
    fs.rmSync(path.join(srcDir, 'subprojects', dir), { recursive: true, force: true });
  }
  fs.cpSync(RECIPE_DIR, srcDir, { recursive: true, filter: (src) => path.resolve(src) !== PATCHES_DIR });
}

/**
 * Applies recipe/patches/*.patch (unified diffs against worker/, `patch -p1`)
 * in name order. A dry run first, so a patch that no longer applies fails the
 * build clearly and never leaves half-patched sources.
 */
async function applyPatches(srcDir, logFile, log) {
  const names = fs.existsSync(PATCHES_DIR)
    ? fs
        .readdirSync(PATCHES_DIR)
        .filter((f) => f.endsWith('.patch'))
        .sort()
    : [];
  for (const name of names) {
    const file = path.join(PATCHES_DIR, name);
    const args = ['-p1', '--batch', '--forward', '--no-backup-if-mismatch', '-r', '-', '-d', srcDir, '-i', file];
    try {
      await runStep({ name: `patch ${name} (dry run)`, cmd: 'patch', args: ['--dry-run', ...args], logFile, log });
    } catch (error) {
      throw new Error(
        `[worker] recipe/patches/${name} does not apply to this mediasoup's worker sources; ` +
          `the matchmesh worker-build recipe must be updated for this mediasoup version (${error.message})`,
      );
    }
    await runStep({ name: `patch ${name}`, cmd: 'patch', args, logFile, log });
  }
  return names;
}

/* ------------------------------------------------------------------------ */
/* Step runner                                                               */
/* ------------------------------------------------------------------------ */

function runStep({ name, cmd, args, cwd, env, logFile, log, onLine, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const out = fs.createWriteStream(logFile, { flags: 'a' });
    out.write(`$ ${formatCommand(cmd, args, cwd)}\n`);
    const tail = [];
    const pushLine = (line) => {
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      onLine?.(line);
    };
    let child;
    try {
      child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      out.end();
      reject(error);
      return;
    }
    let timer = null;
    let timedOut = false;
    if (timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
    }
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream.on('data', (chunk) => {
        out.write(chunk);
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop();
        for (const line of lines) pushLine(line.replace(/\r$/, ''));
      });
      stream.on('end', () => {
        if (partial) pushLine(partial);
        partial = '';
      });
    }
    let settled = false;
    const fail = (why) => {
      if (settled) return;
      settled = true;
      log(`[worker] step "${name}" FAILED: ${why}`);
      log(`[worker] command: ${formatCommand(cmd, args, cwd)}`);
      log(`[worker] last ${tail.length} lines of its output (full log: ${logFile}):`);
      for (const line of tail) log(`  | ${line}`);
      const error = new Error(`[worker] mediasoup-worker build failed at step "${name}" (${why}); log: ${logFile}`);
      error.step = name;
      error.logFile = logFile;
      error.outputTail = tail.slice();
      reject(error);
    };
    child.on('error', (error) => {
      clearTimeout(timer);
      out.end();
      fail(`could not start: ${error.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      out.end(() => {
        if (timedOut) fail(`timed out after ${formatDuration(timeoutMs)}`);
        else if (code === 0) {
          settled = true;
          resolve(tail);
        } else fail(signal ? `killed by ${signal}` : `exit code ${code}`);
      });
    });
  });
}

/* ------------------------------------------------------------------------ */
/* Smoke check                                                               */
/* ------------------------------------------------------------------------ */

/**
 * Runs smoke-check.cjs twice: batched sends (default) and MEDIASOUP_SEND_BATCH=0 (mediasoup's per-packet path).
 * The second run also bounds pipe retransmissions' age (patch 003, MATCHMESH_PIPE_RTX_MAX_AGE_MS=300): an old
 * packet must then not be retransmitted; the first run, without the bound, must retransmit it (mediasoup's behaviour).
 */
async function smokeCheck({ mediasoupDir, binPath, logFile, log }) {
  const entry = path.join(mediasoupDir, 'node', 'lib', 'index.js');
  if (!fs.existsSync(entry)) throw new Error(`[worker] smoke check: ${entry} not found`);
  const summaries = [];
  for (const batch of ['1', '0']) {
    const {
      MEDIASOUP_SEND_BATCH: _unset,
      MATCHMESH_PIPE_RTX_MAX_AGE_MS: _unsetAge,
      MATCHMESH_PIPE_RTX_MAX_AGE_RTT: _unsetRtt,
      ...env
    } = process.env;
    const name = `smoke check (${batch === '1' ? 'batched sends' : 'MEDIASOUP_SEND_BATCH=0, pipe rtx age bound'})`;
    const tail = await runStep({
      name,
      cmd: process.execPath,
      args: [SMOKE_SCRIPT],
      cwd: mediasoupDir,
      env: {
        ...env,
        ...(batch === '0' ? { MEDIASOUP_SEND_BATCH: '0', MATCHMESH_PIPE_RTX_MAX_AGE_MS: '300' } : {}),
        MATCHMESH_SMOKE_EXPECT_RTX_AGE_BOUND: batch === '0' ? '1' : '0',
        MEDIASOUP_WORKER_BIN: binPath,
        MATCHMESH_SMOKE_MEDIASOUP: entry,
        MATCHMESH_SMOKE_EXPECT_BATCH: batch,
      },
      logFile,
      log,
      timeoutMs: SMOKE_TIMEOUT_MS,
    });
    if (!tail.includes('SMOKE_OK')) {
      log(`[worker] ${name} did not print SMOKE_OK; its output:`);
      for (const line of tail) log(`  | ${line}`);
      throw new Error(`[worker] ${name} of the new mediasoup-worker failed; log: ${logFile}`);
    }
    summaries.push(tail.filter((l) => l.startsWith('{')).join('\n'));
  }
  return summaries.join('\n');
}

/* ------------------------------------------------------------------------ */
/* Locking + temp dirs                                                       */
/* ------------------------------------------------------------------------ */

function cleanStaleTemps(cacheRoot) {
  let entries = [];
  try {
    entries = fs.readdirSync(cacheRoot);
  } catch {
    return;
  }
  for (const name of entries) {
    const m = /^\.tmp-(\d+)-/.exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      fs.rmSync(path.join(cacheRoot, name), { recursive: true, force: true });
    } else if (name.startsWith('.lock-')) {
      // Lock files of killed builds (any version/recipe).
      let owner = NaN;
      try {
        owner = parseInt(fs.readFileSync(path.join(cacheRoot, name), 'utf8'), 10);
      } catch {}
      if (owner !== process.pid && !pidAlive(owner)) fs.rmSync(path.join(cacheRoot, name), { force: true });
    }
  }
}

async function acquireLock(lockPath, binPath, log) {
  let announced = false;
  for (;;) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx' });
      return true;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    if (isExecutableFile(binPath)) return false; // someone else finished
    const owner = parseInt(fs.readFileSync(lockPath, 'utf8'), 10);
    if (!pidAlive(owner) || owner === process.pid) {
      fs.rmSync(lockPath, { force: true });
      continue;
    }
    if (!announced) {
      log(`[worker] another process (pid ${owner}) is building this mediasoup-worker; waiting...`);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/* ------------------------------------------------------------------------ */
/* Main entry                                                                */
/* ------------------------------------------------------------------------ */

/**
 * Returns the absolute path of a cached mediasoup-worker binary for the
 * mediasoup package at `mediasoupDir`, building (and smoke-checking) it first
 * if needed. A cache hit costs a package.json read + hashing recipe/.
 */
export async function ensureWorker({ mediasoupDir, cacheRoot = defaultCacheRoot(), log = console.log, jobs } = {}) {
  if (!mediasoupDir) throw new TypeError('ensureWorker: mediasoupDir is required');
  mediasoupDir = path.resolve(mediasoupDir);
  cacheRoot = path.resolve(cacheRoot);
  const key = cacheKey({ mediasoupDir });
  const finalDir = path.join(cacheRoot, key);
  const binPath = path.join(finalDir, BIN_NAME);
  if (isExecutableFile(binPath)) return binPath;

  const version = readMediasoupVersion(mediasoupDir);
  const workerSrc = path.join(mediasoupDir, 'worker');
  if (!fs.existsSync(path.join(workerSrc, 'meson.build'))) {
    throw new Error(`[worker] ${workerSrc}/meson.build not found: the mediasoup package has no worker sources`);
  }
  verifyWraps(workerSrc, version);
  const { mesonVersion } = checkPrerequisites();

  fs.mkdirSync(cacheRoot, { recursive: true });
  const lockPath = path.join(cacheRoot, `.lock-${key}`);
  if (!(await acquireLock(lockPath, binPath, log))) return binPath;

  const started = Date.now();
  const tmpRoot = path.join(cacheRoot, `.tmp-${process.pid}-${key}-${randomBytes(3).toString('hex')}`);
  const srcDir = path.join(tmpRoot, 'worker');
  const buildDir = path.join(tmpRoot, 'build');
  const stageDir = path.join(tmpRoot, 'stage');
  const logDir = path.join(cacheRoot, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${key}.build.log`);
  fs.writeFileSync(logFile, `# mediasoup-worker build ${new Date().toISOString()} (pid ${process.pid})\n`);
  try {
    cleanStaleTemps(cacheRoot);
    if (isExecutableFile(binPath)) return binPath;

    log(
      `[worker] building mediasoup-worker ${version} (recipe ${key.slice(key.lastIndexOf('-') + 1)}) from ${workerSrc}`,
    );
    log(`[worker] build dir: ${tmpRoot}; log: ${logFile}`);
    fs.mkdirSync(tmpRoot, { recursive: true });
    prepareSources(mediasoupDir, srcDir);
    log(
      `[worker] sources copied, recipe overlaid; ${patchMesonVersion(srcDir, mesonVersion, path.join(workerSrc, 'meson.build'))}`,
    );
    log(`[worker] ${patchDtlsBioCallback(srcDir)}`);
    const patches = await applyPatches(srcDir, logFile, log);
    if (patches.length) log(`[worker] applied recipe/patches: ${patches.join(', ')}`);

    log('[worker] meson setup ...');
    await runStep({
      name: 'meson setup',
      cmd: 'meson',
      args: [
        'setup',
        '--wrap-mode=nodownload',
        '-Dbuildtype=release',
        '-Db_ndebug=true',
        '-Db_colorout=never',
        buildDir,
      ],
      cwd: srcDir,
      logFile,
      log,
    });

    const nJobs = Math.max(1, jobs ?? os.availableParallelism?.() ?? os.cpus().length);
    log(`[worker] compiling with ${nJobs} job(s) (this takes ~${Math.ceil(8 / nJobs)} min the first time)...`);
    let lastProgress = Date.now();
    await runStep({
      name: 'ninja (compile mediasoup-worker)',
      cmd: 'ninja',
      args: ['-C', buildDir, '-j', String(nJobs), BIN_NAME],
      cwd: srcDir,
      logFile,
      log,
      onLine: (line) => {
        const m = /^\[(\d+)\/(\d+)\]/.exec(line);
        if (!m || Date.now() - lastProgress < PROGRESS_EVERY_MS) return;
        lastProgress = Date.now();
        const [done, total] = [Number(m[1]), Number(m[2])];
        log(
          `[worker] compiling: ${Math.floor((100 * done) / total)}% (${done}/${total}, ${formatDuration(Date.now() - started)})`,
        );
      },
    });
    const built = path.join(buildDir, BIN_NAME);
    if (!isExecutableFile(built)) throw new Error(`[worker] ninja succeeded but ${built} is missing`);

    fs.mkdirSync(stageDir, { recursive: true });
    const stagedBin = path.join(stageDir, BIN_NAME);
    fs.copyFileSync(built, stagedBin);
    fs.chmodSync(stagedBin, 0o755);

    log('[worker] smoke check (Worker, Router, WebRtcTransport, SRTP PipeTransport, fan-out batched + per-packet) ...');
    const summary = await smokeCheck({ mediasoupDir, binPath: stagedBin, logFile, log });
    log(`[worker] smoke check OK ${summary}`);

    // Atomic publish: the final dir only ever appears complete.
    fs.writeFileSync(
      path.join(stageDir, 'build-info.json'),
      JSON.stringify(
        {
          mediasoupVersion: version,
          recipeHash: recipeHash(),
          builtAt: new Date().toISOString(),
          mesonVersion,
          smoke: summary,
        },
        null,
        2,
      ) + '\n',
    );
    try {
      fs.renameSync(stageDir, finalDir);
    } catch (error) {
      if (!isExecutableFile(binPath)) throw error; // lost a race: use the winner's binary
    }
    log(`[worker] mediasoup-worker ready in ${formatDuration(Date.now() - started)}: ${binPath}`);
    return binPath;
  } catch (error) {
    // Keep meson's own detailed log; the temp build dir is about to go away.
    const mesonLog = path.join(buildDir, 'meson-logs', 'meson-log.txt');
    if (fs.existsSync(mesonLog)) {
      const kept = path.join(logDir, `${key}.meson-log.txt`);
      fs.copyFileSync(mesonLog, kept);
      log(`[worker] meson's detailed log kept at ${kept}`);
    }
    throw error;
  } finally {
    fs.rmSync(tmpRoot, { recursive: true, force: true });
    fs.rmSync(lockPath, { force: true });
  }
}
