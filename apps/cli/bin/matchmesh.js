#!/usr/bin/env node
// Launcher for the `matchmesh` CLI: registers tsx's ESM loader in this very
// process and imports src/main.ts. In-process (rather than spawning a second
// node) keeps stdin/stdout, signals and the exit code exactly as they are.
// tsx is resolved from this file's location (the repo's node_modules), so the
// CLI works from any working directory, also through a node_modules/.bin link.
let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch (err) {
  process.stderr.write(
    `matchmesh: cannot load tsx (${err?.code ?? err}); run \`npm install\` in the matchmesh repo\n`,
  );
  process.exit(1);
}
register();
await import(new URL('../src/main.ts', import.meta.url).href);
