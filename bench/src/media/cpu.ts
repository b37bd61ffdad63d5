// CPU accounting from /proc/<pid>/stat (utime + stime, in clock ticks), the
// same figure `top` shows; used for the sink and node processes. The relay
// worker's own figure comes from worker.getResourceUsage() (getrusage).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" of the command name; utime and stime are 14th and 15th overall.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

export function procRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)/.exec(status);
  return m ? Number(m[1]) / 1024 : 0;
}

/** Pin a process (all its threads) to one CPU with taskset; returns false when that is not possible. */
export function pin(pid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** CPU time used between two samples as a fraction of one core. */
export class CpuMeter {
  #at = 0;
  #sec = 0;
  constructor(private readonly read: () => number | Promise<number>) {}

  async start(): Promise<void> {
    this.#sec = await this.read();
    this.#at = performance.now();
  }

  /** Fraction of one core since start(). */
  async stop(): Promise<number> {
    const sec = await this.read();
    const elapsed = (performance.now() - this.#at) / 1000;
    return elapsed > 0 ? (sec - this.#sec) / elapsed : 0;
  }
}
