import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/** A child process of the project (node, origin agent) running its compiled JavaScript. */
export interface ManagedProcess {
  child: ChildProcess;
  /** Output so far (stdout + stderr), for failure messages. */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

/**
 * Fork `entry` (a compiled `dist/*.js`, as production runs it: no transpiler in the
 * process, so its start-up time, memory and CPU are the shipped ones). The set-up's
 * `tsc -b` keeps dist/ current (`npm test` runs it first).
 */
export function startProcess(entry: string, env: Record<string, string | undefined>): ManagedProcess {
  const file = path.join(REPO_ROOT, entry);
  if (!existsSync(file)) throw new Error(`${entry} is not built: run \`node scripts/setup.mjs\` (or \`npx tsc -b\`)`);
  const child = fork(file, [], {
    // Not the parent's flags (fork's default): a vitest worker's are no business of the child.
    execArgv: [],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    cwd: REPO_ROOT,
  });
  let out = '';
  const keep = (b: Buffer): void => {
    out += b.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
    if (process.env.MM_TEST_VERBOSE) process.stderr.write(b);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = once(child, 'exit');
  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return { child, output: () => out, stop: () => signal('SIGTERM'), kill: () => signal('SIGKILL') };
}

/** Wait for the first IPC message of a given type, or fail with the child's output. */
export async function waitForMessage<T extends { type: string }>(
  proc: ManagedProcess,
  type: string,
  timeoutMs = 60_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for "${type}" from child:\n${proc.output()}`));
    }, timeoutMs);
    const onMessage = (msg: unknown): void => {
      if (msg && typeof msg === 'object' && (msg as { type?: string }).type === type) {
        cleanup();
        resolve(msg as T);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`child exited (${code}) before "${type}":\n${proc.output()}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      proc.child.off('message', onMessage);
      proc.child.off('exit', onExit);
    };
    proc.child.on('message', onMessage);
    proc.child.on('exit', onExit);
  });
}
