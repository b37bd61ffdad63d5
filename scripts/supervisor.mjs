// The children of `npm start` (nodes, the origin agent), kept running: a
// child that dies is started again after a backoff, so killing the origin
// agent or a relay shows the mesh ride it out instead of stopping it all.
// A child that keeps dying (a crash loop) is not spun: after `loopCount`
// exits within `loopWindowMs` it waits `loopPauseMs` between starts, and
// says so. Plain JavaScript (runs before anything is compiled into it).
import { fork } from 'node:child_process';
import { once } from 'node:events';

/**
 * @typedef {object} ChildSpec
 * @property {string} entry        absolute path of the script to fork
 * @property {Record<string, string | undefined>} env
 * @property {(child: import('node:child_process').ChildProcess, start: number) => void} [onStart]
 *           called on every start (1, 2, …) with the new process
 * @property {'inherit' | 'pipe'} [output]
 */

/**
 * @typedef {object} SupervisorOptions
 * @property {(line: string) => void} [log]
 * @property {number} [initialBackoffMs]  first restart delay (doubles per quick exit)
 * @property {number} [maxBackoffMs]
 * @property {number} [stableAfterMs]     a child that lived this long restarts at the first delay again
 * @property {number} [loopCount]
 * @property {number} [loopWindowMs]
 * @property {number} [loopPauseMs]
 */

export class Supervisor {
  /** @type {Required<SupervisorOptions>} */
  #o;
  /** @type {Map<string, { spec: ChildSpec, child?: import('node:child_process').ChildProcess, starts: number, exits: number[], delay: number, timer?: NodeJS.Timeout }>} */
  #children = new Map();
  #stopping = false;

  /** @param {SupervisorOptions} [options] */
  constructor(options = {}) {
    this.#o = {
      log: (line) => console.log(line),
      initialBackoffMs: 250,
      maxBackoffMs: 10_000,
      stableAfterMs: 30_000,
      loopCount: 5,
      loopWindowMs: 60_000,
      loopPauseMs: 30_000,
      ...options,
    };
  }

  /** Start `name` and keep it running. */
  add(/** @type {string} */ name, /** @type {ChildSpec} */ spec) {
    const entry = { spec, starts: 0, exits: [], delay: this.#o.initialBackoffMs };
    this.#children.set(name, entry);
    this.#start(name);
  }

  /** The current process of `name` (undefined while it waits to restart). */
  child(/** @type {string} */ name) {
    return this.#children.get(name)?.child;
  }

  #start(/** @type {string} */ name) {
    const entry = this.#children.get(name);
    if (!entry || this.#stopping) return;
    const startedAt = Date.now();
    const child = fork(entry.spec.entry, [], {
      execArgv: [],
      env: { ...process.env, ...entry.spec.env },
      stdio: ['ignore', entry.spec.output ?? 'inherit', entry.spec.output ?? 'inherit', 'ipc'],
    });
    entry.child = child;
    entry.starts++;
    this.#o.log(`[start] ${name} started (pid ${child.pid}${entry.starts > 1 ? `, start #${entry.starts}` : ''})`);
    entry.spec.onStart?.(child, entry.starts);
    child.once('exit', (code, signal) => {
      entry.child = undefined;
      if (this.#stopping) return;
      const lived = Date.now() - startedAt;
      const now = Date.now();
      entry.exits = [...entry.exits.filter((t) => now - t < this.#o.loopWindowMs), now];
      if (lived >= this.#o.stableAfterMs) entry.delay = this.#o.initialBackoffMs;
      let wait = entry.delay;
      entry.delay = Math.min(entry.delay * 2, this.#o.maxBackoffMs);
      const looping = entry.exits.length >= this.#o.loopCount;
      if (looping) wait = Math.max(wait, this.#o.loopPauseMs);
      this.#o.log(
        `[start] ${name} exited (${code ?? signal}) after ${(lived / 1000).toFixed(1)} s; ` +
          (looping ? `crash loop: ${entry.exits.length} exits in ${this.#o.loopWindowMs / 1000} s; ` : '') +
          `restart in ${wait} ms`,
      );
      entry.timer = setTimeout(() => this.#start(name), wait);
    });
  }

  /** Stop every child, last added first (SIGTERM, SIGKILL after `graceMs`); no restarts from now on. */
  async stop(graceMs = 5000) {
    this.#stopping = true;
    for (const [name, entry] of [...this.#children].reverse()) {
      clearTimeout(entry.timer);
      const child = entry.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        this.#o.log(`[start] ${name} did not stop within ${graceMs} ms: SIGKILL`);
        child.kill('SIGKILL');
      }, graceMs);
      await once(child, 'exit');
      clearTimeout(timer);
    }
  }
}
