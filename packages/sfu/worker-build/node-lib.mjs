// Patches to mediasoup's Node library (node_modules/mediasoup/node/lib), applied by `npm run setup`
// after every install (`npm ci` brings the package back as published). Each patch in node-lib/ is a
// unified diff against the package root (`patch -p1`) that adds a line with "matchmesh:", the marker
// that it is applied: applying is idempotent, and a patch that no longer applies stops the set-up
// with the package version named (never half-applied: a dry run goes first).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PATCHES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node-lib');

/** The files a patch changes (its `+++ b/<path>` lines). */
function patchedFiles(patchText) {
  return [...patchText.matchAll(/^\+\+\+ b\/(\S+)/gm)].map((m) => m[1]);
}

/**
 * Applies node-lib/*.patch to `mediasoupDir` (in name order) where not applied yet.
 * Returns what it did per patch: 'applied' or 'already applied'.
 */
export function patchMediasoupNodeLib({ mediasoupDir }) {
  const version = JSON.parse(fs.readFileSync(path.join(mediasoupDir, 'package.json'), 'utf8')).version;
  const names = fs
    .readdirSync(PATCHES_DIR)
    .filter((f) => f.endsWith('.patch'))
    .sort();
  return names.map((name) => {
    const file = path.join(PATCHES_DIR, name);
    const files = patchedFiles(fs.readFileSync(file, 'utf8'));
    if (files.every((f) => fs.readFileSync(path.join(mediasoupDir, f), 'utf8').includes('matchmesh:'))) {
      return `${name}: already applied`;
    }
    const args = ['-p1', '--batch', '--forward', '--no-backup-if-mismatch', '-r', '-', '-d', mediasoupDir, '-i', file];
    for (const dry of [true, false]) {
      const res = spawnSync('patch', dry ? ['--dry-run', ...args] : args, { encoding: 'utf8' });
      if (res.status !== 0) {
        throw new Error(
          `worker-build/node-lib/${name} does not apply to mediasoup ${version}'s node/lib; ` +
            `update the patch for this version: ${res.stdout}${res.stderr}`,
        );
      }
    }
    return `${name}: applied`;
  });
}
