#!/usr/bin/env node
// Launcher for the `matchmesh` CLI: imports the compiled src/main.ts (dist/main.js,
// built by the set-up's `tsc -b`) in this very process, so stdin/stdout, signals and
// the exit code are exactly the CLI's. Resolved from this file's location, so the CLI
// works from any working directory, also through a node_modules/.bin link.
const main = new URL('../dist/main.js', import.meta.url);
try {
  await import(main.href);
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(main.pathname)) {
    process.stderr.write(
      'matchmesh: the CLI is not built; run `node scripts/setup.mjs` (or `npx tsc -b`) in the matchmesh repo\n',
    );
    process.exit(1);
  }
  throw err;
}
