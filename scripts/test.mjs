#!/usr/bin/env node
// `npm test` after set-up: typecheck every workspace, then the whole vitest
// suite (unit, then end-to-end with real redis-server, mediasoup workers,
// ffmpeg and Chromium). Extra arguments go to vitest; test files under test/
// given alone run one at a time like the full suite.
// `--e2e [files]`: only the end-to-end part, lanes as in the full run.
// `--stress` (npm run test:stress): only the end-to-end files, with a CPU hog
// (stress-ng, one busy worker) running the whole time: the timing bounds must
// hold on a loaded machine too.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
for (const line of readFileSync(path.join(root, '.matchmesh', 'env'), 'utf8').split('\n')) {
  const [k, ...v] = line.split('=');
  if (k && v.length > 0) env[k] = v.join('=');
}

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const VITEST = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
const reports = mkdtempSync(path.join(os.tmpdir(), 'mm-test-'));
process.on('exit', () => rmSync(reports, { recursive: true, force: true }));
/** Test counts over every vitest run, for the closing line. */
const totals = { passed: 0, failed: 0, skipped: 0 };
const results = [];

/** Adds a vitest JSON report to the totals; returns its counts for the log line. */
function count(report, ok) {
  if (!existsSync(report)) {
    if (!ok) totals.failed += 1;
    return '';
  }
  const r = JSON.parse(readFileSync(report, 'utf8'));
  totals.passed += r.numPassedTests;
  // A suite that failed before its tests (a beforeAll) counts no failed test: count the file instead.
  totals.failed += r.numFailedTests + (ok || r.numFailedTests > 0 ? 0 : 1);
  totals.skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  return `, ${r.numPassedTests} passed, ${r.numFailedTests} failed`;
}

