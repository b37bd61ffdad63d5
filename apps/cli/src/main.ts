/**
 * `matchmesh` entry point (bin/matchmesh.js imports its compiled dist/main.js).
 * Sets the exit code instead of calling process.exit() so stdout is flushed
 * when piped (`matchmesh token ... | pbcopy`).
 */
import { run } from './cli.ts';

process.exitCode = await run(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
