/**
 * `matchmesh` entry point (bin/matchmesh.js imports its compiled dist/main.js).
 * Sets the exit code instead of calling process.exit() so stdout is flushed
 * when piped (`matchmesh token ... | pbcopy`).
 */
import { run } from './cli.ts';

// Ctrl-C ends `top` and `events --follow` cleanly (exit 0); any other command still running a
// moment later is ended the usual way (130).
const interrupt = new AbortController();
process.once('SIGINT', () => {
  interrupt.abort();
  setTimeout(() => process.exit(130), 1_000).unref();
});
process.exitCode = await run(process.argv.slice(2), {
  env: process.env,
  signal: interrupt.signal,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