/** One vitest run; its JSON report adds to the totals. Returns true when it passed. */
function vitest(label, args) {
  const t = Date.now();
  const report = path.join(reports, `${results.length}.json`);
  const before = load();
  console.log(`[test] ${label} (load average ${before})`);
  // vitest's own entry with this node, not `npx vitest`: npx resolves the binary again for each of the ~40
  // runs (about half a second each).
  const res = spawnSync(
    process.execPath,
    [VITEST, 'run', ...args, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
    {
      stdio: 'inherit',
      cwd: root,
      env,
    },
  );
  const seconds = ((Date.now() - t) / 1000).toFixed(1);
  const ok = res.status === 0;
  const counts = count(report, ok);
  console.log(`[test] ${label}: ${ok ? 'ok' : 'FAILED'} in ${seconds} s${counts}; load average ${before} → ${load()}`);
  results.push({ label, ok, seconds, report });
  return ok;
}

function run(label, cmd, args) {
  const t = Date.now();
  console.log(`[test] ${label}`);
  const res = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env });
  console.log(`[test] ${label}: ${res.status === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  if (res.status !== 0) process.exit(res.status ?? 1);
}

/** End-to-end files one at a time, each in its own vitest process, so the load between them shows. */
function e2eFiles(files) {
  for (const file of files) vitest(`e2e ${path.relative(root, file)}`, ['--project', 'e2e', file]);
}

/**
 * A file whose header says `e2e lane: shared` asserts no timing bound (no freeze, latency or throughput
 * figure): it proves behaviour only, with generous waits. Those files run two at a time, each in its own
 * vitest process, before the others run alone on a quiet machine. Their waits are mostly on real time
 * (playlists filling, credentials expiring, processes starting), which is why a pair takes far less than
 * the two one after another.
 */
const SHARED_LANE = /^\s*(?:\/\/|\*)?\s*e2e lane: shared\b/m;
const isShared = (file) => SHARED_LANE.test(readFileSync(file, 'utf8').slice(0, 4000));

/** One vitest run without waiting: its output is kept and printed whole when it ends (two run at once). */
function vitestAsync(label, args) {
  return new Promise((resolve) => {
    const t = Date.now();
    const report = path.join(reports, `${results.length}-${path.basename(args.at(-1))}.json`);
    const before = load();
    const child = spawn(
      process.execPath,
      [VITEST, 'run', ...args, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
      { cwd: root, env: { ...env, FORCE_COLOR: env.FORCE_COLOR ?? '1' } },
    );
    const output = [];
    child.stdout.on('data', (d) => output.push(d));
    child.stderr.on('data', (d) => output.push(d));
    child.on('close', (code) => {
      const seconds = ((Date.now() - t) / 1000).toFixed(1);
      const ok = code === 0;
      const counts = count(report, ok);
      console.log(`[test] ${label} (shared lane; started at load average ${before})`);
      process.stdout.write(Buffer.concat(output));
      console.log(`[test] ${label}: ${ok ? 'ok' : 'FAILED'} in ${seconds} s${counts}; load average now ${load()}`);
      results.push({ label, ok, seconds, report });
      resolve(ok);
    });
  });
}

/** The shared-lane files two at a time, then every other file alone. */
async function e2eLanes(files) {
  const shared = files.filter(isShared);
  const alone = files.filter((f) => !isShared(f));
  const t = Date.now();
  const queue = [...shared];
  const lane = async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      await vitestAsync(`e2e ${path.relative(root, file)}`, ['--project', 'e2e', file]);
    }
  };
  await Promise.all([lane(), lane()]);
  console.log(
    `[test] shared lane: ${shared.length} files, two at a time, in ${((Date.now() - t) / 1000).toFixed(1)} s`,
  );
  e2eFiles(alone);
}

function allE2eFiles() {
  return readdirSync(path.join(root, 'test'), { recursive: true })
    .filter((f) => f.endsWith('.test.ts') && !f.includes('node_modules'))
    .map((f) => path.join(root, 'test', f))
    .sort();
}

/** stress-ng with one busy worker until this script exits (however it exits). */
function startCpuHog() {
  const argv = ['stress-ng', '--cpu', '1', '--timeout', '4h', '--quiet'];
  // setpriv (util-linux) makes the kernel kill the hog if this script dies without cleaning up.
  const cmd = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'SIGKILL', '--', ...argv] : argv;
  const hog = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit' });
  hog.on('error', (err) => {
    console.error(`[test] stress-ng could not start (${err.message}); run npm run setup`);
    process.exit(1);
  });
  const stop = () => {
    if (hog.exitCode === null) hog.kill('SIGTERM');
  };
  process.on('exit', stop);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      stop();
      process.exit(130);
    });
  }
  console.log(`[test] CPU hog: stress-ng --cpu 1 (pid ${hog.pid})`);
}

/**
 * Each failed test's name and the head of its message, from the run's JSON report: a CI log is often kept
 * only from its tail, and the file's own output (where vitest printed the failure) is far above.
 */
function failureLines(report) {
  if (!report || !existsSync(report)) return ['(no JSON report: the run ended before vitest wrote one)'];
  const lines = [];
  for (const file of JSON.parse(readFileSync(report, 'utf8')).testResults ?? []) {
    const failed = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    if (failed.length === 0 && file.status === 'failed')
      lines.push(`${path.basename(file.name)}: ${stripVTControlCharacters(file.message ?? '')}`);
    for (const a of failed) {
      lines.push(`✗ ${a.fullName}`);
      // The message, then only the stack frames in the project's own code.
      const message = stripVTControlCharacters((a.failureMessages ?? [])[0] ?? '')
        .split('\n')
        .filter((l) => !/^\s*at /.test(l) || (!l.includes('node_modules') && !l.includes('(<anonymous>)')));
      lines.push(...message.slice(0, 12).map((l) => `    ${l}`));
    }
  }
  return lines;
}

function finish() {
  const failed = results.filter((r) => !r.ok);
  console.log('[test] summary:');
  for (const r of results) console.log(`[test]   ${r.ok ? 'ok    ' : 'FAILED'} ${r.label} (${r.seconds} s)`);
  for (const r of failed) {
    console.log(`[test] why ${r.label} failed:`);
    for (const line of failureLines(r.report)) console.log(`[test]   ${line}`);
  }
  // The plain closing line a CI log parser reads.
  console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  process.exit(failed.length > 0 ? 1 : 0);
}

const extra = process.argv.slice(2);
if (extra[0] === '--stress') {
  startCpuHog();
  e2eFiles(extra.length > 1 ? extra.slice(1).map((f) => path.resolve(root, f)) : allE2eFiles());
  finish();
} else if (extra.length === 0) {
  run('typecheck (tsc -b)', 'node', [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
  // Layering (.dependency-cruiser.cjs): which package may import which.
  run('layering', 'node', [
    path.join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs'),
    ...['packages', 'apps', '--config', '.dependency-cruiser.cjs'],
  ]);
  // Unit tests first, then end-to-end alone: in one vitest run the two projects run side by side, and the
  // unit tests' real mediasoup workers then load the 2 cores under the e2e tests' freeze and latency bounds.
  // Three workers on the 2 cores: the unit files spend most of their time waiting on real redis-servers,
  // workers and timers, so a third worker cut the unit run from 144 s to 83–92 s (at load 11–14).
  if (vitest('vitest (unit)', ['--project', 'unit', '--maxWorkers=3'])) await e2eLanes(allE2eFiles());
  finish();
} else if (extra[0] === '--e2e') {
  // The end-to-end part of the suite as `npm test` runs it (shared lane, then the rest alone), for these files or all.
  await e2eLanes(extra.length > 1 ? extra.slice(1).map((f) => path.resolve(root, f)) : allE2eFiles());
  finish();
} else if (extra.every((a) => a.endsWith('.test.ts') && path.resolve(root, a).startsWith(path.join(root, 'test')))) {
  e2eFiles(extra.map((f) => path.resolve(root, f)));
  finish();
} else {
  vitest('vitest', extra);
  finish();
}
